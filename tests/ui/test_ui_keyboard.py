"""The web UI without a mouse (issue 17): a skip link, the jobs table's keys, focus on the new
page's heading after a navigation, the shortcuts dialog and the `g` shortcuts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.ui.support import ADMIN_TOKEN, KjsUi, expect, sign_in

pytestmark = pytest.mark.k8s


def _endless(kjs_ui: KjsUi, namespace: str, name: str, path: Path) -> str:
    return kjs_ui.submit(namespace, name, f"while [ ! -e {path} ]; do sleep 0.1; done")


def _row(page: Any, job_id: str) -> Any:
    return page.locator(f"[data-testid=jobs-table] tr[data-job-id='{job_id}']")


def test_cancel_a_running_job_with_the_keyboard_only(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    older = _endless(kjs_ui, k8s_namespace, "older", tmp_path / "never")
    job_id = _endless(kjs_ui, k8s_namespace, "endless", tmp_path / "never")
    kjs_ui.wait_for_state(job_id, "running")
    page.on("dialog", lambda dialog: dialog.accept())  # the "Cancel job …?" confirm
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    expect(_row(page, older)).to_be_visible()

    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(_row(page, older)).to_be_focused()
    page.keyboard.press("k")  # newest first: the running job is the first row
    expect(_row(page, job_id)).to_be_focused()
    expect(_row(page, job_id).locator("td[data-col=state]")).to_have_text("running")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/ui/jobs/{job_id}$"))
    heading = page.locator("main h1")
    expect(heading).to_have_text("endless")
    expect(heading).to_be_focused()
    detail = page.locator("[data-testid=job-detail]")
    expect(detail).to_have_attribute("data-state", "running")
    page.keyboard.press("Tab")
    expect(detail.locator("button[data-action=cancel]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(detail).to_have_attribute("data-state", "cancelled", timeout=30_000)
    assert kjs_ui.state(job_id) == "cancelled"
    assert kjs_ui.state(older) == "running"


def test_select_with_x_and_clear_with_escape(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    job_id = _endless(kjs_ui, k8s_namespace, "endless", tmp_path / "never")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    box = _row(page, job_id).locator("input[data-select]")
    cancel_selected = page.locator("button[data-action=cancel-selected]")
    expect(box).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(box).to_be_checked()
    expect(cancel_selected).to_be_enabled()
    expect(cancel_selected).to_have_text("Cancel selected (1)")
    page.keyboard.press("Escape")
    expect(box).not_to_be_checked()
    expect(cancel_selected).to_be_disabled()


def test_shortcuts_help_go_to_and_the_filter_key(kjs_ui: KjsUi, page: Any) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    expect(page.locator("[data-testid=jobs-table]")).to_be_visible()
    opener = page.locator("button[data-action=shortcuts]")
    opener.focus()

    help_dialog = page.locator("dialog#shortcuts")
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Go to cron jobs")
    page.keyboard.press("g")  # a shortcut does nothing while the dialog is open
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(r"/ui/jobs$"))
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(opener).to_be_focused()  # focus goes back where it was

    page.keyboard.press("g")
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(r"/ui/crons$"))
    expect(page.locator("main h1")).to_have_text("Cron jobs")
    expect(page.locator("main h1")).to_be_focused()
    page.keyboard.press("g")
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(r"/ui/clusters$"))
    expect(page.locator("main h1")).to_be_focused()

    # "/" goes to the jobs filter; keys typed there are text, not shortcuts.
    page.keyboard.press("/")
    prefix = page.locator("[data-testid=job-filters] [name=name_prefix]")
    expect(prefix).to_be_focused()
    page.keyboard.type("gc?")
    expect(prefix).to_have_value("gc?")
    expect(page).to_have_url(re.compile(r"/ui/jobs(\?.*)?$"))
    expect(help_dialog).to_be_hidden()

    page.locator("main h1").focus()  # out of the field: shortcuts are back
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(r"/ui/submit$"))
