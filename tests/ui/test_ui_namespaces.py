"""A token limited to namespaces in the web UI (issue 17): it sees only its namespaces' jobs,
in the list and in live updates, picks its namespaces in the filter, and a job of another
namespace opened by its URL says so plainly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.ui.support import (
    TEAM_A,
    TEAM_A_TOKEN,
    KjsUi,
    Tab,
    expect,
    kjs_up_with_tokens,
    mark_loaded,
    sign_in,
    still_loaded,
)

pytestmark = pytest.mark.k8s


@pytest.fixture
def team_ui(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[KjsUi]:
    yield from kjs_up_with_tokens(tmp_path / "kjs", k8s_clusters[0], [TEAM_A])


def _rows(page: Any, job_id: str) -> Any:
    return page.locator(f"[data-testid=jobs-table] tr[data-job-id='{job_id}']")


def test_a_team_token_sees_only_its_namespaces_jobs_listed_and_live(
    team_ui: KjsUi, page: Any
) -> None:
    # The jobs need not run: what matters is who sees them.
    ours = team_ui.submit("team-a", "ours", "true")
    theirs = team_ui.submit("team-b", "theirs", "true")
    sign_in(page, TEAM_A_TOKEN)
    page.goto(team_ui.url + "/ui/jobs")
    expect(_rows(page, ours)).to_be_visible()
    expect(_rows(page, theirs)).to_have_count(0)
    mark_loaded(page)

    # Live: another team's new job never shows; ours, submitted after it, does.
    theirs_later = team_ui.submit("team-b", "theirs-later", "true")
    ours_later = team_ui.submit("team-a", "ours-later", "true")
    expect(_rows(page, ours_later)).to_be_visible()
    expect(_rows(page, theirs_later)).to_have_count(0)
    expect(page.locator("[data-testid=jobs-table] td[data-col=namespace]")).to_have_text(
        ["team-a", "team-a"]
    )
    assert still_loaded(page)


def test_the_namespace_filter_offers_the_tokens_namespaces(team_ui: KjsUi, page: Any) -> None:
    ours = team_ui.submit("team-a", "ours", "true")
    sign_in(page, TEAM_A_TOKEN)
    page.goto(team_ui.url + "/ui/jobs")
    choice = page.locator("[data-testid=job-filters] select[name=namespace]")
    expect(choice.locator("option")).to_have_text(["All my namespaces", "team-a"])
    choice.select_option("team-a")
    expect(page).to_have_url(team_ui.url + "/ui/jobs?namespace=team-a")
    expect(_rows(page, ours)).to_be_visible()


def test_an_all_namespace_token_types_any_namespace(kjs_ui: KjsUi, page: Any) -> None:
    from tests.ui.support import ADMIN_TOKEN

    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    expect(page.locator("[data-testid=job-filters] input[name=namespace]")).to_be_editable()


def test_the_submit_form_starts_in_the_tokens_first_namespace(team_ui: KjsUi, page: Any) -> None:
    sign_in(page, TEAM_A_TOKEN)
    page.goto(team_ui.url + "/ui/submit")
    namespace = page.locator("form[data-testid=submit-form] [name=namespace]")
    expect(namespace).to_have_value("team-a", timeout=5_000)


def test_another_namespaces_job_by_url_says_not_found_or_not_yours(
    team_ui: KjsUi, tab: Tab
) -> None:
    page = tab.page
    tab.allow_console("status of 403")  # Chromium logs the API's refusal as a failed resource
    theirs = team_ui.submit("team-b", "theirs", "true")
    sign_in(page, TEAM_A_TOKEN)
    page.goto(team_ui.url + f"/ui/jobs/{theirs}")
    message = page.locator("[data-testid=job-not-found]")
    expect(message).to_be_visible()
    expect(message.locator("h1")).to_have_text("Job not found")
    expect(message).to_contain_text("a namespace your token cannot see")
    expect(page.locator("[data-testid=job-detail]")).to_have_count(0)
    message.get_by_role("link", name="Back to the jobs").click()
    expect(page).to_have_url(team_ui.url + "/ui/jobs")
