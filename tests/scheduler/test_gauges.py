"""The leader's gauges: computed from the store by a leader task, cleared when leadership goes."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence

import msgspec
import pytest
from prometheus_client import REGISTRY

from kjs.core import clock
from kjs.core.messages import ResourceAmounts
from kjs.core.protocols import OutboxDepth
from kjs.core.queues import QueueDefinition, QueueRecord
from kjs.core.records import ClusterRecord, ClusterResources, QueueUsage
from kjs.core.states import JobState
from kjs.scheduler import gauges
from kjs.scheduler.fairshare import FairShare
from kjs.scheduler.gauges import LeaderGauges
from kjs.scheduler.leader import GAUGES, LeaderTasks


class FakeStore:
    """The store's figures, as the test sets them; remembers which states each count asked."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[JobState, str | None], int] = {}
        self.depth = OutboxDepth(0, 0, 0, 0)
        self.clusters: list[ClusterRecord] = []
        self.asked: list[set[JobState]] = []
        self.usage: list[QueueUsage] = []
        self.queues: list[QueueRecord] = []

    def count_jobs_by_state(
        self, states: Sequence[JobState]
    ) -> dict[tuple[JobState, str | None], int]:
        self.asked.append(set(states))
        return {key: n for key, n in self.jobs.items() if key[0] in states}

    def outbox_depth(self, now: dt.datetime) -> OutboxDepth:
        return self.depth

    def list_clusters(self) -> list[ClusterRecord]:
        return self.clusters

    def queue_usage(self) -> list[QueueUsage]:
        return self.usage

    def list_queues(self) -> list[QueueRecord]:
        return self.queues


class Switch:
    """An election the test turns on and off."""

    def __init__(self, leading: bool = True) -> None:
        self._leading = asyncio.Event()
        self._lost = asyncio.Event()
        self.set(leading)

    def set(self, leading: bool) -> None:
        (self._leading.set if leading else self._leading.clear)()
        (self._lost.clear if leading else self._lost.set)()

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    fencing_token = 1

    async def start(self) -> None: ...
    async def wait_leader(self) -> None:
        await self._leading.wait()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    async def close(self) -> None: ...


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    beat = clock.now() - dt.timedelta(seconds=30)
    store.clusters = [
        ClusterRecord(id="c1", capacity=10, last_heartbeat=beat),
        ClusterRecord(id="c2", capacity=2),  # never heard from
    ]
    store.jobs = {
        (JobState.PENDING, None): 4,
        (JobState.DISPATCHED, "c1"): 1,
        (JobState.RUNNING, "c1"): 3,
        (JobState.CREATED, "c1"): 2,
        (JobState.SUCCEEDED, "c1"): 1000,
        (JobState.FAILED, "c2"): 7,
    }
    store.depth = OutboxDepth(
        messages_due=5, messages_waiting=1, webhooks_due=2, webhooks_waiting=3
    )
    return store


async def test_a_pass_sets_jobs_by_state_and_cluster_outbox_and_cluster_figures(
    store: FakeStore,
) -> None:
    leader_gauges = LeaderGauges(store, Switch())
    leader_gauges.clear()
    await leader_gauges.refresh()
    assert value("kjs_jobs", state="pending", cluster="") == 4
    assert value("kjs_jobs", state="running", cluster="c1") == 3
    assert value("kjs_jobs", state="succeeded", cluster="c1") == 1000
    assert value("kjs_jobs", state="failed", cluster="c2") == 7
    # Every state of every cluster exists, at 0 when none: a graph reads 0, not "no data".
    assert value("kjs_jobs", state="lost", cluster="c2") == 0
    assert value("kjs_jobs", state="running", cluster="") == 0
    assert value("kjs_outbox_depth", state="due") == 5
    assert value("kjs_outbox_depth", state="waiting") == 1
    assert value("kjs_webhook_deliveries_pending", state="due") == 2
    assert value("kjs_webhook_deliveries_pending", state="waiting") == 3
    assert value("kjs_cluster_capacity", cluster="c1") == 10
    assert value("kjs_cluster_running", cluster="c1") == 5  # created + running
    assert value("kjs_cluster_free", cluster="c1") == 10 - 5 - 1  # less the one in flight
    assert value("kjs_cluster_free", cluster="c2") == 2
    age = value("kjs_cluster_heartbeat_age_seconds", cluster="c1")
    assert age is not None and 30 <= age < 40
    assert value("kjs_cluster_heartbeat_age_seconds", cluster="c2") is None


async def test_each_clusters_resources_as_its_agent_reported_them(store: FakeStore) -> None:
    at = clock.now() - dt.timedelta(seconds=12)
    store.clusters[0] = msgspec.structs.replace(
        store.clusters[0],
        resources=ClusterResources(
            allocatable=ResourceAmounts(cpu_millis=8000, memory_bytes=32 << 30, pods=110),
            free=ResourceAmounts(cpu_millis=2500, memory_bytes=3 << 30, pods=100),
            largest_free_node=ResourceAmounts(cpu_millis=2500, memory_bytes=3 << 30, pods=100),
            at=at,
        ),
    )
    leader_gauges = LeaderGauges(store, Switch())
    leader_gauges.clear()
    await leader_gauges.refresh()
    assert value("kjs_cluster_cpu_allocatable_millicores", cluster="c1") == 8000
    assert value("kjs_cluster_cpu_free_millicores", cluster="c1") == 2500
    assert value("kjs_cluster_memory_allocatable_bytes", cluster="c1") == 32 << 30
    assert value("kjs_cluster_memory_free_bytes", cluster="c1") == 3 << 30
    assert value("kjs_cluster_pods_free", cluster="c1") == 100
    age = value("kjs_cluster_resources_age_seconds", cluster="c1")
    assert age is not None and 12 <= age < 20
    # No figures (an older agent): no series, rather than a 0 that reads "nothing free".
    assert value("kjs_cluster_cpu_free_millicores", cluster="c2") is None
    store.clusters[0] = msgspec.structs.replace(store.clusters[0], resources=None)
    await leader_gauges.refresh()
    assert value("kjs_cluster_cpu_free_millicores", cluster="c1") is None
    assert value("kjs_cluster_capacity", cluster="c1") == 10


def usage(queue: str, state: JobState, jobs: int, cluster: str | None = "c1") -> QueueUsage:
    """`jobs` jobs of one CPU and 1 GiB each."""
    return QueueUsage(
        queue=queue,
        cluster_id=None if state == JobState.PENDING else cluster,
        state=state,
        jobs=jobs,
        cpu_millis=1000 * jobs,
        memory_bytes=jobs << 30,
    )


async def test_each_queue_s_pending_and_running_jobs_and_what_the_running_request(
    store: FakeStore,
) -> None:
    store.usage = [
        usage("team-a", JobState.PENDING, 12),
        usage("team-a", JobState.RUNNING, 3, "c1"),
        usage("team-a", JobState.RUNNING, 2, "c2"),
        usage("team-a", JobState.DISPATCHED, 1),
        usage("team-a", JobState.LOST, 1),  # lost jobs still hold their requests
        usage("team-b", JobState.CANCELLING, 1),
    ]
    leader_gauges = LeaderGauges(store, Switch())
    leader_gauges.clear()
    await leader_gauges.refresh()
    assert value("kjs_queue_jobs", queue="team-a", state="pending") == 12
    assert value("kjs_queue_jobs", queue="team-a", state="running") == 7
    assert value("kjs_queue_requested_cpu_millicores", queue="team-a") == 7000
    assert value("kjs_queue_requested_memory_bytes", queue="team-a") == 7 << 30
    assert value("kjs_queue_jobs", queue="team-b", state="pending") == 0
    assert value("kjs_queue_jobs", queue="team-b", state="running") == 1
    assert value("kjs_queue_jobs", queue="default", state="pending") == 0  # always there
    # Its jobs are done: the queue reads 0, not "no data"; leadership lost: nothing.
    store.usage = []
    await leader_gauges.refresh()
    assert value("kjs_queue_jobs", queue="team-a", state="running") == 0
    assert value("kjs_queue_requested_cpu_millicores", queue="team-a") == 0
    leader_gauges.clear()
    assert value("kjs_queue_jobs", queue="team-a", state="running") is None


def heard_from(cluster: ClusterRecord, at: dt.datetime) -> str:
    """The test's readiness rule: a cluster is ready once it sent a heartbeat."""
    return "ready" if cluster.last_heartbeat is not None else "unreachable"


def eight_cpus(at: dt.datetime) -> ClusterResources:
    eight = ResourceAmounts(cpu_millis=8000, memory_bytes=32 << 30, pods=110)
    return ClusterResources(allocatable=eight, free=eight, largest_free_node=eight, at=at)


async def test_each_queue_s_share_of_the_ready_clusters_and_that_share_over_its_weight(
    store: FakeStore,
) -> None:
    # Weights 1:3 on one ready 8-CPU cluster: 2 and 6 one-CPU jobs are the fair split.
    at = clock.now()
    ready, silent = store.clusters
    store.clusters = [
        msgspec.structs.replace(ready, resources=eight_cpus(at)),
        msgspec.structs.replace(silent, resources=eight_cpus(at)),  # not ready: not counted
    ]
    stored = QueueDefinition(weight=1)
    store.queues = [QueueRecord(name="team-a", definition=stored, created_at=at, updated_at=at)]
    fair_share = FairShare(
        cluster_state=heard_from,
        figures_max_age=dt.timedelta(seconds=60),
        configured={"team-b": QueueDefinition(weight=3), "default": QueueDefinition()},
    )
    store.usage = [
        usage("team-a", JobState.RUNNING, 2),
        usage("team-a", JobState.PENDING, 50),  # waiting jobs hold nothing
        usage("team-b", JobState.RUNNING, 6),
    ]
    leader_gauges = LeaderGauges(store, Switch(), fair_share)
    leader_gauges.clear()
    await leader_gauges.refresh()
    assert value("kjs_queue_share", queue="team-a") == 0.25  # 2 of 8 CPUs (2 of 32 GiB less)
    assert value("kjs_queue_share", queue="team-b") == 0.75
    assert value("kjs_queue_weighted_share", queue="team-a") == 0.25
    assert value("kjs_queue_weighted_share", queue="team-b") == 0.25
    assert value("kjs_queue_share", queue="default") == 0  # holds nothing: 0, not "no data"
    # Figures older than the agent may be trusted: its 10 job slots are what shares are of.
    store.clusters[0] = msgspec.structs.replace(
        store.clusters[0], resources=eight_cpus(at - dt.timedelta(seconds=61))
    )
    await leader_gauges.refresh()
    assert value("kjs_queue_share", queue="team-a") == 0.2
    assert value("kjs_queue_weighted_share", queue="team-b") == 0.6 / 3
    leader_gauges.clear()  # leadership lost: only the leader's figures are current
    assert value("kjs_queue_share", queue="team-a") is None
    assert value("kjs_queue_weighted_share", queue="team-b") is None


async def test_final_states_are_counted_on_the_first_pass_then_one_pass_in_several(
    store: FakeStore,
) -> None:
    leader_gauges = LeaderGauges(store, Switch())
    leader_gauges.clear()
    for _ in range(gauges.FINAL_EVERY + 1):
        await leader_gauges.refresh()
        store.jobs[(JobState.SUCCEEDED, "c1")] += 1
        store.jobs[(JobState.RUNNING, "c1")] += 1
    final = set(gauges.FINAL)
    assert [bool(asked & final) for asked in store.asked] == [True] + [False] * (
        gauges.FINAL_EVERY - 1
    ) + [True]
    # Unfinished states are current on every pass; the final ones as of their last count.
    assert value("kjs_jobs", state="running", cluster="c1") == 3 + gauges.FINAL_EVERY
    assert value("kjs_jobs", state="succeeded", cluster="c1") == 1000 + gauges.FINAL_EVERY
    await leader_gauges.refresh()
    assert value("kjs_jobs", state="succeeded", cluster="c1") == 1000 + gauges.FINAL_EVERY


async def test_a_cluster_the_store_no_longer_knows_loses_its_series(store: FakeStore) -> None:
    leader_gauges = LeaderGauges(store, Switch())
    leader_gauges.clear()
    await leader_gauges.refresh()
    store.clusters = store.clusters[:1]
    del store.jobs[(JobState.FAILED, "c2")]
    for _ in range(gauges.FINAL_EVERY):  # until final states are counted again
        await leader_gauges.refresh()
    assert value("kjs_cluster_capacity", cluster="c2") is None
    assert value("kjs_jobs", state="failed", cluster="c2") is None
    assert value("kjs_cluster_capacity", cluster="c1") == 10


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Poll what the leader's tasks set on their own loops, until it holds (or fail)."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_replica_that_stops_leading_clears_the_leader_gauges_and_says_so(
    store: FakeStore,
) -> None:
    election = Switch()
    tasks = LeaderTasks(election, replica="replica-a")
    leader_gauges = LeaderGauges(store, election)
    leader_gauges.clear()
    tasks.add(GAUGES, leader_gauges.refresh, every_s=0.05)
    tasks.on_lost(leader_gauges.clear)
    await tasks.start()
    try:
        await until(lambda: value("kjs_jobs", state="pending", cluster="") == 4, "a pass")
        await until(lambda: value("kjs_leader", replica="replica-a") == 1, "leading")
        election.set(False)
        await until(lambda: value("kjs_leader", replica="replica-a") == 0, "the loss")
        assert value("kjs_jobs", state="pending", cluster="") is None
        assert value("kjs_outbox_depth", state="due") is None
        assert value("kjs_cluster_capacity", cluster="c1") is None
        passes = len(store.asked)
        await asyncio.sleep(0.2)  # a follower does no passes: nothing comes back
        assert len(store.asked) == passes
        assert value("kjs_jobs", state="pending", cluster="") is None
        election.set(True)  # leading again: figures again, every state counted at once
        await until(
            lambda: value("kjs_jobs", state="succeeded", cluster="c1") == 1000, "a pass again"
        )
        assert value("kjs_leader", replica="replica-a") == 1
    finally:
        await tasks.close()
    assert value("kjs_leader", replica="replica-a") == 0
    assert value("kjs_jobs", state="pending", cluster="") is None


async def test_a_pass_that_ends_after_leadership_is_lost_exports_nothing(
    store: FakeStore,
) -> None:
    election = Switch()
    leader_gauges = LeaderGauges(store, election)
    leader_gauges.clear()

    def lose_while_reading() -> list[ClusterRecord]:
        election.set(False)
        return store.clusters

    store.list_clusters = lose_while_reading  # type: ignore[method-assign]
    await leader_gauges.refresh()
    assert value("kjs_jobs", state="pending", cluster="") is None
    assert value("kjs_outbox_depth", state="due") is None
