"""The cron job and cluster pages stay current while open (issue 17): a run started elsewhere
shows up and reaches its final state, a cordon done elsewhere shows, all without a reload and
without taking the keyboard focus away from where the user left it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.ui.support import ADMIN_TOKEN, KjsUi, expect, mark_loaded, sign_in, still_loaded

pytestmark = pytest.mark.k8s


def _cron_waiting_for(kjs_ui: KjsUi, namespace: str, path: Path) -> str:
    """A cron job that fires only at 03:00 (so only a trigger runs it), whose runs end once the
    test creates `path`."""
    body = {
        "name": "nightly",
        "namespace": namespace,
        "image": "busybox",
        "command": ["sh", "-c", f"while [ ! -e {path} ]; do sleep 0.1; done"],
        "schedule": "0 3 * * *",
    }
    created = kjs_ui.api("POST", "/api/v1/cronjobs", json=body)
    assert created.status_code == 201, created.text
    cron_id: str = created.json()["id"]
    return cron_id


def _trigger(kjs_ui: KjsUi, cron_id: str) -> str:
    run = kjs_ui.api("POST", f"/api/v1/cronjobs/{cron_id}/trigger")
    assert run.is_success, run.text
    run_id: str = run.json()["id"]
    return run_id


def test_the_cron_list_shows_a_triggered_run_start_and_finish_without_a_reload(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    cron_id = _cron_waiting_for(kjs_ui, k8s_namespace, tmp_path / "done")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/crons")
    row = page.locator(f"[data-testid=crons-table] tr[data-cron-id='{cron_id}']")
    last = row.locator("td[data-col=last_run] .last-state")
    expect(last).to_have_text("—")
    expect(row.locator("td[data-col=runs]")).to_have_text("0/0")
    mark_loaded(page)

    run_id = _trigger(kjs_ui, cron_id)
    kjs_ui.wait_for_state(run_id, "running")
    expect(last).to_have_text("running", timeout=30_000)
    expect(last.locator("a")).to_have_attribute("href", f"/ui/jobs/{run_id}")
    (tmp_path / "done").touch()
    kjs_ui.wait_for_state(run_id, "succeeded")
    expect(last).to_have_text("succeeded", timeout=30_000)
    expect(last).to_have_class(re.compile(r"\bstate-succeeded\b"))
    expect(row.locator("td[data-col=runs]")).to_have_text("1/1")
    assert still_loaded(page)


def test_a_cron_jobs_page_lists_a_new_run_live_until_it_ends(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    cron_id = _cron_waiting_for(kjs_ui, k8s_namespace, tmp_path / "done")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/crons/{cron_id}")
    runs = page.locator("[data-testid=cron-runs-table] tbody")
    expect(runs).to_contain_text("No runs yet.")
    mark_loaded(page)

    run_id = _trigger(kjs_ui, cron_id)
    state = runs.locator(f"tr[data-job-id='{run_id}'] td[data-col=state]")
    expect(state).to_have_text(re.compile(r"^(pending|dispatched|created|running)$"))
    expect(state).to_have_text("running", timeout=30_000)
    (tmp_path / "done").touch()
    expect(state).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("[data-testid=run-counts]")).to_have_text("1 succeeded of 1")
    expect(runs.locator("tr")).to_have_count(1)  # the "No runs yet." row is gone
    assert still_loaded(page)


def test_the_clusters_page_shows_a_cordon_done_elsewhere_and_keeps_the_focus(
    kjs_ui: KjsUi, page: Any
) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/clusters")
    row = page.locator(f"[data-testid=clusters-table] tr[data-cluster-id='{kjs_ui.cluster_id}']")
    expect(row.locator("td[data-col=state]")).to_have_text("ready")
    button = row.locator("button[data-action]")
    expect(button).to_have_attribute("data-action", "cordon")
    button.focus()
    mark_loaded(page)

    cordoned = kjs_ui.api("POST", f"/api/v1/clusters/{kjs_ui.cluster_id}/cordon")
    assert cordoned.is_success, cordoned.text
    expect(row.locator("td[data-col=state]")).to_have_text("cordoned", timeout=30_000)
    expect(button).to_have_attribute("data-action", "uncordon")
    expect(button).to_have_text("Uncordon")
    expect(button).to_be_focused()  # the row was updated in place, not redrawn

    uncordoned = kjs_ui.api("POST", f"/api/v1/clusters/{kjs_ui.cluster_id}/uncordon")
    assert uncordoned.is_success, uncordoned.text
    expect(row.locator("td[data-col=state]")).to_have_text("ready", timeout=30_000)
    assert still_loaded(page)


def test_a_hidden_tab_stops_asking_and_catches_up_when_shown(kjs_ui: KjsUi, page: Any) -> None:
    """No refresh while nobody looks; one at once when the tab is visible again."""
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/clusters")
    state = page.locator(
        f"[data-testid=clusters-table] tr[data-cluster-id='{kjs_ui.cluster_id}'] td[data-col=state]"
    )
    expect(state).to_have_text("ready")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/clusters" in r.url else None)
    _set_visibility(page, "hidden")
    kjs_ui.api("POST", f"/api/v1/clusters/{kjs_ui.cluster_id}/cordon")
    page.wait_for_timeout(9_000)  # two refresh periods: a visible tab would have asked twice
    assert asked == []
    expect(state).to_have_text("ready")

    _set_visibility(page, "visible")
    expect(state).to_have_text("cordoned", timeout=5_000)


def _set_visibility(page: Any, state: str) -> None:
    """What the browser does when the tab is put in the background or brought back."""
    page.evaluate(
        """(state) => {
            const value = { value: state, configurable: true };
            Object.defineProperty(document, "visibilityState", value);
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )
