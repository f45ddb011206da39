"""Preemption in the placement pass, on the fake store of test_placement_limits (with what
preemption reads and writes besides): which jobs make room for a job that fits nowhere, and when
none may."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from kjs.core import messages, metrics
from kjs.core.clock import now
from kjs.core.protocols import JobUpdate
from kjs.core.records import ClusterRecord, JobRecord
from kjs.core.states import JobState
from kjs.scheduler import preemption
from kjs.scheduler.placement import Placement
from tests.scheduler.test_placement_limits import FakeStore, cluster, job, place, placement

CLASSES = {
    "low": {"value": -100, "preemptible": True},
    "mid": {"value": -50, "preemptible": True},
    "steady": {"value": -100},  # not preemptible
    "high": {"value": 100},
}
VALUES = {name: table["value"] for name, table in CLASSES.items()}


class Store(FakeStore):
    """The fake store, with the reads preemption makes."""

    def __init__(self, clusters: list[ClusterRecord]) -> None:
        super().__init__(clusters)
        self.lists = 0

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def list_jobs(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        state: str | None = None,
        cluster_id: str | None = None,
        **_: Any,
    ) -> tuple[list[JobRecord], str | None]:
        self.lists += 1
        found = [
            j
            for j in sorted(self.jobs.values(), key=lambda j: (j.created_at, j.id))
            if (state is None or j.state == state) and (cluster_id in (None, j.cluster_id))
        ]
        start = int(cursor or 0)
        page = found[start : start + limit]
        return page, str(start + limit) if start + limit < len(found) else None

    def update_job(self, job_id: str, change: Any, *_: Any) -> Any:
        return self.update_jobs([JobUpdate(job_id, change)])[0]


def running(
    store: Store, n: int, cluster_id: str = "c1", *, cls: str = "low", cpu: str = "1", **spec: Any
) -> JobRecord:
    """A job of class `cls` running on the cluster, started `n` minutes ago plus n seconds (a
    higher n: started later), before the cluster's figures were reported (they count it)."""
    started = now() - dt.timedelta(minutes=30) + dt.timedelta(seconds=n)
    found = job(n, cpu=cpu, memory="64Mi", priority_class=cls, **spec)
    return store.add(
        msgspec.structs.replace(
            found,
            state=JobState.RUNNING,
            cluster_id=cluster_id,
            started_at=started,
            priority=VALUES[cls],
        )
    )


def pending(store: Store, n: int, *, cls: str = "high", cpu: str = "2", **spec: Any) -> JobRecord:
    found = job(n, cpu=cpu, memory="64Mi", priority_class=cls, **spec)
    return store.add(msgspec.structs.replace(found, priority=VALUES[cls]))


def full_node(store: Store, jobs: int = 8, cls: str = "low") -> list[JobRecord]:
    """c1's 8 CPU held by `jobs` running 1-CPU jobs (8 CPU, minus theirs, free)."""
    return [running(store, i, cls=cls) for i in range(jobs)]


def preempting(**scheduling: Any) -> dict[str, Any]:
    return {"priority_classes": CLASSES, **scheduling}


def state_of(store: Store, *jobs: JobRecord) -> list[str]:
    return [store.jobs[j.id].state.value for j in jobs]


def victims(store: Store) -> set[str]:
    return {j.id for j in store.jobs.values() if preemption.preempted(j)}


def confirm(store: Store, *jobs: JobRecord, ended: JobState = JobState.CANCELLED) -> None:
    """What the consumer does with each victim's final status."""
    for j in jobs:
        store.jobs[j.id] = preemption.requeued(store.jobs[j.id], ended, now())


def report(store: Store, **figures: Any) -> None:
    """c1's agent reports its figures anew (after the victims' pods are gone)."""
    fresh = cluster("c1", **figures)
    assert fresh.resources is not None
    at = now()
    store.clusters = [
        msgspec.structs.replace(fresh, resources=msgspec.structs.replace(fresh.resources, at=at))
    ]


def test_the_latest_started_of_the_lowest_priority_make_room_and_the_job_waits_for_them() -> None:
    store = Store([cluster("c1", cpu="0")])
    low = full_node(store)
    urgent = pending(store, 100)
    counted = metrics.QUEUE_PREEMPTIONS.labels(queue="default")._value.get()
    p = placement(store, **preempting())
    assert place(p) == 0
    assert victims(store) == {low[7].id, low[6].id}  # the two started last
    for v in (low[6], low[7]):
        found = store.jobs[v.id]
        assert (found.reason, found.attempt) == ("Preempted", 1)
        assert found.message == (
            f"preempted by job {urgent.id} (priority 100, queue default) to make room on cluster c1"
        )
    # Each victim's cancel goes to its cluster's agent, with the state change.
    controls = [messages.decode(body) for _, body in store.outbox]
    assert {
        (c.action, c.job_id, c.attempt) for c in controls if isinstance(c, messages.Control)
    } == {
        ("cancel", low[6].id, 1),
        ("cancel", low[7].id, 1),
    }
    assert {topic for topic, _ in store.outbox} == {messages.control_topic("c1")}
    reason, message = store.jobs[urgent.id].reason, store.jobs[urgent.id].message
    assert reason == "Preempting" and message is not None
    assert low[7].id in message and low[6].id in message
    assert metrics.QUEUE_PREEMPTIONS.labels(queue="default")._value.get() == counted + 2
    # While they are being cancelled, the room is not there: nothing more is preempted.
    assert place(p) == 0 and len(victims(store)) == 2
    assert store.jobs[urgent.id].state == JobState.PENDING
    # Confirmed, and reported free: the preemptor goes there, not a victim back in line.
    confirm(store, low[6], low[7])
    report(store, cpu="2")
    assert place(p) == 1
    assert state_of(store, urgent, low[6], low[7]) == ["dispatched", "pending", "pending"]
    assert store.jobs[low[6].id].attempt == 2


def test_the_fewest_jobs_that_make_room_and_none_when_even_all_would_not() -> None:
    store = Store([cluster("c1", cpu="0")])
    small = running(store, 1, cpu="500m")
    big = running(store, 2, cpu="3")
    mid_small = running(store, 3, cls="mid", cpu="500m")
    urgent = pending(store, 100, cpu="3")
    p = placement(store, **preempting())
    place(p)
    # Lowest first (small, big) until 3 CPU is covered; small is then spared: big alone does.
    assert victims(store) == {big.id}
    assert state_of(store, small, mid_small) == ["running", "running"]
    assert store.jobs[urgent.id].reason == "Preempting"

    store = Store([cluster("c1", cpu="0")])
    running(store, 1, cpu="1")
    huge = pending(store, 100, cpu="4")
    place(placement(store, **preempting()))
    assert victims(store) == set()  # 1 CPU would not make room for 4
    assert store.jobs[huge.id].reason == "NoCapacity"


def test_never_a_job_of_equal_or_higher_priority_nor_one_not_preemptible() -> None:
    store = Store([cluster("c1", cpu="0")])
    for i in range(4):
        running(store, i, cls="high")  # equal priority, and not preemptible either
    for i in range(4, 8):
        running(store, i, cls="steady")  # lower, not preemptible
    urgent = pending(store, 100)
    place(placement(store, **preempting()))
    assert victims(store) == set()
    assert store.jobs[urgent.id].reason == "NoCapacity"

    store = Store([cluster("c1", cpu="0")])
    full_node(store, cls="mid")
    lowly = pending(store, 100, cls="low")  # lower than what runs
    same = pending(store, 101, cls="mid")  # equal
    place(placement(store, **preempting()))
    assert victims(store) == set()
    assert state_of(store, lowly, same) == ["pending", "pending"]


def test_a_job_without_a_class_takes_its_queues_and_a_queue_can_switch_preemption_off() -> None:
    store = Store([cluster("c1", cpu="0")])
    for i in range(8):  # of the batch queue's class (low, preemptible), naming none themselves
        running(store, i, cls="low", queue="batch")
        store.jobs = {
            k: msgspec.structs.replace(j, spec=msgspec.structs.replace(j.spec, priority_class=None))
            for k, j in store.jobs.items()
        }
    calm = pending(store, 100, queue="calm")
    queues = {
        "batch": {"priority_class": "low"},
        "calm": {"preemption": False},
        "urgent": {},
    }
    p = placement(store, **preempting(queues=queues))
    place(p)
    assert victims(store) == set()  # calm's jobs never preempt
    assert store.jobs[calm.id].reason == "NoCapacity"
    urgent = pending(store, 101, queue="urgent")
    place(p)
    assert len(victims(store)) == 2  # the batch queue's jobs are preemptible through it
    assert store.jobs[urgent.id].reason == "Preempting"
    assert store.jobs[calm.id].reason == "NoCapacity"


def test_one_preemption_per_cluster_in_flight_even_for_a_new_leader() -> None:
    store = Store([cluster("c1", cpu="0")])
    full_node(store)
    first = pending(store, 100)
    p = placement(store, **preempting())
    place(p)
    assert len(victims(store)) == 2
    second = pending(store, 101)
    place(p)
    assert len(victims(store)) == 2  # c1's room is already coming: no more victims for it
    assert store.jobs[second.id].reason == "NoCapacity"
    # A new leader does not know this one's preemption: it sees the jobs being cancelled.
    place(placement(store, **preempting()))
    assert len(victims(store)) == 2
    assert store.jobs[first.id].state == JobState.PENDING


def test_clusters_without_figures_make_room_by_slots() -> None:
    store = Store([cluster("c1", capacity=3)])  # no resource figures: max_concurrent_jobs
    low = [running(store, i) for i in range(3)]
    urgent = pending(store, 100, cpu="64")  # its size is not judged here
    p = placement(store, **preempting())
    assert place(p) == 0
    assert victims(store) == {low[2].id}  # one slot: the latest started
    confirm(store, low[2])
    assert place(p) == 1
    assert state_of(store, urgent, low[2]) == ["dispatched", "pending"]


def test_the_freed_room_is_kept_for_the_preemptor_whatever_the_queues_shares() -> None:
    store = Store([cluster("c1", cpu="0")])
    low = full_node(store)
    urgent = pending(store, 100, queue="zz")  # fair share serves queue "aa" first (a tie)
    eager = pending(store, 50, cls="steady", queue="aa", cpu="2")
    p = placement(store, **preempting(queues={"aa": {}, "zz": {}}))
    place(p)
    assert victims(store) == {low[6].id, low[7].id}
    assert state_of(store, eager) == ["pending"]
    confirm(store, low[6], low[7])
    report(store, cpu="2")
    assert place(p) == 1
    assert state_of(store, urgent, eager) == ["dispatched", "pending"]


def test_the_preemptor_says_preempting_again_when_its_keys_reason_is_rewritten() -> None:
    store = Store([cluster("c1", cpu="0")])
    full_node(store)
    urgent = pending(store, 100)
    p = placement(store, **preempting())
    place(p)
    assert store.jobs[urgent.id].reason == "Preempting"
    # A newcomer of its key, and the key's reason written whole again (as every
    # REASON_REFRESH_S): the newcomer waits for room, the preemptor is preempting.
    later = pending(store, 101)
    p._said.clear()
    place(p)
    assert store.jobs[later.id].reason == "NoCapacity"
    assert store.jobs[urgent.id].reason == "Preempting"


def test_nothing_is_read_for_preemption_without_a_preemptible_class() -> None:
    store = Store([cluster("c1", cpu="0")])
    full_node(store)
    pending(store, 100)
    p: Placement = placement(store, priority_classes={"high": {"value": 100}, "low": {"value": -1}})
    place(p)
    place(p)
    assert store.lists == 0 and victims(store) == set()


def test_the_next_job_of_a_key_preempts_on_another_cluster_the_next_pass() -> None:
    store = Store([cluster("c1", cpu="0"), cluster("c2", cpu="0")])
    for c in ("c1", "c2"):
        for i in range(8):
            running(store, i, c)
    first, second = pending(store, 100), pending(store, 101)
    p = placement(store, **preempting())
    place(p)
    assert len(victims(store)) == 2
    assert (store.jobs[first.id].reason, store.jobs[second.id].reason) == (
        "Preempting",
        "NoCapacity",
    )
    place(p)
    taken = [store.jobs[v] for v in victims(store)]
    assert len(taken) == 4 and {j.cluster_id for j in taken} == {"c1", "c2"}
    assert store.jobs[second.id].reason == "Preempting"
