"""Fair share: when jobs of several queues wait, the next job placed comes from the queue whose
placed jobs hold the lowest dominant share of the clusters (CPU or memory, whichever share is
larger; slots when no cluster reports figures) ÷ its weight. On a fake of our own store protocol,
with the real least-load balancer (tests/scheduler/test_placement_limits.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

import msgspec
import pytest

from kjs.core.clock import now
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.scheduler import placement as placement_module
from tests.scheduler.test_placement_limits import FakeStore, cluster, job, place, placement

WEIGHTS = {"a": {"weight": 1}, "b": {"weight": 3}}


def placed_by_queue(store: FakeStore) -> Counter[str]:
    return Counter(j.spec.queue for j in store.jobs.values() if j.state != JobState.PENDING)


def test_weights_1_to_3_split_an_8_cpu_cluster_2_to_6() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    for i in range(10):  # a's jobs are older: oldest-first alone would give a all 8
        store.add(job(i, queue="a", cpu="1"))
    for i in range(10):
        store.add(job(100 + i, queue="b", cpu="1"))
    assert place(placement(store, queues=WEIGHTS)) == 8
    assert placed_by_queue(store) == {"a": 2, "b": 6}


def test_what_a_queue_already_holds_counts_against_it() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    # The cluster reports 4 CPU free: a's 4 jobs, running since before the report, hold the rest.
    store.clusters = [cluster("c1", cpu="4")]
    for i in range(4):
        running = job(i, queue="a", cpu="1")
        started = now() - dt.timedelta(minutes=5)
        store.add(
            msgspec.structs.replace(
                running, state=JobState.RUNNING, cluster_id="c1", started_at=started
            )
        )
    waiting_a = [store.add(job(10 + i, queue="a", cpu="1")) for i in range(4)]
    waiting_b = [store.add(job(20 + i, queue="b", cpu="1")) for i in range(4)]
    assert place(placement(store, queues={"a": {}, "b": {}})) == 4
    assert [store.jobs[j.id].state for j in waiting_b] == [JobState.DISPATCHED] * 4
    assert {store.jobs[j.id].state for j in waiting_a} == {JobState.PENDING}


def test_a_queue_alone_uses_everything() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    for i in range(20):
        store.add(job(i, queue="a", cpu="1"))
    assert place(placement(store, queues=WEIGHTS)) == 8
    assert placed_by_queue(store) == {"a": 8}


def test_the_dominant_resource_is_whichever_share_is_larger() -> None:
    # 8 CPU, 32Gi: a's jobs ask 1 CPU (1/8) and 1Gi (1/32), b's 100m (1/80) and 8Gi (1/4):
    # a's share is its CPU, b's its memory. Equal weights: b's jobs count twice as much.
    store = FakeStore([cluster("c1", cpu="8", memory="32Gi")])
    for i in range(10):
        store.add(job(i, queue="a", cpu="1", memory="1Gi"))
        store.add(job(100 + i, queue="b", cpu="100m", memory="8Gi"))
    place(placement(store, queues={"a": {}, "b": {}}))
    # Shares as placed: a .125, b .25, a .25, a .375, b .5, a .5, a .625, b .75, a .75, a .875;
    # then neither fits (b's 8Gi: 31Gi of 32Gi taken; a's 1 CPU: 7.3 of 8 taken).
    assert placed_by_queue(store) == {"a": 7, "b": 3}


def test_clusters_without_figures_are_shared_by_slots() -> None:
    store = FakeStore([cluster("c1", capacity=8)])
    for i in range(10):
        store.add(job(i, queue="a"))
        store.add(job(100 + i, queue="b"))
    assert place(placement(store, queues={"a": {}, "b": {}})) == 8
    assert placed_by_queue(store) == {"a": 4, "b": 4}


def test_a_queue_at_its_limit_leaves_its_share_to_the_others() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    for i in range(10):
        store.add(job(i, queue="a", cpu="1"))
        store.add(job(100 + i, queue="b", cpu="1"))
    queues = {"a": {"weight": 3, "limits": {"max_running": 2}}, "b": {"weight": 1}}
    assert place(placement(store, queues=queues)) == 8
    assert placed_by_queue(store) == {"a": 2, "b": 6}


def test_a_pass_places_a_long_key_past_its_first_page() -> None:
    store = FakeStore([cluster("c1", capacity=1_000)])
    for i in range(450):
        store.add(job(i))
    p = placement(store)
    assert place(p) == 450  # not a page of 200 and then a wait for the next wake-up
    assert not p.unfinished


def test_a_pass_stops_at_its_placement_budget_and_asks_for_another_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(placement_module, "PASS_PLACEMENTS", 100)
    store = FakeStore([cluster("c1", capacity=1_000)])
    for i in range(150):
        store.add(job(i, queue="a" if i % 2 else "b"))
    p = placement(store, queues={"a": {}, "b": {}})
    assert place(p) == 100
    assert p.unfinished
    assert placed_by_queue(store) == {"a": 50, "b": 50}
    assert place(p) == 50
    assert not p.unfinished


def test_within_a_queue_higher_priorities_go_first_then_the_oldest() -> None:
    store = FakeStore([cluster("c1", capacity=3)])
    old = [store.add(job(i, queue="a")) for i in range(3)]  # priority 0, oldest
    urgent = [
        store.add(msgspec.structs.replace(job(10 + i, queue="a"), priority=100)) for i in range(2)
    ]
    later = store.add(msgspec.structs.replace(job(20, queue="a"), priority=100))
    assert place(placement(store, queues={"a": {}})) == 3
    assert [store.jobs[j.id].state for j in [*urgent, later]] == [JobState.DISPATCHED] * 3
    assert {store.jobs[j.id].state for j in old} == {JobState.PENDING}


def count_first_page_reads(store: FakeStore) -> list[int]:
    """The keys each `due_pages` call of the store reads, as the calls come."""
    reads: list[int] = []
    due_pages = store.due_pages

    def counted(at: dt.datetime, pages: Sequence[tuple[str | None, int]]) -> list[list[JobRecord]]:
        reads.append(len(pages))
        return due_pages(at, pages)

    store.due_pages = counted  # type: ignore[method-assign]
    return reads


def test_many_small_keys_are_read_several_at_a_time() -> None:
    # 40 keys of one job each (a route each): their first pages come 16 to a read.
    store = FakeStore([cluster(f"c{i}", capacity=10) for i in range(40)])
    for i in range(40):
        store.add(job(i, queue="a", cluster=f"c{i}"))
    reads = count_first_page_reads(store)
    assert place(placement(store, queues={"a": {}})) == 40
    assert reads == [16, 16, 8]
    assert store.pages_read == 40  # one page each, read in three calls


def test_the_first_keys_of_many_queues_are_read_several_at_a_time() -> None:
    # 40 queues taking turns (fair share): each queue's first key comes with 15 other queues'.
    store = FakeStore([cluster("c1", capacity=1_000)])
    names = [f"q{i:02}" for i in range(40)]
    for n, name in enumerate(names):
        for i in range(3):
            store.add(job(100 * n + i, queue=name))
    reads = count_first_page_reads(store)
    assert place(placement(store, queues={name: {} for name in names})) == 120
    assert reads == [16, 16, 8]
    assert placed_by_queue(store) == dict.fromkeys(names, 3)
