"""Clusters as the API shows them: from heartbeats, ready/unreachable/cordoned, with load."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

JOB = {"name": "hello", "namespace": "ops", "image": "busybox"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"dispatch": {"unreachable_after_s": 1.5}}


def test_a_cluster_from_its_heartbeat(client: TestClient[Any], agent: FakeAgent) -> None:
    agent.heartbeat(capacity=8, running=2, labels={"zone": "eu"}, version="v1.36.3")
    cluster = client.get("/api/v1/clusters/c1").json()
    assert cluster["state"] == "ready" and cluster["labels"] == {"zone": "eu"}
    assert (cluster["capacity"], cluster["running"], cluster["load"]) == (8, 2, 0.25)
    assert cluster["version"] == "v1.36.3" and cluster["last_heartbeat"] is not None
    assert client.get("/api/v1/clusters/c9").status_code == 404


def test_a_silent_cluster_becomes_unreachable_and_takes_no_work(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    wait_until(
        lambda: client.get("/api/v1/clusters/c1").json()["state"] == "unreachable",
        timeout=5,
        what="no heartbeat for 1.5 s",
    )
    job = client.post("/api/v1/jobs", json=JOB).json()
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "pending"
    agent.heartbeat()
    wait_state(client, job["id"], "dispatched")


def test_a_cordoned_cluster_takes_no_new_work_until_uncordoned(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    cordoned = client.post("/api/v1/clusters/c1/cordon")
    assert cordoned.status_code == 200 and cordoned.json()["state"] == "cordoned"
    agent.heartbeat()  # a heartbeat does not undo a cordon
    assert client.get("/api/v1/clusters/c1").json()["state"] == "cordoned"
    job = client.post("/api/v1/jobs", json=JOB).json()
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "pending"
    client.post("/api/v1/clusters/c1/uncordon")
    agent.heartbeat()  # this module declares a cluster unreachable after 1.5 s of silence
    assert client.get("/api/v1/clusters/c1").json()["state"] == "ready"
    dispatched = wait_state(client, job["id"], "dispatched")
    assert dispatched["cluster_id"] == "c1"
    assert client.get("/api/v1/clusters/c1").json()["dispatched"] == 1
