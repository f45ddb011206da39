"""The leader's due jobs in memory (kjs.scheduler.dueindex) answer as the store does — keys with
their counts in order, pages of a key, pages after a cursor — on both databases, as jobs are
placed, edited into another key, put back in line, delayed, and added, and only what changed is
read again."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from kjs.core.protocols import JobUpdate, PendingFeed
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.plugins.queue_memory import MemoryQueue
from kjs.scheduler.dispatcher import Dispatcher
from kjs.scheduler.dueindex import DueIndex
from kjs.scheduler.leader import PLACEMENT
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job
from tests.scheduler.test_gauges import Switch
from tests.scheduler.test_placement_limits import cluster, placement
from tests.scheduler.test_placement_limits import job as new_job
from tests.store.test_store_contract import migrated, store  # noqa: F401  (fixtures)

LATER = NOW + dt.timedelta(hours=1)


def routed(n: int, cluster: str | None, **changes: Any) -> JobRecord:
    job = make_job(n, **changes)
    return msgspec.structs.replace(job, spec=msgspec.structs.replace(job.spec, cluster=cluster))


def assert_same(index: DueIndex, db: SqlStore, at: dt.datetime) -> None:
    keys = db.due_placement_keys(at)
    assert index.due_placement_keys(at) == keys
    for key, count in keys:
        whole = db.due_jobs(at, 1_000, placement_key=key)
        assert index.due_jobs(at, 1_000, key) == whole and len(whole) == count
        assert index.due_pages(at, [(key, 2)]) == [whole[:2]]
        cursor = (whole[0].created_at, whole[0].id)
        assert index.due_jobs(at, 3, key, after=cursor) == db.due_jobs(
            at, 3, placement_key=key, after=cursor
        )


def test_the_index_answers_as_the_store_as_jobs_change(store: SqlStore) -> None:  # noqa: F811
    clusters = ["c1", "c2", None]
    jobs = [store.create_job(routed(n, clusters[n % 3])) for n in range(30)]
    later = store.create_job(routed(40, "c1", run_at=LATER + dt.timedelta(hours=1)))
    store.create_job(routed(41, "c2", state=JobState.RUNNING, cluster_id="c2"))
    feeds: list[PendingFeed] = []

    class Counted:
        def pending_since(self, after: int | None, limit: int) -> PendingFeed:
            feeds.append(store.pending_since(after, limit))
            return feeds[-1]

    index = DueIndex()
    index.refresh(Counted())
    assert len(index) == 31 and feeds[-1].snapshot
    assert_same(index, store, LATER)

    def change(job: JobRecord, **fields: Any) -> None:
        store.update_jobs([JobUpdate(job.id, lambda j: msgspec.structs.replace(j, **fields))])

    for job in jobs[:5]:  # placed
        change(job, state=JobState.DISPATCHED, cluster_id="c1")
    moved = jobs[10]  # edited into another key
    change(moved, spec=msgspec.structs.replace(moved.spec, cluster="c9"))
    change(jobs[1], state=JobState.PENDING, attempt=2, cluster_id=None)  # back in line, oldest
    store.create_job(routed(50, "c2"))
    index.refresh(Counted())
    assert not feeds[-1].snapshot and len(feeds[-1].jobs) == 3  # what changed, not all again
    assert len(index) == 31 - 4 + 1
    assert_same(index, store, LATER)
    # Time passes: the delayed job is due, and counted, without a read.
    after = LATER + dt.timedelta(hours=2)
    assert_same(index, store, after)
    due = [
        j.id for key, _ in index.due_placement_keys(after) for j in index.due_jobs(after, 50, key)
    ]
    assert later.id in due and later.id not in [
        j.id for key, _ in index.due_placement_keys(LATER) for j in index.due_jobs(LATER, 50, key)
    ]


def test_placement_reads_the_store_while_the_index_loads_then_only_the_index(
    store: SqlStore,  # noqa: F811
) -> None:
    store.upsert_cluster(cluster("c1", capacity=3))
    first = [store.create_job(new_job(n)) for n in range(2)]
    reads: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        method = getattr(store, name)

        def read(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            return method(*args, **kwargs)

        return read

    for name in ("due_placement_keys", "due_pages", "due_jobs"):
        setattr(store, name, counted(name))
    p = placement(store)

    async def passes() -> list[int]:
        placed = [await p.place_due()]  # the index starts loading: this pass reads the store
        assert reads and p._loading is not None
        await asyncio.wait([p._loading])
        reads.clear()
        later = store.create_job(new_job(5))
        placed.append(await p.place_due())  # from the index, the new job included
        assert store.get_job(later.id).state == JobState.DISPATCHED  # type: ignore[union-attr]
        await p.close()
        return placed

    assert asyncio.run(passes()) == [2, 1]
    assert reads == []  # nothing of the due jobs read from the database
    assert {store.get_job(j.id).state for j in first} == {JobState.DISPATCHED}  # type: ignore[union-attr]


def test_a_replica_that_loses_leadership_lets_the_due_jobs_go_and_loads_them_again_when_it_leads(
    store: SqlStore,  # noqa: F811
) -> None:
    store.upsert_cluster(cluster("c1", capacity=2))
    jobs = [store.create_job(new_job(n)) for n in range(4)]
    election = Switch(leading=True)
    components = dataclasses.replace(placement(store).c, election=election, queue=MemoryQueue())
    dispatcher = Dispatcher(components)

    def loaded() -> bool:  # the pending jobs in this replica's memory
        index = dispatcher.placement._index
        return index is not None and index.position is not None and len(index) > 0

    def empty() -> bool:
        index = dispatcher.placement._index
        return index is not None and index.position is None and len(index) == 0

    def dispatched() -> int:
        return sum(store.get_job(j.id).state == JobState.DISPATCHED for j in jobs)  # type: ignore[union-attr]

    async def until(holds: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not holds():
                dispatcher.wake(PLACEMENT)
                await asyncio.sleep(0.01)

    async def terms() -> None:
        await dispatcher.tasks.start()
        try:
            await until(loaded)
            election.set(False)
            await until(empty)
            store.upsert_cluster(cluster("c1", capacity=3))  # room: a pass that places loads
            election.set(True)
            await until(lambda: loaded() and dispatched() == 3)
        finally:
            await dispatcher.close()

    asyncio.run(terms())
    states = sorted(store.get_job(j.id).state for j in jobs)  # type: ignore[union-attr]
    assert states == [JobState.DISPATCHED] * 3 + [JobState.PENDING]
