"""The web UI end to end (issue 17): a user in Chromium on `kjs up` with a test cluster submits,
follows, cancels and filters jobs, and sees only what their token allows.

Every assertion is Playwright's auto-waiting `expect`, so a test waits as long as the page needs
and no longer. "Without a reload" is checked with a mark on `window` that a reload would wipe.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.live import kjs_up_app, live_server
from tests.ui.support import (
    ADMIN_TOKEN,
    PHONE,
    READ_TOKEN,
    KjsUi,
    Tab,
    expect,
    mark_loaded,
    sign_in,
    still_loaded,
)

pytestmark = pytest.mark.k8s


def _wait_for_file(path: Path) -> str:
    """A shell loop that ends once the test creates `path` (no timing to guess)."""
    return f"while [ ! -e {path} ]; do sleep 0.1; done"


def _fill_command(page: Any, argv: list[str]) -> None:
    """The submit form's command: a textarea takes one argument a line, an input a shell line."""
    field = page.locator("[data-testid=submit-form] [name=command]")
    if field.evaluate("e => e.tagName") == "TEXTAREA":
        field.fill("\n".join(argv))
    else:
        field.fill(" ".join(f"'{a}'" if " " in a else a for a in argv))


def _detail(page: Any) -> Any:
    return page.locator("[data-testid=job-detail]")


def _row(page: Any, job_id: str) -> Any:
    return page.locator(f"[data-testid=jobs-table] tr[data-job-id='{job_id}']")


def _state_cell(page: Any, job_id: str) -> Any:
    return _row(page, job_id).locator("td[data-col=state]")


def test_submit_from_the_form_and_see_it_succeed_without_a_reload(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit")
    form = page.locator("form[data-testid=submit-form]")
    form.locator("[name=name]").fill("from-the-form")
    form.locator("[name=namespace]").fill(k8s_namespace)
    form.locator("[name=image]").fill("busybox")
    _fill_command(page, ["sh", "-c", "sleep 1; echo done"])
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/ui/jobs/[^/?]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    mark_loaded(page)
    detail = _detail(page)
    expect(detail).to_have_attribute("data-job-id", job_id)
    expect(detail).to_have_attribute("data-state", "succeeded", timeout=90_000)
    expect(page.locator("[data-testid=job-events] li[data-state=succeeded]")).to_have_count(1)
    assert still_loaded(page), "the page reloaded to show the new state"
    assert kjs_ui.state(job_id) == "succeeded"
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert (job["name"], job["namespace"]) == ("from-the-form", k8s_namespace)


def test_the_log_follows_while_the_job_runs(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    job_id = kjs_ui.submit(
        k8s_namespace,
        "chatty",
        f"echo first-line; {_wait_for_file(go_on)}; echo second-line",
        log_collect="always",
    )
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{job_id}")
    follow = page.locator("[data-testid=job-log] input[name=follow]")
    expect(follow).to_be_visible()
    if not follow.is_checked():
        follow.check()
    log = page.locator("[data-testid=log]")
    expect(log).to_contain_text("first-line", timeout=60_000)
    # The line came while the job runs (it waits for the file), not after.
    expect(_detail(page)).to_have_attribute("data-state", "running")
    assert kjs_ui.state(job_id) == "running"
    mark_loaded(page)
    go_on.touch()
    expect(log).to_contain_text("second-line", timeout=60_000)
    expect(_detail(page)).to_have_attribute("data-state", "succeeded", timeout=60_000)
    assert still_loaded(page)
    download = page.locator("[data-testid=job-log] a[data-action=download-log]")
    expect(download).to_be_visible()


def test_cancel_a_running_job_from_its_page(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    job_id = kjs_ui.submit(k8s_namespace, "endless", _wait_for_file(tmp_path / "never"))
    page.on("dialog", lambda dialog: dialog.accept())  # a confirm(), if the page asks
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{job_id}")
    detail = _detail(page)
    kjs_ui.wait_for_state(job_id, "running")
    expect(detail).to_have_attribute("data-state", "running")  # the page follows the job
    detail.locator("button[data-action=cancel]").click()
    expect(detail).to_have_attribute("data-state", "cancelled", timeout=30_000)
    assert kjs_ui.state(job_id) == "cancelled"


def test_cancel_selected_jobs_from_the_list(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    never = _wait_for_file(tmp_path / "never")
    first = kjs_ui.submit(k8s_namespace, "first", never)
    second = kjs_ui.submit(k8s_namespace, "second", never)
    kept = kjs_ui.submit(k8s_namespace, "kept", never)
    for job_id in (first, second, kept):
        kjs_ui.wait_for_state(job_id, "running")
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
    for job_id in (first, second):
        expect(_state_cell(page, job_id)).to_have_text("running")
        page.locator(f"input[type=checkbox][data-select='{job_id}']").check()
    page.locator("button[data-action=cancel-selected]").click()
    for job_id in (first, second):
        expect(_state_cell(page, job_id)).to_have_text("cancelled", timeout=30_000)
        expect(_state_cell(page, job_id)).to_have_class(re.compile(r"\bstate-cancelled\b"))
    expect(_state_cell(page, kept)).to_have_text("running")
    assert kjs_ui.state(kept) == "running"


def test_a_bad_name_shows_the_servers_error_at_the_field(
    kjs_ui: KjsUi, tab: Tab, k8s_namespace: str
) -> None:
    page = tab.page
    tab.allow_console("status of 400")  # Chromium logs the refused POST
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit")
    form = page.locator("form[data-testid=submit-form]")
    form.locator("[name=name]").fill("Hello!")
    form.locator("[name=namespace]").fill(k8s_namespace)
    form.locator("[name=image]").fill("busybox")
    _fill_command(page, ["true"])
    form.locator("button[type=submit]").click()
    error = page.locator("[data-error-for=name]")
    expect(error).to_be_visible()
    expect(error).not_to_have_text("")
    expect(page).to_have_url(re.compile(r"/ui/submit"))
    jobs = kjs_ui.api("GET", "/api/v1/jobs", params={"namespace": k8s_namespace}).json()
    assert jobs["items"] == []


def test_a_read_only_token_sees_the_jobs_but_no_actions(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    job_id = kjs_ui.submit(k8s_namespace, "visible", "true")
    kjs_ui.wait_for_state(job_id, "succeeded")
    sign_in(page, READ_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    expect(_state_cell(page, job_id)).to_have_text("succeeded")
    expect(page.locator("[data-testid=principal]")).to_contain_text("reader")
    # Hidden, not merely disabled: a read token cannot act.
    expect(page.locator("a[href='/ui/submit']:visible")).to_have_count(0)
    expect(page.locator("button[data-action=cancel-selected]:visible")).to_have_count(0)
    expect(page.locator("input[type=checkbox][data-select]")).to_have_count(0)
    _row(page, job_id).locator("td[data-col=name] a").click()
    detail = _detail(page)
    expect(detail).to_have_attribute("data-state", "succeeded")
    for action in ("cancel", "rerun", "edit"):
        expect(page.locator(f"button[data-action={action}]:visible")).to_have_count(0)
    page.goto(kjs_ui.url + "/ui/clusters")
    expect(page.locator(f"tr[data-cluster-id='{kjs_ui.cluster_id}']")).to_be_visible()
    for action in ("cordon", "uncordon"):
        expect(page.locator(f"button[data-action={action}]:visible")).to_have_count(0)


def test_filter_by_state_through_the_url(kjs_ui: KjsUi, page: Any, k8s_namespace: str) -> None:
    passed = kjs_ui.submit(k8s_namespace, "passes", "true")
    broke = kjs_ui.submit(k8s_namespace, "breaks", "exit 3")
    kjs_ui.wait_for_state(passed, "succeeded")
    kjs_ui.wait_for_state(broke, "failed")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs?state=failed")
    rows = page.locator("[data-testid=jobs-table] tr[data-job-id]")
    expect(rows).to_have_count(1)
    expect(_state_cell(page, broke)).to_have_text("failed")
    expect(_state_cell(page, broke)).to_have_class(re.compile(r"\bstate-failed\b"))
    filters = page.locator("[data-testid=job-filters]")
    expect(filters.locator("select[name=state]")).to_have_value("failed")

    filters.locator("select[name=state]").select_option("succeeded")
    expect(page).to_have_url(re.compile(r"[?&]state=succeeded(&|$)"))
    expect(rows).to_have_count(1)
    expect(_state_cell(page, passed)).to_have_text("succeeded")
    # The URL is the view: opening it afresh shows the same.
    page.goto(page.url)
    expect(filters.locator("select[name=state]")).to_have_value("succeeded")
    expect(rows).to_have_count(1)
    expect(_row(page, passed)).to_be_visible()


def test_a_job_submitted_elsewhere_appears_and_changes_state_live(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/jobs")
    expect(page.locator("[data-testid=jobs-table]")).to_be_visible()
    mark_loaded(page)
    go_on = tmp_path / "go-on"
    job_id = kjs_ui.submit(k8s_namespace, "elsewhere", _wait_for_file(go_on))
    expect(_state_cell(page, job_id)).to_have_text("running", timeout=60_000)
    expect(_row(page, job_id).locator("td[data-col=name]")).to_contain_text("elsewhere")
    go_on.touch()
    expect(_state_cell(page, job_id)).to_have_text("succeeded", timeout=60_000)
    expect(_state_cell(page, job_id)).to_have_class(re.compile(r"\bstate-succeeded\b"))
    assert still_loaded(page), "the page reloaded to show the job"


def test_sign_in_and_out_with_a_token(kjs_ui: KjsUi, tab: Tab) -> None:
    page = tab.page
    tab.allow_console("status of 401")  # the wrong token, and the first call without one
    page.goto(kjs_ui.url + "/ui")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    form = page.locator("form[data-testid=signin]")
    form.locator("input[name=token]").fill("not-a-token")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    form.locator("input[name=token]").fill(ADMIN_TOKEN)
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-testid=jobs-table]")).to_be_visible()
    expect(page.locator("[data-testid=principal]")).to_contain_text("admin")
    assert page.evaluate("sessionStorage.getItem('kjs.token')") == ADMIN_TOKEN
    assert page.context.cookies() == []  # the token lives in the tab, never in a cookie
    page.locator("button[data-action=signout]").click()
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    assert page.evaluate("sessionStorage.getItem('kjs.token')") is None


def test_ui_pages_carry_a_strict_content_security_policy(kjs_ui: KjsUi, page: Any) -> None:
    sign_in(page, ADMIN_TOKEN)
    for path in ("/ui/jobs", "/ui/crons", "/ui/clusters", "/ui/submit", "/ui/signin"):
        response = page.goto(kjs_ui.url + path)
        assert response is not None and response.status == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
        expect(page.locator("main")).not_to_contain_text("Loading…")


def test_open_mode_needs_no_sign_in(k8s_clusters: list[Cluster], page: Any, tmp_path: Path) -> None:
    """`kjs up` on loopback with no token configured: the page works as the anonymous admin."""
    cluster = k8s_clusters[0]
    with live_server(kjs_up_app(tmp_path / "kjs", cluster.id, cluster.kubeconfig)) as live:
        page.goto(live.url + "/ui")
        expect(page).to_have_url(re.compile(r"/ui/jobs$"))
        expect(page.locator("[data-testid=jobs-table]")).to_be_visible()
        expect(page.locator("a[href='/ui/submit']:visible").first).to_be_visible()


def _waiting_jobs(kjs_ui: KjsUi, namespace: str, names: list[str]) -> list[str]:
    """Jobs that stay `pending` (they run tomorrow): a list to page and filter, with no pods."""
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    return [kjs_ui.submit(namespace, name, "true", run_at=tomorrow) for name in names]


def test_page_through_the_jobs(kjs_ui: KjsUi, page: Any, k8s_namespace: str) -> None:
    submitted = _waiting_jobs(kjs_ui, k8s_namespace, [f"batch-{i:03d}" for i in range(120)])
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
    rows = page.locator("[data-testid=jobs-table] tr[data-job-id]")
    following = page.locator("button[data-action=next-page]")
    pages: list[list[str]] = []
    while True:
        expect(rows.first).to_be_visible()
        pages.append(rows.evaluate_all("rows => rows.map(r => r.dataset.jobId)"))
        if sum(map(len, pages)) >= len(submitted) or not following.is_enabled():
            break
        following.click()
        expect(rows.first).not_to_have_attribute("data-job-id", pages[-1][0])
    seen = [job_id for shown in pages for job_id in shown]
    # Every job once, newest first (the default sort), over more than one page.
    assert len(pages) > 1 and seen == submitted[::-1]
    page.locator("button[data-action=prev-page]").click()
    expect(rows.first).to_have_attribute("data-job-id", pages[-2][0])


def test_filter_by_namespace_and_name_prefix_through_the_url(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    wanted, other = _waiting_jobs(kjs_ui, k8s_namespace, ["ingest-eu", "report-eu"])
    elsewhere = kjs_ui.submit(
        "default",
        "ingest-us",
        "true",
        run_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
    )
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}&name_prefix=ingest")
    rows = page.locator("[data-testid=jobs-table] tr[data-job-id]")
    expect(rows).to_have_count(1)
    expect(_row(page, wanted)).to_be_visible()
    filters = page.locator("[data-testid=job-filters]")
    expect(filters.locator("[name=namespace]")).to_have_value(k8s_namespace)
    expect(filters.locator("[name=name_prefix]")).to_have_value("ingest")
    filters.locator("[name=namespace]").fill("")
    filters.locator("[name=namespace]").press("Enter")
    expect(page).not_to_have_url(re.compile(r"[?&]namespace="))
    expect(rows).to_have_count(2)
    expect(_row(page, elsewhere)).to_be_visible()
    expect(_row(page, other)).to_have_count(0)


def test_every_control_has_a_label(kjs_ui: KjsUi, page: Any) -> None:
    """Screen readers and keyboard users: each visible control has an accessible name."""
    sign_in(page, ADMIN_TOKEN)
    unlabelled = """() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => e.offsetParent !== null && e.type !== 'hidden')
        .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label')
                       || e.getAttribute('aria-labelledby') || e.getAttribute('title')
                       || (e.tagName === 'BUTTON' && e.textContent.trim())))
        .map(e => e.outerHTML.slice(0, 120))"""
    for path, ready in (
        ("/ui/jobs", "[data-testid=job-filters]"),
        ("/ui/submit", "form[data-testid=submit-form]"),
        ("/ui/crons", "[data-testid=crons-table]"),
        ("/ui/clusters", "[data-testid=clusters-table]"),
    ):
        page.goto(kjs_ui.url + path)
        expect(page.locator(ready)).to_be_visible()
        assert page.evaluate(unlabelled) == [], path


def test_a_token_the_server_refuses_leads_to_sign_in(kjs_ui: KjsUi, tab: Tab) -> None:
    page = tab.page
    tab.allow_console("status of 401")
    sign_in(page, "revoked-token")
    page.goto(kjs_ui.url + "/ui/clusters")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    expect(page.locator("form[data-testid=signin] input[name=token]")).to_be_visible()


def test_a_prefix_with_a_filter_no_sort_serves_says_so_by_the_filters(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    """A name prefix lists by name, which cannot also filter by state: the page says so rather
    than showing an empty table, and asks the API nothing it would refuse."""
    _waiting_jobs(kjs_ui, k8s_namespace, ["ingest-eu"])
    refused: list[str] = []
    page.on("response", lambda r: r.status == 400 and refused.append(r.url))
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}&name_prefix=ingest&state=pending")
    message = page.locator("[data-testid=job-filters] [data-error-for=_form]")
    expect(message).to_contain_text("state")
    expect(page.locator("[data-testid=jobs-table] tr[data-job-id]")).to_have_count(0)
    # The sort offers only what the prefix allows, and clearing the state lists the job.
    filters = page.locator("[data-testid=job-filters]")
    filters.locator("[name=state]").select_option("")
    expect(page.locator("[data-testid=jobs-table] tr[data-job-id]")).to_have_count(1)
    expect(filters.locator("[name=sort]")).to_have_value("name")
    expect(message).to_be_hidden()
    assert refused == []


def test_exit_codes_read_pod_container_and_code(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    job_id = kjs_ui.submit(k8s_namespace, "exits-three", "exit 3")
    kjs_ui.wait_for_state(job_id, "failed")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{job_id}")
    codes = page.locator("[data-testid=job-detail] [data-testid=exit-codes] li")
    expect(codes.first).to_have_text(re.compile(r"^\S+/\S+: 3$"))
    expect(_detail(page)).not_to_contain_text("[object Object]")


def test_a_phone_shows_the_state_column_and_every_nav_link(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    """At 390 px wide: the State column and the Submit link are on screen without scrolling,
    and the filters fold behind a button that counts the active ones."""
    job_id = kjs_ui.submit(k8s_namespace, "a-rather-long-job-name-for-a-phone", "true")
    kjs_ui.wait_for_state(job_id, "succeeded")
    page.set_viewport_size(PHONE)
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
    expect(_state_cell(page, job_id)).to_have_text("succeeded")
    expect(_state_cell(page, job_id)).to_be_in_viewport(ratio=1)
    expect(page.locator(".nav a[href='/ui/submit']")).to_be_in_viewport(ratio=1)
    expect(page.locator("[data-testid=principal]")).to_be_in_viewport()
    toggle = page.locator("button[data-action=toggle-filters]")
    expect(toggle).to_have_text("Filters (1)")
    filters = page.locator("[data-testid=job-filters]")
    expect(filters).to_be_hidden()
    toggle.click()
    expect(filters.locator("[name=namespace]")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_a_slow_old_answer_does_not_put_an_old_state_back(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    """The job page asks for the job after a cancel and on every event. Here the answer to the
    ask after the cancel comes last, and carries what the server said before (`running`): the
    newer `cancelled` stays on the page."""
    job_id = kjs_ui.submit(k8s_namespace, "races", _wait_for_file(tmp_path / "never"))
    kjs_ui.wait_for_state(job_id, "running")
    first_answer: list[str] = []
    held: list[Any] = []

    def hold_asks(route: Any) -> None:
        if route.request.method != "GET":
            return route.continue_()
        if not first_answer:  # the page's load goes through; its answer says `running`
            answer = route.fetch()
            first_answer.append(answer.text())
            return route.fulfill(response=answer)
        held.append(route)

    def wait_for_asks(count: int) -> None:
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while len(held) < count and dt.datetime.now() < deadline:
            page.wait_for_timeout(50)  # lets Playwright run the route handler
        assert len(held) >= count, f"the page asked for the job {len(held)} times, not {count}"

    page.on("dialog", lambda dialog: dialog.accept())
    page.route(re.compile(rf"/api/v1/jobs/{job_id}$"), hold_asks)
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{job_id}")
    detail = _detail(page)
    expect(detail).to_have_attribute("data-state", "running")
    detail.locator("button[data-action=cancel]").click()
    wait_for_asks(1)
    expect(page.locator("[data-testid=job-events] li[data-state=cancelled]")).to_be_visible()
    wait_for_asks(2)
    slow, fast = held[0], held[-1]
    fresh = fast.fetch()
    assert fresh.json()["state"] == "cancelled"
    fast.fulfill(response=fresh)
    expect(detail).to_have_attribute("data-state", "cancelled")
    with page.expect_event("requestfinished", lambda r: r == slow.request):
        slow.fulfill(status=200, content_type="application/json", body=first_answer[0])
    page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # its answer was handled
    expect(detail).to_have_attribute("data-state", "cancelled")
    expect(detail.locator("button[data-action=rerun]")).to_be_visible()


def test_the_cron_list_shows_the_last_runs_state(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    body = {
        "name": "often",
        "namespace": k8s_namespace,
        "image": "busybox",
        "command": ["sh", "-c", "exit 4"],
        "schedule": "0 3 * * *",
    }
    created = kjs_ui.api("POST", "/api/v1/cronjobs", json=body)
    assert created.status_code == 201, created.text
    cron_id = created.json()["id"]
    run = kjs_ui.api("POST", f"/api/v1/cronjobs/{cron_id}/trigger")
    assert run.is_success, run.text
    kjs_ui.wait_for_state(run.json()["id"], "failed")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/crons")
    last = page.locator(f"tr[data-cron-id='{cron_id}'] td[data-col=last_run] .last-state")
    expect(last).to_have_text("failed")
    expect(last).to_have_class(re.compile(r"\bstate-failed\b"))
