"""Preemption through the server (SQLite, the in-memory queue, a stand-in agent): a victim's
cancel goes to its agent; once the agent confirms it, the victim waits again as a new attempt
(`Preempted`), without a webhook, and the preemptor is placed; a victim that succeeded first,
or that a user cancels meanwhile, ends as such, announced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state
from tests.api.test_webhooks import Receiver

CLASSES = {"low": {"value": -100, "preemptible": True}, "high": {"value": 100}}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "scheduling": {"priority_classes": CLASSES},
        "webhooks": {"secret": "s3cret", "allow_private": True},
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def submit(client: TestClient[Any], name: str, cls: str, url: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "namespace": "ops",
        "image": "busybox",
        "priority_class": cls,
        "callback_url": url,
        **fields,
    }
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def get(client: TestClient[Any], job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
    return found


def announced(receiver: Receiver) -> list[tuple[str, str, int]]:
    """(job id, event, attempt) of each webhook received."""
    found = [json.loads(body) for _, body in receiver.received]
    return [(p["job"]["id"], p["event"], p["job"]["attempt"]) for p in found]


def full_cluster(client: TestClient[Any], agent: FakeAgent, url: str) -> list[dict[str, Any]]:
    """Two low-priority jobs running on c1, which takes two (by slots: no resource figures);
    the second started last."""
    agent.heartbeat(capacity=2)
    jobs = []
    for name in ("first", "second"):
        job = submit(client, name, "low", url)
        wait_state(client, job["id"], "dispatched")
        agent.status(job, "running")
        jobs.append(wait_state(client, job["id"], "running"))
    return jobs


def preempted(client: TestClient[Any], agent: FakeAgent, victim: dict[str, Any]) -> None:
    """Wait until the victim is being cancelled for preemption, its cancel sent to its agent."""
    found = wait_state(client, victim["id"], "cancelling")
    assert found["reason"] == "Preempted"
    wait_until(
        lambda: any(c.job_id == victim["id"] and c.action == "cancel" for c in agent.controls()),
        timeout=10,
        what="the victim's cancel to reach its agent",
    )


def test_a_confirmed_victim_waits_again_without_a_webhook_and_the_preemptor_runs(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    first, second = full_cluster(client, agent, receiver.url)
    urgent = submit(client, "urgent", "high", receiver.url)
    preempted(client, agent, second)
    assert get(client, first["id"])["state"] == "running"
    waiting = get(client, urgent["id"])
    assert waiting["state"] == "pending" and waiting["reason"] == "Preempting"
    assert second["id"] in waiting["message"]

    agent.status(second, "cancelled", reason="Cancelled")  # the agent deleted it
    wait_state(client, urgent["id"], "dispatched")
    again = get(client, second["id"])
    assert (again["state"], again["attempt"], again["cluster_id"]) == ("pending", 2, None)
    events = client.get(f"/api/v1/jobs/{second['id']}/events").json()["items"]
    told = [(e["attempt"], e["state"], e["reason"]) for e in events]
    assert (1, "cancelling", "Preempted") in told and (2, "pending", "Preempted") in told
    requeued = next(e for e in events if (e["attempt"], e["state"]) == (2, "pending"))
    assert requeued["message"].startswith("attempt 1 ended cancelled: preempted by job ")
    assert urgent["id"] in requeued["message"]

    # Webhooks flow (first's end is announced), and none came for second's preempted attempt.
    agent.status(first, "succeeded")
    wait_until(lambda: receiver.received, timeout=10, what="first's webhook")
    assert announced(receiver) == [(first["id"], "job.succeeded", 1)]


def test_a_victim_that_succeeded_before_its_cancel_landed_stays_succeeded(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    _, second = full_cluster(client, agent, receiver.url)
    submit(client, "urgent", "high", receiver.url)
    preempted(client, agent, second)
    agent.status(second, "succeeded")
    done = wait_state(client, second["id"], "succeeded")
    assert done["attempt"] == 1
    wait_until(lambda: receiver.received, timeout=10, what="second's webhook")
    assert announced(receiver) == [(second["id"], "job.succeeded", 1)]


def test_a_victim_a_user_cancels_meanwhile_ends_cancelled(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    _, second = full_cluster(client, agent, receiver.url)
    submit(client, "urgent", "high", receiver.url)
    preempted(client, agent, second)
    assert client.delete(f"/api/v1/jobs/{second['id']}").status_code == 202
    assert get(client, second["id"])["reason"] == "CancelRequested"
    agent.status(second, "cancelled", reason="Cancelled")
    done = wait_state(client, second["id"], "cancelled")
    assert done["attempt"] == 1
    wait_until(lambda: receiver.received, timeout=10, what="second's webhook")
    assert announced(receiver) == [(second["id"], "job.cancelled", 1)]


def test_a_queue_put_over_the_api_switches_preemption_off_and_a_bad_value_is_a_400(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    assert client.get("/api/v1/queues/default").json()["preemption"] is True
    put = client.put("/api/v1/queues/calm", json={"preemption": False})
    assert put.status_code == 201, put.text
    assert client.get("/api/v1/queues/calm").json()["preemption"] is False
    bad = client.put("/api/v1/queues/calm", json={"preemption": "sometimes"})
    assert bad.status_code == 400 and "preemption" in bad.text
    # Its jobs wait for room rather than preempt.
    first, second = full_cluster(client, agent, receiver.url)
    calm = submit(client, "calm", "high", receiver.url, queue="calm")
    wait_until(
        lambda: get(client, calm["id"])["reason"] == "NoCapacity",
        timeout=10,
        what="the calm job to say it has no room",
    )
    assert [get(client, j["id"])["state"] for j in (first, second)] == ["running", "running"]
