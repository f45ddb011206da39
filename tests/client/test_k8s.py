"""The SDK against `kjs up` on a test cluster: jobs that really run, so `wait` sees them
through to their end, logs are collected and followed, and a watch sees each state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kjs.client import AsyncClient, Client, Event
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import LiveServer, live_kjs_up

pytestmark = pytest.mark.k8s

# The normal path, in order: a watch or a wait sees a subsequence of it.
LIFECYCLE = ["pending", "dispatched", "created", "running", "succeeded"]


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[LiveServer]:
    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as live:
        yield live


@pytest.fixture
def kjs(kjs_up: LiveServer) -> Iterator[Client]:
    with Client(kjs_up.url) as client:
        yield client


def in_order(states: list[str]) -> bool:
    return [LIFECYCLE.index(s) for s in states] == sorted(LIFECYCLE.index(s) for s in states)


def test_wait_sees_every_status_event_until_the_job_succeeds(
    kjs: Client, k8s_namespace: str
) -> None:
    job = kjs.submit(
        {
            "name": "hello",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": ["sh", "-c", "echo hi"],
            "log_collect": "always",
        }
    )
    seen: list[Event] = []
    done = kjs.wait(job.id, timeout=120, on_event=seen.append)
    assert (done.id, done.state, done.is_final) == (job.id, "succeeded", True)
    states = [e.state for e in seen]
    assert states[0] == "pending" and states[-1] == "succeeded" and in_order(states)
    assert {"dispatched", "running"} <= set(states), states
    assert [e.seq for e in seen] == sorted(e.seq for e in seen if e.seq is not None)
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    log = kjs.logs(job.id)
    assert log.startswith("==> ") and log.endswith("hi\n")
    assert kjs.logs(job.id, container="hello") == log
    assert kjs.logs(job.id, container="nobody") == ""


def test_wait_returns_a_failed_job_with_its_exit_code(kjs: Client, k8s_namespace: str) -> None:
    job = kjs.submit(
        {
            "name": "bad",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": ["sh", "-c", "echo oops; exit 3"],
        }
    )
    done = kjs.wait(job.id, timeout=120)
    assert done.state == "failed"
    assert [codes["bad"] for codes in done.exit_codes.values()] == [3]
    assert "oops" in kjs.logs(job.id)  # collected on failure (the default)


def test_follow_logs_yields_text_while_the_job_runs(
    kjs: Client, kjs_up: LiveServer, k8s_namespace: str
) -> None:
    job = kjs.submit(
        {
            "name": "ticker",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 1; done"],
            "log_collect": "always",
        }
    )
    wait_until(lambda: kjs.get(job.id).state == "running", timeout=60, what="the job to run")
    text, state_at_line_1 = "", None
    for chunk in kjs.follow_logs(job.id):
        text += chunk
        if state_at_line_1 is None and "line 1\n" in text:
            state_at_line_1 = kjs.get(job.id).state
    assert state_at_line_1 == "running"  # it came while the job ran, not at the end
    assert text.startswith("==> ") and text.endswith("line 5\n")
    assert kjs.get(job.id).is_final
    assert kjs.logs(job.id) == text


def test_watch_sees_a_job_go_from_pending_to_succeeded(kjs: Client, k8s_namespace: str) -> None:
    labels = {"watched": "yes"}
    cursor = kjs.list(labels=labels).watch_cursor
    job = kjs.submit(
        {
            "name": "watched",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": ["sh", "-c", "sleep 2"],
            "labels": labels,
        }
    )
    states: list[str] = []
    changes = kjs.watch(watch_cursor=cursor, labels=labels)
    for change in changes:
        assert change.job is not None and change.job.id == job.id
        states.append(change.job.state)
        if change.job.is_final:
            break
    changes.close()
    assert states[0] == "pending" and states[-1] == "succeeded" and in_order(states)
    assert "running" in states, states


async def test_async_wait_and_follow(kjs_up: LiveServer, k8s_namespace: str) -> None:
    async with AsyncClient(kjs_up.url) as kjs:
        job = await kjs.submit(
            {
                "name": "async",
                "namespace": k8s_namespace,
                "image": "busybox",
                "command": ["sh", "-c", "echo one; sleep 1; echo two"],
                "log_collect": "always",
            }
        )
        states: list[str] = []
        done = await kjs.wait(job.id, timeout=120, on_event=lambda e: states.append(e.state))
        assert done.state == "succeeded" and states[-1] == "succeeded" and in_order(states)
        text = "".join([chunk async for chunk in kjs.follow_logs(job.id)])
        assert text.endswith("one\ntwo\n") and text == await kjs.logs(job.id)
