"""Queues in the web UI (issue 18) on `kjs up` with a test cluster: a job waiting in a queue at
its limit shows why and its place, on its page and in the jobs table; the table has a Queue
column (hidden on a phone, like Id); the submit form sends a job to the queue picked; and the
Queues page lists each queue with its limits, usage and fair share, which the jobs table shows
too (issue 19)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.api.auth import hash_token
from kjs.testing.pytest_plugin import Cluster
from tests.ui.support import ADMIN_TOKEN, PHONE, KjsUi, expect, kjs_up_with_tokens, sign_in

pytestmark = pytest.mark.k8s

QUEUES = {"team-a": {"limits": {"max_running": 1}}, "team-b": {"weight": 2}}
TEAM_B_TOKEN = "ui-team-b-token"
TEAM_B = {"name": "team-b", "sha256": hash_token(TEAM_B_TOKEN), "scopes": ["submit"]}


@pytest.fixture
def kjs_ui(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[KjsUi]:
    """`kjs up` with two queues — team-a runs one job at a time — and a token kept to team-b."""
    token = {**TEAM_B, "queues": ["team-b"]}
    yield from kjs_up_with_tokens(
        tmp_path / "kjs", k8s_clusters[0], [token], scheduling={"queues": QUEUES}
    )


def _blocked(kjs_ui: KjsUi, namespace: str, gate: Path) -> tuple[str, str, str]:
    """team-a's first job runs until the gate opens; its next two wait (max_running = 1)."""
    wait = f"while [ ! -e {gate} ]; do sleep 0.1; done"
    first = kjs_ui.submit(namespace, "first", wait, queue="team-a")
    kjs_ui.wait_for_state(first, "running")
    second = kjs_ui.submit(namespace, "second", wait, queue="team-a")
    third = kjs_ui.submit(namespace, "third", wait, queue="team-a")
    return first, second, third


def test_a_job_waiting_for_its_queue_says_why_and_where_it_stands(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    first, second, third = _blocked(kjs_ui, k8s_namespace, gate)
    try:
        sign_in(page, ADMIN_TOKEN)
        page.goto(kjs_ui.url + f"/ui/jobs/{third}")
        waiting = page.locator("[data-testid=job-waiting]")
        expect(waiting).to_be_visible()
        expect(waiting).to_contain_text("queue team-a is at max_running 1")
        expect(page.locator("[data-testid=job-waiting-position]")).to_have_text("2nd in its queue")
        expect(page.locator("[data-testid=job-detail] .facts")).to_contain_text("team-a")

        page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
        table = page.locator("[data-testid=jobs-table]")
        expect(table.locator("th", has_text="Queue")).to_be_visible()
        row = table.locator(f"tr[data-job-id='{second}']")
        expect(row.locator("td[data-col=queue]")).to_have_text("team-a")
        state = row.locator("td[data-col=state]")
        expect(state).to_have_text("pending")  # the cell's text stays the state
        expect(state).to_have_attribute("title", re.compile(r"^QueueLimitReached: .*1st in queue"))
        expect(state).to_have_attribute("data-why", "QueueLimitReached · 1st")
        running = table.locator(f"tr[data-job-id='{first}'] td[data-col=state]")
        expect(running).to_have_text("running")
        assert running.get_attribute("data-why") is None
    finally:
        gate.touch()
    # The first ends: the second runs, and the third is next in line.
    kjs_ui.wait_for_state(first, "succeeded")
    kjs_ui.wait_for_state(second, "running", "succeeded")
    page.goto(kjs_ui.url + f"/ui/jobs/{third}")
    expect(page.locator("[data-testid=job-waiting]")).to_be_hidden()


def test_the_queue_column_hides_on_a_phone_like_the_id(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    kjs_ui.submit(k8s_namespace, "phone", "true", queue="team-b")
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
    cell = page.locator("[data-testid=jobs-table] td[data-col=queue]").first
    expect(cell).to_have_text("team-b")
    expect(cell).to_be_visible()
    page.set_viewport_size(PHONE)
    expect(cell).to_be_hidden()
    expect(page.locator("[data-testid=jobs-table] td[data-col=id]").first).to_be_hidden()


def test_the_submit_form_sends_the_job_to_the_queue_picked(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit")
    form = page.locator("form[data-testid=submit-form]")
    queue = form.locator("select[name=queue]")
    expect(queue).to_have_value("default")
    expect(queue.locator("option")).to_have_text(["default", "team-a", "team-b"])
    form.locator("input[name=name]").fill("queued")
    form.locator("input[name=namespace]").fill(k8s_namespace)
    form.locator("input[name=image]").fill("busybox")
    form.locator("input[name=command]").fill("true")
    queue.select_option("team-b")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/ui/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    assert kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()["queue"] == "team-b"


def test_a_token_kept_to_queues_is_offered_only_those(kjs_ui: KjsUi, page: Any) -> None:
    sign_in(page, TEAM_B_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit")
    queue = page.locator("form[data-testid=submit-form] select[name=queue]")
    expect(queue).to_have_value("team-b")
    expect(queue.locator("option")).to_have_text(["team-b"])


def test_the_queues_page_lists_limits_and_usage(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    _blocked(kjs_ui, k8s_namespace, gate)
    try:
        sign_in(page, ADMIN_TOKEN)
        page.goto(kjs_ui.url + "/ui/queues")
        row = page.locator("[data-testid=queues-table] tr[data-queue='team-a']")
        expect(row.locator("td[data-col=running]")).to_have_text("1 / 1")
        expect(row.locator("td[data-col=pending]")).to_have_text("2")
        expect(page.locator("[data-testid=queues-table] tr[data-queue]")).to_have_count(3)
    finally:
        gate.touch()


def test_the_queues_page_and_the_jobs_table_show_each_queue_s_share(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    # Two jobs of 2 CPUs each on the test node's 8: team-b holds half, a quarter ÷ its weight 2.
    gate = tmp_path / "gate"
    wait = f"while [ ! -e {gate} ]; do sleep 0.1; done"
    two_cpus = {"requests": {"cpu": "2"}}
    jobs = [
        kjs_ui.submit(k8s_namespace, f"half-{i}", wait, queue="team-b", resources=two_cpus)
        for i in range(2)
    ]
    try:
        for job in jobs:
            kjs_ui.wait_for_state(job, "running")
        sign_in(page, ADMIN_TOKEN)
        page.goto(kjs_ui.url + "/ui/queues")
        table = page.locator("[data-testid=queues-table]")
        expect(table.locator("th", has_text="Share ÷ weight")).to_be_visible()
        team_b = table.locator("tr[data-queue='team-b']")
        expect(team_b.locator("td[data-col=share]")).to_have_text("50.0%")
        expect(team_b.locator("td[data-col=weighted-share]")).to_have_text("25.0%")
        expect(team_b.locator("td[data-col=share] meter")).to_have_attribute("value", "0.5")
        expect(table.locator("tr[data-queue='team-a'] td[data-col=share]")).to_have_text("0.0%")

        page.goto(kjs_ui.url + f"/ui/jobs?namespace={k8s_namespace}")
        jobs_table = page.locator("[data-testid=jobs-table]")
        headers = jobs_table.locator("thead th")
        # all_inner_texts() reads once, without waiting: first the table must be drawn.
        expect(headers.filter(has_text="Priority")).to_have_count(1)
        expect(headers.nth(headers.all_inner_texts().index("Priority") + 1)).to_have_text("Share")
        share = jobs_table.locator(f"tr[data-job-id='{jobs[0]}'] td[data-col=share]")
        expect(share).to_have_text("50.0%")
        expect(share).to_have_attribute("title", re.compile(r"÷ its weight: 25\.0%"))
        page.set_viewport_size(PHONE)  # hidden on a phone, like the queue and priority
        expect(share).to_be_hidden()
    finally:
        gate.touch()
