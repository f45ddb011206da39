"""Priorities in the web UI (issue 19) on `kjs up` with a test cluster: a job's page shows its
priority and where it comes from, the jobs table has a Priority column (hidden on a phone, like
Queue), and the submit form's "More options" picks a priority class from the server's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.ui.support import ADMIN_TOKEN, KjsUi, expect, kjs_up_with_tokens, sign_in

pytestmark = pytest.mark.k8s

CLASSES = {"high": {"value": 1000}, "low": {"value": -10, "preemptible": True}}


@pytest.fixture
def kjs_ui(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[KjsUi]:
    scheduling = {"priority_classes": CLASSES, "queues": {"gpu": {"priority_class": "high"}}}
    yield from kjs_up_with_tokens(tmp_path / "kjs", k8s_clusters[0], scheduling=scheduling)


def _far_ahead() -> str:
    """A start time that keeps a job pending for the whole test."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_job_s_priority_is_shown_on_its_page_and_in_the_table(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    later = _far_ahead()
    classed = kjs_ui.submit(k8s_namespace, "classed", "true", priority_class="low", run_at=later)
    queued = kjs_ui.submit(k8s_namespace, "queued", "true", queue="gpu", run_at=later)
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{classed}")
    expect(page.locator("[data-testid=job-priority]")).to_have_text("-10 (class low)")
    page.goto(kjs_ui.url + f"/ui/jobs/{queued}")
    expect(page.locator("[data-testid=job-priority]")).to_have_text("1000 (its queue's class)")

    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
    table = page.locator("[data-testid=jobs-table]")
    expect(table.locator("th", has_text="Priority")).to_be_visible()
    cell = table.locator(f"tr[data-job-id='{classed}'] td[data-col=priority]")
    expect(cell).to_have_text("-10")
    expect(cell).to_have_attribute("title", "-10 (class low)")
    expect(table.locator(f"tr[data-job-id='{queued}'] td[data-col=priority]")).to_have_text("1000")


def test_the_submit_form_picks_a_priority_class(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit")
    form = page.locator("form[data-testid=submit-form]")
    form.locator("[name=name]").fill("picked")
    form.locator("[name=namespace]").fill(k8s_namespace)
    form.locator("[name=image]").fill("busybox")
    form.locator("summary", has_text="More options").click()
    select = form.locator("[name=priority_class]")
    expect(select.locator("option")).to_have_text(
        ["Its queue's (or none)", "high (1000)", "low (-10)"]
    )
    select.select_option("low")
    form.locator("[name=run_at]").fill(_far_ahead())
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/ui/jobs/[^/?]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert (job["priority_class"], job["priority"]) == ("low", -10)
    expect(page.locator("[data-testid=job-priority]")).to_have_text("-10 (class low)")

    # Editing keeps the class picked, and "its queue's" clears it.
    page.goto(kjs_ui.url + f"/ui/submit?edit={job_id}")
    form = page.locator("form[data-testid=submit-form]")
    expect(form.locator("[name=priority_class]")).to_have_value("low")
    form.locator("[name=priority_class]").select_option("")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/ui/jobs/{job_id}$"))
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert (job["priority_class"], job["priority"]) == (None, 0)
