"""An in-process server (Litestar's test client) on SQLite and the in-memory queue, plus a
stand-in agent that speaks the queue protocol: heartbeats in, dispatches out, statuses in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core import messages
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.server import create_app
from kjs.testing.waiting import wait_until


class FakeAgent:
    """Plays a cluster's agent through the real queue: what a real agent would send."""

    def __init__(self, client: TestClient[Any], cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.queue = client.app.state.components.queue
        self.received: list[messages.Message] = []
        portal = client.blocking_portal
        for topic in (messages.dispatch_topic(cluster_id), messages.control_topic(cluster_id)):
            portal.call(self.queue.subscribe, topic, messages.AGENT_CHANNEL, self._receive)

    async def _receive(self, delivery: Any) -> bool:
        self.received.append(messages.decode(delivery.body))
        return True

    def send(self, message: messages.Message) -> None:
        topic = {
            messages.StatusEvent: messages.STATUS_TOPIC,
            messages.LogChunk: messages.LOGS_TOPIC,
            messages.Heartbeat: messages.HEARTBEAT_TOPIC,
        }[type(message)]
        self.client.blocking_portal.call(self.queue.publish, topic, messages.encode(message))

    def heartbeat(self, capacity: int = 10, running: int = 0, **fields: Any) -> None:
        """Send a heartbeat and wait until the server has recorded this very one."""
        at = dt.datetime.now(dt.UTC)
        self.send(
            messages.Heartbeat(
                cluster_id=self.cluster_id, at=at, capacity=capacity, running=running, **fields
            )
        )

        def recorded() -> bool:
            response = self.client.get(f"/api/v1/clusters/{self.cluster_id}")
            seen = response.json().get("last_heartbeat") if response.status_code == 200 else None
            return seen is not None and dt.datetime.fromisoformat(seen) >= at

        wait_until(recorded, timeout=5, what="heartbeat to be recorded")

    def status(self, job: dict[str, Any], state: str, **fields: Any) -> None:
        self.send(
            messages.StatusEvent(
                cluster_id=self.cluster_id,
                job_id=job["id"],
                attempt=fields.pop("attempt", job["attempt"]),
                state=state,
                at=dt.datetime.now(dt.UTC),
                **fields,
            )
        )

    def dispatches(self) -> list[messages.Dispatch]:
        return [m for m in self.received if isinstance(m, messages.Dispatch)]

    def controls(self) -> list[messages.Control]:
        return [m for m in self.received if isinstance(m, messages.Control)]


def occupy(
    client: TestClient[Any], cluster_id: str, n: int = 1, state: JobState = JobState.RUNNING
) -> list[JobRecord]:
    """`n` jobs running (or in `state`) on the cluster as the store knows them: placement
    counts a cluster's load from the store, not from heartbeats."""
    service, store = client.app.state.jobs, client.app.state.components.store
    spec = msgspec.convert({"name": "busy", "namespace": "busy", "image": "busybox"}, JobSpec)
    return [
        store.create_job(
            msgspec.structs.replace(service.new_record(spec), state=state, cluster_id=cluster_id)
        )
        for _ in range(n)
    ]


def release(client: TestClient[Any], jobs: list[JobRecord]) -> None:
    """The `occupy` jobs end (stored as succeeded): their room is free at once."""
    store, at = client.app.state.components.store, dt.datetime.now(dt.UTC)
    for job in jobs:
        store.update_job(
            job.id,
            lambda j: msgspec.structs.replace(
                j, state=JobState.SUCCEEDED, finished_at=at, updated_at=at
            ),
        )
    client.blocking_portal.call(client.app.state.jobs.dispatcher.wake)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def client(tmp_path: Path, settings_overrides: dict[str, Any]) -> Iterator[TestClient[Any]]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), **settings_overrides})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def agent(client: TestClient[Any]) -> FakeAgent:
    return FakeAgent(client, "c1")


def wait_state(
    client: TestClient[Any], job_id: str, state: str, timeout: float = 10
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        response = client.get(f"/api/v1/jobs/{job_id}")  # 404 while the job is not known yet
        job: dict[str, Any] = response.json()
        return job if response.status_code == 200 and job["state"] == state else None

    return wait_until(reached, timeout=timeout, what=f"job {job_id} to be {state}")
