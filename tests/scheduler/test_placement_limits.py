"""Placement enforces queue limits, namespace limits and cluster resources, and says why a job
waits: on a fake of our own store protocol (only what placement asks of it), with the real
least-load balancer."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec
import pytest

from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.config import Settings, load
from kjs.core.messages import ResourceAmounts
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.protocols import ALL_KEYS, AllKeys, JobUpdate, PendingReason
from kjs.core.queues import QueueRecord
from kjs.core.records import ClusterRecord, ClusterResources, EventRecord, JobRecord, QueueUsage
from kjs.core.requests import job_requests
from kjs.core.routing import placement_key_of
from kjs.core.states import JobState
from kjs.plugins.balance_leastload import LeastLoadBalancer
from kjs.scheduler.placement import Placement

GI = 1024**3
PLACED = {JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING, JobState.CANCELLING}


class FakeStore:
    """Jobs and clusters in memory, answering as the SQL store does what placement asks."""

    def __init__(self, clusters: list[ClusterRecord]) -> None:
        self.clusters = clusters
        self.jobs: dict[str, JobRecord] = {}
        self.reason_writes: list[tuple[str, str, str]] = []
        self.pages_read = 0
        self.outbox: list[tuple[str, bytes]] = []  # what the updates wrote besides the jobs
        self.events: list[EventRecord] = []

    def add(self, job: JobRecord) -> JobRecord:
        self.jobs[job.id] = job
        return job

    def _due(self, at: dt.datetime) -> list[JobRecord]:
        due = [
            j
            for j in self.jobs.values()
            if j.state == JobState.PENDING and (j.run_at is None or j.run_at <= at)
        ]
        return sorted(due, key=lambda j: (j.created_at, j.id))

    def due_placement_keys(self, at: dt.datetime) -> list[tuple[str | None, int]]:
        keys: dict[str | None, int] = {}
        for job in self._due(at):
            key = placement_key_of(job.spec, job.priority)
            keys[key] = keys.get(key, 0) + 1
        return list(keys.items())

    def due_jobs(
        self,
        at: dt.datetime,
        limit: int,
        placement_key: str | AllKeys | None = ALL_KEYS,
        *,
        after: tuple[dt.datetime, str] | None = None,
    ) -> list[JobRecord]:
        self.pages_read += 1
        return [
            j
            for j in self._due(at)
            if (placement_key is ALL_KEYS or placement_key_of(j.spec, j.priority) == placement_key)
            and (after is None or (j.created_at, j.id) > after)
        ][:limit]

    def due_pages(
        self, at: dt.datetime, pages: Sequence[tuple[str | None, int]]
    ) -> list[list[JobRecord]]:
        return [self.due_jobs(at, limit, key) for key, limit in pages]

    def started_since(
        self,
        since: Mapping[str, dt.datetime],
        states: Sequence[JobState],
        whenever: Sequence[JobState] = (),
    ) -> dict[str, tuple[int, int, int]]:
        found: dict[str, tuple[int, int, int]] = {}
        for j in self.jobs.values():
            if j.cluster_id not in since:
                continue
            started_after = j.started_at is None or j.started_at > since[j.cluster_id]
            if j.state in whenever or (j.state in states and started_after):
                n, cpu, mem = found.get(j.cluster_id, (0, 0, 0))
                need = job_requests(j.spec)
                found[j.cluster_id] = (n + 1, cpu + need.cpu_millis, mem + need.memory_bytes)
        return found

    def list_clusters(self) -> list[ClusterRecord]:
        return list(self.clusters)

    def list_queues(self) -> list[QueueRecord]:
        return []

    def count_jobs_by_cluster_and_state(
        self, states: Sequence[JobState]
    ) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {}
        for j in self.jobs.values():
            if j.state in states and j.cluster_id is not None:
                by_state = counts.setdefault(j.cluster_id, {})
                by_state[j.state] = by_state.get(j.state, 0) + 1
        return counts

    def queue_usage(self, states: Sequence[JobState] | None = None) -> list[QueueUsage]:
        groups: dict[tuple[str, str | None, JobState], QueueUsage] = {}
        for j in self.jobs.values():
            if states is not None and j.state not in states:
                continue
            need = job_requests(j.spec)
            key = (j.spec.queue, j.cluster_id, j.state)
            u = groups.setdefault(
                key, QueueUsage(queue=key[0], cluster_id=key[1], state=key[2], jobs=0,
                                cpu_millis=0, memory_bytes=0)
            )  # fmt: skip
            u.jobs += 1
            u.cpu_millis += need.cpu_millis
            u.memory_bytes += need.memory_bytes
        return list(groups.values())

    def namespace_usage(self, namespaces: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        found: dict[str, tuple[int, int, int]] = {}
        for j in self.jobs.values():
            if j.spec.namespace in namespaces and j.state in PLACED:
                n, cpu, mem = found.get(j.spec.namespace, (0, 0, 0))
                need = job_requests(j.spec)
                found[j.spec.namespace] = (n + 1, cpu + need.cpu_millis, mem + need.memory_bytes)
        return found

    def update_jobs(self, updates: Sequence[JobUpdate]) -> list[tuple[JobRecord, JobRecord] | None]:
        results: list[tuple[JobRecord, JobRecord] | None] = []
        for u in updates:
            before = self.jobs[u.job_id]
            after = u.change(before)
            if after is not None:
                self.jobs[u.job_id] = after
                self.outbox += u.outbox(after)
                if (event := u.event(after)) is not None:
                    self.events.append(event)
            results.append(None if after is None else (before, after))
        return results

    def update_job(self, job_id: str, change: Any, *_: Any) -> Any:
        return self.update_jobs([JobUpdate(job_id, change)])[0]

    def set_pending_reason(
        self,
        key: str,
        reason: str,
        message: str,
        at: dt.datetime,
        *,
        created_after: dt.datetime | None = None,
    ) -> int:
        self.reason_writes.append((key, reason, message))
        changed = 0
        for j in self._due(at):
            if created_after is not None and j.created_at <= created_after:
                continue
            if placement_key_of(j.spec, j.priority) == key and (j.reason, j.message) != (
                reason,
                message,
            ):
                self.jobs[j.id] = msgspec.structs.replace(j, reason=reason, message=message)
                changed += 1
        return changed

    def set_pending_reasons(self, at: dt.datetime, told: Sequence[PendingReason]) -> None:
        for one in told:
            changed = self.set_pending_reason(
                one.placement_key, one.reason, one.message, at, created_after=one.created_after
            )
            if one.created_after is not None and changed < one.at_least:
                self.set_pending_reason(one.placement_key, one.reason, one.message, at)

    def next_run_at(self, after: dt.datetime | None = None) -> dt.datetime | None:
        return None


def cluster(
    cid: str,
    *,
    capacity: int = 10,
    cpu: str | None = None,
    memory: str = "32Gi",
    pods: int = 100,
    largest_cpu: str | None = None,
    **changes: Any,
) -> ClusterRecord:
    """A ready cluster; with `cpu`, one whose agent reports free resources (8 CPU allocatable)."""
    from kjs.core.quantity import cpu_millicores, memory_bytes

    resources = None
    if cpu is not None:
        free = ResourceAmounts(
            cpu_millis=cpu_millicores(cpu), memory_bytes=memory_bytes(memory), pods=pods
        )
        largest = msgspec.structs.replace(free, cpu_millis=cpu_millicores(largest_cpu or cpu))
        resources = ClusterResources(
            allocatable=ResourceAmounts(cpu_millis=8000, memory_bytes=32 * GI, pods=110),
            free=free,
            largest_free_node=largest,
            at=now() - dt.timedelta(seconds=1),
        )
    changes.setdefault("last_heartbeat", now())
    return ClusterRecord(id=cid, capacity=capacity, resources=resources, **changes)


def job(
    n: int = 0,
    *,
    queue: str = "default",
    namespace: str = "ns",
    cpu: str | None = None,
    memory: str | None = None,
    created_at: dt.datetime | None = None,
    **spec: Any,
) -> JobRecord:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    fields = {"name": f"j{n}", "namespace": namespace, "image": "x", "queue": queue, **spec}
    if requests:
        fields["resources"] = {"requests": requests}
    job_id = str(uuid.uuid4())
    at = created_at or now() - dt.timedelta(minutes=1) + dt.timedelta(milliseconds=n)
    return JobRecord(
        id=job_id,
        spec=msgspec.convert(fields, JobSpec),
        k8s_name=f"j{n}-{job_id[:8]}",
        created_at=at,
        updated_at=at,
    )


def placement(store: FakeStore, **scheduling: Any) -> Placement:
    settings: Settings = load(environ={}, overrides={"scheduling": scheduling})
    components = Components(
        settings=settings,
        plugins=Plugins(autoload=False),  # kjs alone: keys judged by their key
        store=cast(Any, store),
        queue=cast(Any, None),
        balancer=LeastLoadBalancer(),
        log_sink=cast(Any, None),
        election=cast(Any, None),
    )
    return Placement(components)


def place(p: Placement) -> int:
    """A pass, and what it says of the jobs it leaves waiting written."""

    async def placed_and_said() -> int:
        placed = await p.place_due()
        await p.settled()
        return placed

    return asyncio.run(placed_and_said())


def states(store: FakeStore, *jobs: JobRecord) -> list[str]:
    return [store.jobs[j.id].state.value for j in jobs]


def why(store: FakeStore, j: JobRecord) -> tuple[str | None, str | None]:
    found = store.jobs[j.id]
    return found.reason, found.message


def test_a_queue_at_max_running_keeps_its_jobs_pending_while_another_queue_proceeds() -> None:
    store = FakeStore([cluster("c1")])
    a1, a2, a3 = (store.add(job(i, queue="team-a")) for i in range(3))
    b1, b2 = (store.add(job(10 + i, queue="team-b")) for i in range(2))
    p = placement(store, queues={"team-a": {"limits": {"max_running": 1}}, "team-b": {}})
    assert place(p) == 3
    assert states(store, a1, a2, a3, b1, b2) == [
        "dispatched", "pending", "pending", "dispatched", "dispatched"
    ]  # fmt: skip
    assert why(store, a2) == ("QueueLimitReached", "queue team-a is at max_running 1 (1 running)")
    assert why(store, a3) == why(store, a2)
    assert why(store, a1) == (None, None)  # placed: nothing to wait for
    # The next passes skip the key unread, and write nothing while what it says holds.
    writes = len(store.reason_writes)
    assert place(p) == 0 and place(p) == 0
    assert len(store.reason_writes) == writes
    # Its running job finishes: the next one goes.
    store.jobs[a1.id] = msgspec.structs.replace(store.jobs[a1.id], state=JobState.SUCCEEDED)
    assert place(p) == 1
    assert states(store, a2, a3) == ["dispatched", "pending"]


def test_a_queue_at_its_cpu_limit_takes_a_smaller_job_that_still_fits() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    big = store.add(job(1, queue="q", cpu="1500m"))
    small = store.add(job(2, queue="q", cpu="500m"))
    store.add(msgspec.structs.replace(job(0, queue="q", cpu="1"), state=JobState.RUNNING,
                                      cluster_id="c1"))  # fmt: skip
    p = placement(store, queues={"q": {"limits": {"max_cpu": "2"}}})
    assert place(p) == 1
    assert states(store, big, small) == ["pending", "dispatched"]
    assert why(store, big) == (
        "QueueLimitReached",
        "queue q is at max_cpu 2 (1 CPU requested, this job needs 1.5 CPU)",
    )


def test_a_namespace_at_its_limit_waits_whatever_its_queue() -> None:
    store = FakeStore([cluster("c1")])
    first = store.add(job(1, namespace="ml", memory="3Gi"))
    second = store.add(job(2, namespace="ml", memory="3Gi"))
    other = store.add(job(3, namespace="web", memory="3Gi"))
    p = placement(store, namespaces={"ml": {"max_memory": "4Gi"}})
    assert place(p) == 2
    assert states(store, first, second, other) == ["dispatched", "pending", "dispatched"]
    assert why(store, second) == (
        "NamespaceLimitReached",
        "namespace ml is at max_memory 4Gi (3Gi requested, this job needs 3Gi)",
    )


def test_per_cluster_limits_spread_a_queue_and_then_hold_it() -> None:
    store = FakeStore([cluster("c1"), cluster("c2")])
    jobs = [store.add(job(i, queue="q")) for i in range(3)]
    p = placement(store, queues={"q": {"limits": {"per_cluster": {"max_running": 1}}}})
    assert place(p) == 2
    assert sorted(store.jobs[j.id].cluster_id or "" for j in jobs[:2]) == ["c1", "c2"]
    reason, message = why(store, jobs[2])
    assert reason == "QueueLimitReached"
    assert (
        message is not None and "queue q on cluster c1 (per_cluster) is at max_running 1" in message
    )


def test_a_job_bigger_than_any_free_figure_waits_saying_what_is_free_and_smaller_ones_go() -> None:
    store = FakeStore([cluster("c1", cpu="1500m"), cluster("c2", cpu="1", memory="900Mi")])
    big = store.add(job(1, cpu="2", memory="4Gi"))
    small = store.add(job(2, cpu="500m", memory="256Mi"))
    p = placement(store)
    assert place(p) == 1
    assert states(store, big, small) == ["pending", "dispatched"]
    reason, message = why(store, big)
    assert reason == "NoCapacity"
    # c1 had the most free CPU (the job's dominant resource): it got the small one.
    assert store.jobs[small.id].cluster_id == "c1"
    assert message == (  # as it was when the big one was tried (before the small one went)
        "needs 2 CPU, 4Gi memory; c1 has 1.5 CPU, 32Gi memory, 100 pods free; "
        "c2 has 1 CPU, 900Mi memory, 100 pods free"
    )


def test_what_a_pass_placed_counts_against_the_next_job_and_parallelism_multiplies() -> None:
    store = FakeStore([cluster("c1", cpu="2")])
    wide = store.add(job(1, cpu="500m", parallelism=3))  # 1.5 CPU
    next_ = store.add(job(2, cpu="600m"))
    p = placement(store)
    assert place(p) == 1
    assert states(store, wide, next_) == ["dispatched", "pending"]
    assert why(store, next_)[0] == "NoCapacity"
    # The report that follows still predates the dispatch: the placed request still counts.
    assert place(p) == 0


def test_one_pod_must_fit_on_the_largest_free_node() -> None:
    store = FakeStore([cluster("c1", cpu="4", largest_cpu="1")])
    j = store.add(job(1, cpu="2"))
    assert place(placement(store)) == 0
    assert why(store, j)[0] == "NoCapacity"


def test_a_cluster_without_figures_counts_pods_as_before() -> None:
    store = FakeStore([cluster("c1", capacity=1)])
    first, second = store.add(job(1, cpu="64")), store.add(job(2))
    assert place(placement(store)) == 1
    assert states(store, first, second) == ["dispatched", "pending"]
    assert why(store, second) == ("NoCapacity", "c1 is at max_concurrent_jobs 1")


@pytest.mark.parametrize(
    ("clusters", "spec", "expected"),
    [
        (
            [cluster("c1", labels={"gpu": "false"})],
            {"cluster_selector": {"gpu": "true"}},
            ("NoClusterMatches", "no cluster with labels gpu=true"),
        ),
        ([cluster("c1")], {"cluster": "c9"}, ("NoClusterMatches", "no cluster named c9")),
        ([cluster("c1", cordoned=True)], {}, ("Cordoned", "c1 is cordoned")),
        (
            [cluster("c1", last_heartbeat=now() - dt.timedelta(minutes=5))],
            {"cluster": "c1"},
            ("ClusterUnreachable", "c1 is unreachable"),
        ),
    ],
)
def test_a_route_with_nowhere_to_go_says_why(
    clusters: list[ClusterRecord], spec: dict[str, Any], expected: tuple[str, str]
) -> None:
    store = FakeStore(clusters)
    j = store.add(job(1, **spec))
    assert place(placement(store)) == 0
    assert why(store, j) == expected


def test_a_reason_is_written_again_when_more_jobs_join_the_key() -> None:
    store = FakeStore([cluster("c1", cordoned=True)])
    first = store.add(job(1))
    p = placement(store)
    place(p)
    p._explained = -1e9  # (no room anywhere: the next pass would count the jobs in 2 s)
    late = store.add(job(2, created_at=now()))
    place(p)
    assert why(store, late) == why(store, first) == ("Cordoned", "c1 is cordoned")
    assert len(store.reason_writes) == 2


def test_with_no_room_anywhere_a_pass_does_not_count_the_due_jobs_again_at_once() -> None:
    store = FakeStore([cluster("c1", capacity=1)])
    store.add(msgspec.structs.replace(job(0), state=JobState.RUNNING, cluster_id="c1"))
    waiting = store.add(job(1))
    p = placement(store)
    place(p)
    assert why(store, waiting)[0] == "NoCapacity"
    counted = []
    store.due_placement_keys = lambda at: counted.append(at) or []  # type: ignore[method-assign]
    assert place(p) == 0 and counted == []


@pytest.mark.parametrize(
    ("big", "queues"),
    [
        ({"cpu": "64"}, {}),  # too big for every cluster
        ({"cpu": "3", "queue": "q"}, {"q": {"limits": {"max_cpu": "2"}}}),  # for its queue
    ],
)
def test_a_small_job_behind_more_than_a_page_of_jobs_that_fit_nowhere_is_placed(
    big: dict[str, Any], queues: dict[str, Any]
) -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    stuck = [store.add(job(i, **big)) for i in range(250)]
    small = store.add(job(300, cpu="1", queue=big.get("queue", "default")))
    assert place(placement(store, queues=queues)) == 1
    assert states(store, small) == ["dispatched"]
    assert set(states(store, *stuck)) == {"pending"}
    assert why(store, stuck[-1])[0] in ("NoCapacity", "QueueLimitReached")


def test_a_long_key_is_read_a_bounded_number_of_jobs_per_pass_then_on_from_there() -> None:
    from kjs.scheduler.streams import BATCH, DOMINATED_RUN, PAGES_PER_KEY

    store = FakeStore([cluster("c1", cpu="8")])
    stuck = BATCH * PAGES_PER_KEY + 50
    for i in range(stuck):
        store.add(job(i, cpu="64"))
    small = store.add(job(stuck + 100, cpu="1"))
    p = placement(store)
    reads = []
    for _ in range(stuck // DOMINATED_RUN + 2):
        pages = store.pages_read
        if place(p):
            break
        reads.append(store.pages_read - pages)
    # Each pass read a bounded part of the key (no more than its page budget), then the next
    # went on from there: the small one was reached.
    assert states(store, small) == ["dispatched"]
    assert reads and max(reads) <= PAGES_PER_KEY
    assert len(reads) <= stuck // DOMINATED_RUN + 1


def test_what_started_since_the_report_comes_from_the_store_for_a_new_leader() -> None:
    store = FakeStore([cluster("c1", cpu="2")])
    reported = store.clusters[0].resources
    assert reported is not None
    store.add(
        msgspec.structs.replace(
            job(0, cpu="1500m"), state=JobState.RUNNING, cluster_id="c1", started_at=now()
        )
    )  # started after the report, placed by a leader that is gone: not in the figures yet
    waiting = store.add(job(1, cpu="600m"))
    assert place(placement(store)) == 0
    assert why(store, waiting)[0] == "NoCapacity"
    # A report from after it started counts it: it fits.
    store.clusters = [cluster("c1", cpu="2")]
    for j in list(store.jobs.values()):
        if j.state == JobState.RUNNING:
            store.jobs[j.id] = msgspec.structs.replace(j, started_at=now() - dt.timedelta(hours=1))
    assert place(placement(store)) == 1


def test_a_job_started_just_before_the_report_is_counted_once() -> None:
    # Short jobs turn over faster than any margin: one that started a moment before the
    # report is in its figures, and is not taken off them again (the node fills up).
    store = FakeStore([cluster("c1", cpu="4")])  # 4 of 8 CPU free: the 4 below hold the rest
    reported = store.clusters[0].resources
    assert reported is not None
    for i in range(4):
        store.add(
            msgspec.structs.replace(
                job(i, cpu="1"),
                state=JobState.RUNNING,
                cluster_id="c1",
                dispatched_at=reported.at - dt.timedelta(seconds=2),
                started_at=reported.at - dt.timedelta(milliseconds=100),
            )
        )
    waiting = [store.add(job(10 + i, cpu="1")) for i in range(4)]
    assert place(placement(store)) == 4
    assert set(states(store, *waiting)) == {"dispatched"}


def test_a_job_whose_pods_are_not_running_yet_stays_counted_however_old_its_dispatch() -> None:
    store = FakeStore([cluster("c1", cpu="2")])
    long_ago = now() - dt.timedelta(minutes=10)
    store.add(
        msgspec.structs.replace(
            job(0, cpu="1500m"), state=JobState.CREATED, cluster_id="c1", dispatched_at=long_ago
        )
    )  # its pods may not be bound yet: the agent's figures do not count unbound pods
    waiting = store.add(job(1, cpu="600m"))
    assert place(placement(store)) == 0
    assert why(store, waiting)[0] == "NoCapacity"


def test_each_pod_placed_in_a_pass_comes_off_the_largest_free_node() -> None:
    store = FakeStore([cluster("c1", cpu="4", largest_cpu="1500m")])
    first, second = store.add(job(1, cpu="1")), store.add(job(2, cpu="1"))
    assert place(placement(store)) == 1
    assert states(store, first, second) == ["dispatched", "pending"]
    assert why(store, second)[0] == "NoCapacity"


def test_max_concurrent_jobs_holds_for_a_cluster_that_reports_resources_too() -> None:
    store = FakeStore([cluster("c1", cpu="8", capacity=1)])
    first, second = store.add(job(1, cpu="1")), store.add(job(2, cpu="1"))
    assert place(placement(store)) == 1
    assert states(store, first, second) == ["dispatched", "pending"]
    assert why(store, second) == (
        "NoCapacity",
        "needs 1 CPU, 128Mi memory; c1 is at max_concurrent_jobs 1",
    )


def test_figures_older_than_unreachable_after_s_are_not_trusted_pod_count_decides() -> None:
    stale = cluster("c1", cpu="1", capacity=1)
    assert stale.resources is not None
    old = msgspec.structs.replace(stale.resources, at=now() - dt.timedelta(seconds=31))
    store = FakeStore([msgspec.structs.replace(stale, resources=old)])
    first, second = store.add(job(1, cpu="4")), store.add(job(2, cpu="4"))
    assert place(placement(store)) == 1  # 4 CPU on "1 free": the old figure is not believed
    assert states(store, first, second) == ["dispatched", "pending"]
    assert why(store, second) == ("NoCapacity", "c1 is at max_concurrent_jobs 1")


def test_a_job_of_a_queue_that_no_longer_exists_stays_pending_saying_so() -> None:
    store = FakeStore([cluster("c1")])
    orphan = store.add(job(1, queue="etl"))
    other = store.add(job(2))
    assert place(placement(store)) == 1
    assert states(store, orphan, other) == ["pending", "dispatched"]
    assert why(store, orphan) == (
        "QueueNotFound",
        "queue etl does not exist: edit the job into another queue",
    )
