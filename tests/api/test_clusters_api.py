"""Clusters as the API shows them: from heartbeats, ready/unreachable/cordoned, with load."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core import messages
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


def test_a_cluster_shows_the_resources_its_agent_reports(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3)
    agent.heartbeat(
        allocatable=messages.ResourceAmounts(cpu_millis=8000, memory_bytes=32 << 30, pods=110),
        free=messages.ResourceAmounts(cpu_millis=7500, memory_bytes=31 << 30, pods=109),
        largest_free_node=messages.ResourceAmounts(
            cpu_millis=7500, memory_bytes=31 << 30, pods=109
        ),
        resources_at=at,
    )
    resources = client.get("/api/v1/clusters/c1").json()["resources"]
    assert resources["allocatable"] == {"cpu_millis": 8000, "memory_bytes": 32 << 30, "pods": 110}
    assert resources["free"] == {"cpu_millis": 7500, "memory_bytes": 31 << 30, "pods": 109}
    assert resources["largest_free_node"]["cpu_millis"] == 7500
    assert dt.datetime.fromisoformat(resources["at"]) == at and resources["partial"] is False
    listed = client.get("/api/v1/clusters").json()["items"]
    assert listed[0]["resources"] == resources
    # An agent that reports no resources (one older than them): the figures are gone, not kept.
    agent.heartbeat()
    assert client.get("/api/v1/clusters/c1").json()["resources"] is None


def test_an_old_servers_decoder_ignores_the_resource_fields_of_a_new_heartbeat() -> None:
    class OldHeartbeat(msgspec.Struct, kw_only=True, tag="heartbeat"):  # before issue 18
        v: int = messages.SCHEMA_VERSION
        cluster_id: str
        at: dt.datetime
        labels: dict[str, str] = msgspec.field(default_factory=dict)
        version: str | None = None
        capacity: int = 0
        running: int = 0
        pending: int = 0

    new = messages.Heartbeat(
        cluster_id="c1",
        at=dt.datetime.now(dt.UTC),
        capacity=5,
        free=messages.ResourceAmounts(cpu_millis=1),
        allocatable=messages.ResourceAmounts(cpu_millis=2),
        resources_at=dt.datetime.now(dt.UTC),
        resources_partial=True,
    )
    old = msgspec.json.decode(
        messages.encode(new), type=messages.Dispatch | messages.StatusEvent | OldHeartbeat
    )
    assert isinstance(old, OldHeartbeat) and old.capacity == 5
    # And a new server reads an old agent's heartbeat: no resources.
    beat = messages.decode(msgspec.json.encode(old))
    assert isinstance(beat, messages.Heartbeat) and beat.free is None and beat.capacity == 5
