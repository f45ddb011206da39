"""Jobs that can be placed are never held back by jobs that cannot: however many jobs wait for a
full cluster, a job for a cluster with room is dispatched at once (placement skips a route whose
clusters are all full without loading its jobs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, occupy, release, wait_state

SWEEP_S = 2.0  # the leader's safety sweep: the deadline is one sweep and a second


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"dispatch": {"sweep_s": SWEEP_S}}


def block(client: TestClient[Any], n: int, cluster: str, name: str = "blocked") -> list[JobRecord]:
    """`n` jobs routed to `cluster`, written straight to the store (the API would take minutes
    for 10,000), oldest first."""
    service, store = client.app.state.jobs, client.app.state.components.store
    spec = msgspec.convert(
        {"name": name, "namespace": "ns", "image": "busybox", "cluster": cluster}, JobSpec
    )
    return [store.create_job(service.new_record(spec)) for _ in range(n)]


def submit(client: TestClient[Any], cluster: str, name: str = "free") -> dict[str, Any]:
    response = client.post(
        "/api/v1/jobs",
        json={"name": name, "namespace": "ns", "image": "busybox", "cluster": cluster},
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def dispatched_to(agent: FakeAgent, job_id: str) -> bool:
    return any(d.job_id == job_id for d in agent.dispatches())


@pytest.mark.parametrize("blocked", [1_000, 10_000])
def test_a_job_for_a_free_cluster_is_dispatched_however_many_wait_for_a_full_one(
    client: TestClient[Any], blocked: int
) -> None:
    full, free = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    full.heartbeat(capacity=1)
    occupy(client, "c1")
    free.heartbeat(capacity=10)
    block(client, blocked, "c1")

    started = time.monotonic()
    job = submit(client, "c2")
    wait_until(
        lambda: dispatched_to(free, job["id"]),
        timeout=SWEEP_S + 1,
        what=f"the c2 job to be dispatched past {blocked} blocked jobs",
        interval=0.02,
    )
    took = time.monotonic() - started
    assert took <= SWEEP_S + 1
    assert wait_state(client, job["id"], "dispatched")["cluster_id"] == "c2"
    assert full.dispatches() == []


def test_a_full_clusters_jobs_wait_in_order_and_take_exactly_the_room_that_appears(
    client: TestClient[Any],
) -> None:
    full, free = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    full.heartbeat(capacity=1)
    busy = occupy(client, "c1")
    free.heartbeat(capacity=10)
    blocked = block(client, 1_000, "c1")
    job = submit(client, "c2")
    wait_until(lambda: dispatched_to(free, job["id"]), timeout=SWEEP_S + 1, what="the c2 job")
    assert full.dispatches() == []  # dispatched before any blocked one

    release(client, busy)  # one slot: the oldest c1 job, and only it
    (dispatch,) = wait_until(full.dispatches, timeout=SWEEP_S + 1, what="a dispatch to c1")
    assert dispatch.job_id == blocked[0].id
    dispatcher = client.app.state.jobs.dispatcher
    assert client.blocking_portal.call(dispatcher.dispatch_due) == 0  # c1 is full again
    store = client.app.state.components.store
    assert store.count_jobs_by_cluster(JobState.DISPATCHED) == {"c1": 1, "c2": 1}
    assert len(full.dispatches()) == 1


class RescuePlugin:
    """Sends the jobs named `rescue` to c2, whatever their route says."""

    @hookimpl
    def select_cluster(self, job: Any, clusters: list[Any]) -> str | None:
        return "c2" if job.spec.name == "rescue" else None


@pytest.fixture
def client_with_plugin(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(
        environ={}, overrides={"data_dir": str(tmp_path), "dispatch": {"sweep_s": SWEEP_S}}
    )
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[RescuePlugin()]))
    with TestClient(app) as test_client:
        yield test_client


def test_a_select_cluster_plugin_is_asked_about_jobs_whose_route_is_full(
    client_with_plugin: TestClient[Any],
) -> None:
    client = client_with_plugin
    full, free = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    full.heartbeat(capacity=1)
    occupy(client, "c1")
    free.heartbeat(capacity=10)
    block(client, 50, "c1")
    (rescue,) = block(client, 1, "c1", name="rescue")  # routed to full c1, like the others
    client.blocking_portal.call(client.app.state.jobs.dispatcher.wake)
    wait_until(
        lambda: dispatched_to(free, rescue.id),
        timeout=SWEEP_S + 1,
        what="the plugin to send the rescue job to c2",
    )
    assert full.dispatches() == []


class CountingPlugin:
    """Asked about every job, sends none anywhere: counts the questions."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def select_cluster(self, job: Any, clusters: list[Any]) -> str | None:
        self.asked += 1
        return None


def test_a_key_a_plugin_refused_is_not_read_again_until_the_view_or_the_key_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingPlugin()
    settings = load(
        environ={}, overrides={"data_dir": str(tmp_path), "dispatch": {"sweep_s": SWEEP_S}}
    )
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[counting]))
    with TestClient(app) as client:
        full = FakeAgent(client, "c1")
        full.heartbeat(capacity=1)
        busy = occupy(client, "c1")
        FakeAgent(client, "c2").heartbeat(capacity=10)  # room somewhere: passes look at keys
        block(client, 300, "c1")
        dispatcher = client.app.state.jobs.dispatcher
        assert client.blocking_portal.call(dispatcher.dispatch_due) == 0
        assert counting.asked >= 200  # a page of the key, job by job
        asked = counting.asked

        # Nothing changed: the key is not read again (its jobs still say why they wait).
        for _ in range(3):
            assert client.blocking_portal.call(dispatcher.dispatch_due) == 0
        assert counting.asked == asked
        # The key changed (one more job): read again.
        block(client, 1, "c1")
        assert client.blocking_portal.call(dispatcher.dispatch_due) == 0
        assert counting.asked > asked
        asked = counting.asked

        # The view changed (c1's slot freed): read again, and the oldest job placed.
        release(client, busy)
        client.blocking_portal.call(dispatcher.dispatch_due)
        assert counting.asked > asked
        wait_until(full.dispatches, timeout=SWEEP_S + 1, what="a dispatch to c1")

        # Refusals are trusted for EXPLAIN_S at most (a plugin may look at more than the view).
        from kjs.scheduler import placement

        monkeypatch.setattr(placement, "EXPLAIN_S", 0.0)
        asked = counting.asked
        client.blocking_portal.call(dispatcher.dispatch_due)
        assert counting.asked > asked


def test_a_slot_is_free_once_its_job_s_final_state_is_stored_not_a_heartbeat_later(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    # One slot; the heartbeat says it is taken, and no heartbeat comes after that.
    agent.heartbeat(capacity=1, running=1)
    first, second = submit(client, "c1", "first"), submit(client, "c1", "second")
    wait_state(client, first["id"], "dispatched", timeout=SWEEP_S + 2)
    agent.status(first, "running")
    agent.status(first, "succeeded")
    # Free as soon as the store knows: the stale heartbeat (running=1) does not hold it.
    wait_until(
        lambda: dispatched_to(agent, second["id"]), timeout=SWEEP_S + 2, what="the second job"
    )


@pytest.mark.parametrize("state", [JobState.CANCELLING, JobState.LOST, JobState.RUNNING])
def test_a_slot_held_by_a_job_whose_pods_may_still_run_is_not_free(
    client: TestClient[Any], agent: FakeAgent, state: JobState
) -> None:
    agent.heartbeat(capacity=1, running=0)  # the heartbeat says free; the store knows better
    occupy(client, "c1", state=state)
    job = submit(client, "c1")
    dispatcher = client.app.state.jobs.dispatcher
    assert client.blocking_portal.call(dispatcher.dispatch_due) == 0
    assert not dispatched_to(agent, job["id"])
