"""Silent clusters: unacknowledged dispatches move elsewhere (fenced); running jobs become lost
and resolve when the cluster reports again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, occupy, release, wait_state

JOB = {"name": "hello", "namespace": "ops", "image": "busybox"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "dispatch": {
            "unreachable_after_s": 1.5,
            "lost_after_s": 3.0,
            "ack_timeout_s": 2.0,
            "clock_skew_s": 0.5,
        }
    }


def test_a_dispatch_to_a_silent_cluster_moves_and_never_runs_twice(client: TestClient[Any]) -> None:
    first, second = FakeAgent(client, "first"), FakeAgent(client, "second")
    first.heartbeat(capacity=10)
    second.heartbeat(capacity=1)
    busy = occupy(client, "second")  # full for now
    job = client.post("/api/v1/jobs", json=JOB).json()
    copies = wait_until(first.dispatches, timeout=5, what="the dispatch to the first cluster")
    # `first` goes silent without creating it; `second` keeps reporting and gets room.
    moved = wait_state(client, job["id"], "pending", timeout=10)
    assert moved["attempt"] == 2 and moved["reason"] == "ClusterUnreachable"
    # Not before the last copy sent to `first` has expired (plus the clock skew allowance):
    # until then `first` could still act on it.
    events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    moved_at = dt.datetime.fromisoformat(events[-1]["at"])
    last_expiry = max(c.expires_at for c in copies + first.dispatches())
    assert moved_at >= last_expiry + dt.timedelta(seconds=0.5)
    (fence,) = wait_until(first.controls, timeout=5, what="the fence for attempt 1")
    assert (fence.action, fence.attempt, fence.k8s_name) == ("cancel", 1, job["k8s_name"])
    release(client, busy)
    second.heartbeat(capacity=1)  # it still reports (its last heartbeat is old by now)
    (dispatch,) = wait_until(second.dispatches, timeout=5, what="attempt 2 on the second cluster")
    assert dispatch.attempt == 2 and dispatch.manifest["metadata"]["name"].endswith("-a2")
    # The first cluster wakes up and reports attempt 1 late: it changes nothing.
    first.heartbeat(capacity=10)
    first.status(job, "running", attempt=1)
    second.status(job, "created", attempt=2)
    done = wait_state(client, job["id"], "created")
    assert done["cluster_id"] == "second" and done["attempt"] == 2


def test_a_running_job_on_a_silent_cluster_is_lost_until_the_cluster_says_more(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    job = client.post("/api/v1/jobs", json=JOB).json()
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "running")
    wait_state(client, job["id"], "running")
    lost = wait_state(client, job["id"], "lost", timeout=10)
    assert lost["reason"] == "ClusterLost"
    agent.heartbeat()
    agent.status(job, "succeeded")
    wait_state(client, job["id"], "succeeded")
    states = [e["state"] for e in client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]]
    assert states[-2:] == ["lost", "succeeded"]
