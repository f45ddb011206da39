"""Each queue's fair share in `GET /api/v1/queues` (issue 19): what its placed, unfinished jobs
request of the ready clusters, by its dominant resource, and that ÷ its weight — the figures
placement compares the queues by."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core.messages import ResourceAmounts
from kjs.core.models import JobSpec
from kjs.core.states import JobState
from tests.api.conftest import FakeAgent

Q = "/api/v1/queues"
EIGHT_CPUS = ResourceAmounts(cpu_millis=8000, memory_bytes=32 << 30, pods=110)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"scheduling": {"queues": {"light": {"weight": 1}, "heavy": {"weight": 3}}}}


def hold(client: TestClient[Any], queue: str, n: int, state: JobState = JobState.RUNNING) -> None:
    """`n` jobs of one CPU and 1 GiB of `queue`, stored as placed on c1 (or in `state`)."""
    service, store = client.app.state.jobs, client.app.state.components.store
    spec = msgspec.convert(
        {
            "name": "j",
            "namespace": "ml",
            "image": "busybox",
            "queue": queue,
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        },
        JobSpec,
    )
    placed = state != JobState.PENDING
    where: dict[str, Any] = (
        {"cluster_id": "c1"}  # a pending one waits for tomorrow: placement leaves it be
        if placed
        else {"run_at": dt.datetime.now(dt.UTC) + dt.timedelta(days=1)}
    )
    for _ in range(n):
        store.create_job(msgspec.structs.replace(service.new_record(spec), state=state, **where))


def eight_cpus(agent: FakeAgent) -> None:
    """A heartbeat of a cluster of 8 CPUs, 32 GiB and 10 job slots, all free."""
    agent.heartbeat(
        capacity=10,
        allocatable=EIGHT_CPUS,
        free=EIGHT_CPUS,
        largest_free_node=EIGHT_CPUS,
        resources_at=dt.datetime.now(dt.UTC),
    )


def shares(client: TestClient[Any]) -> dict[str, tuple[float, float]]:
    listed = client.get(Q)
    assert listed.status_code == 200, listed.text
    return {q["name"]: (q["share"], q["weighted_share"]) for q in listed.json()["items"]}


def test_each_queue_answers_its_share_of_the_ready_clusters_and_that_over_its_weight(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    eight_cpus(agent)
    # Weights 1:3 on one 8-CPU cluster: 2 and 6 one-CPU jobs are the fair split.
    hold(client, "light", 2)
    hold(client, "heavy", 6)
    hold(client, "light", 40, JobState.PENDING)  # waiting jobs hold nothing
    assert shares(client) == {
        "default": (0.0, 0.0),
        "heavy": (0.75, 0.25),
        "light": (0.25, 0.25),  # 2 of 8 CPUs (2 of 32 GiB is less)
    }
    one = client.get(f"{Q}/heavy").json()
    assert (one["share"], one["weighted_share"]) == (0.75, 0.25)
    # A second ready cluster halves them; cordoned, it is not ready and counts no more.
    eight_cpus(FakeAgent(client, "c2"))
    assert shares(client)["light"] == (0.125, 0.125)
    assert client.post("/api/v1/clusters/c2/cordon").status_code == 200
    assert shares(client)["light"] == (0.25, 0.25)


def test_without_resource_figures_the_share_is_of_the_clusters_job_slots(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat(capacity=10)  # an agent that reports no figures
    hold(client, "light", 3)
    hold(client, "heavy", 3)
    answered = shares(client)
    assert answered["light"] == (0.3, 0.3)
    assert answered["heavy"] == pytest.approx((0.3, 0.1))
