"""Every new attempt fences the previous one: its cluster is told to delete it, and any later news
of it is answered with the same cancel — and never changes the job or calls its webhook."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state
from tests.api.test_webhooks import Receiver, receiver  # noqa: F401  (fixture)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhooks": {"allow_private": True}}


def running_on_c1(client: TestClient[Any], c1: FakeAgent, **fields: Any) -> dict[str, Any]:
    body = {"name": "j", "namespace": "ops", "image": "busybox", "cluster": "c1", **fields}
    job: dict[str, Any] = client.post("/api/v1/jobs", json=body).json()
    wait_state(client, job["id"], "dispatched")
    c1.status(job, "running", k8s_name=job["k8s_name"], namespace="ops")
    return wait_state(client, job["id"], "running")


def cancels(agent: FakeAgent, job_id: str) -> list[tuple[int, str, str]]:
    return [
        (c.attempt, c.namespace, c.k8s_name)
        for c in agent.controls()
        if c.action == "cancel" and c.job_id == job_id
    ]


def test_an_update_routed_elsewhere_cancels_the_old_attempt_on_its_cluster(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat()
    c2.heartbeat()
    job = running_on_c1(client, c1)
    response = client.patch(f"/api/v1/jobs/{job['id']}", json={"cluster": "c2"})
    assert response.status_code == 200, response.text
    moved = wait_state(client, job["id"], "dispatched")
    assert moved["attempt"] == 2 and moved["cluster_id"] == "c2"
    wait_until(lambda: cancels(c1, job["id"]), timeout=5, what="the cancel of attempt 1 on c1")
    assert cancels(c1, job["id"]) == [(1, "ops", job["k8s_name"])]
    assert [(d.attempt, d.job_id) for d in c2.dispatches()] == [(2, job["id"])]
    assert not cancels(c2, job["id"])


def test_a_rerun_cancels_the_previous_attempt_wherever_the_next_one_goes(
    client: TestClient[Any],
) -> None:
    c1 = FakeAgent(client, "c1")
    c1.heartbeat()
    job = running_on_c1(client, c1)
    client.post(f"/api/v1/jobs/{job['id']}/rerun")
    wait_until(lambda: cancels(c1, job["id"]), timeout=5, what="the cancel of attempt 1")
    assert cancels(c1, job["id"]) == [(1, "ops", job["k8s_name"])]


def test_later_news_of_a_fenced_attempt_is_answered_with_its_cancel_and_changes_nothing(
    client: TestClient[Any],
    receiver: Receiver,  # noqa: F811
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat()
    c2.heartbeat()
    job = running_on_c1(client, c1, callback_url=receiver.url)
    client.patch(f"/api/v1/jobs/{job['id']}", json={"cluster": "c2"})
    wait_state(client, job["id"], "dispatched")
    wait_until(lambda: cancels(c1, job["id"]), timeout=5, what="the fence")
    c1.received.clear()
    # c1 was silent when fenced: it comes back still running attempt 1, which then finishes.
    c1.status(job, "running", attempt=1, k8s_name=job["k8s_name"], namespace="ops")
    wait_until(lambda: cancels(c1, job["id"]), timeout=5, what="the cancel answering old news")
    assert cancels(c1, job["id"]) == [(1, "ops", job["k8s_name"])]
    c1.status(job, "succeeded", attempt=1)
    c1.status(job, "cancelled", attempt=1)  # its answer to the cancel: not answered again
    second = client.post("/api/v1/jobs", json={"name": "x", "namespace": "ops", "image": "b"})
    wait_state(client, second.json()["id"], "dispatched")  # the consumer is past those events
    now = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert (now["state"], now["attempt"], now["cluster_id"]) == ("dispatched", 2, "c2")
    assert cancels(c1, job["id"]) == [(1, "ops", job["k8s_name"])]
    assert not receiver.received  # no webhook for attempt 1
    events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    assert not [e for e in events if e["attempt"] == 1 and e["state"] == "succeeded"]


def test_a_pending_edit_is_no_new_attempt_and_fences_nothing(client: TestClient[Any]) -> None:
    c1 = FakeAgent(client, "c1")
    c1.heartbeat(capacity=0)  # known, but with no room: the job waits, pending
    body = {"name": "j", "namespace": "ops", "image": "busybox", "cluster": "c1"}
    job = client.post("/api/v1/jobs", json=body).json()
    edited = client.patch(f"/api/v1/jobs/{job['id']}", json={"image": "alpine"}).json()
    assert edited["attempt"] == 1
    c1.heartbeat()
    wait_state(client, job["id"], "dispatched")
    assert not c1.controls()
    assert [
        (d.attempt, d.manifest["spec"]["template"]["spec"]["containers"][0]["image"])
        for d in c1.dispatches()
    ] == [(1, "alpine")]
