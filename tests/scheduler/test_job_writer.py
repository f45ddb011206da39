"""Group commit: what arrives while the store writes goes in its next transaction, each caller
gets its own jobs back only after their commit, and a failed write fails only its own group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from kjs.core import group_commit
from kjs.core.protocols import Idempotency, IdempotencyConflict
from kjs.core.records import JobRecord
from kjs.scheduler.job_writer import JobWriter
from kjs.testing.contracts.store import make_job

Item = tuple[JobRecord, Idempotency | None]


class SlowStore:
    """`create_jobs` that holds each write until released, recording what each call carried."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.committed: set[str] = set()
        self.release = threading.Event()
        self.fail_next = False
        self.started = threading.Semaphore(0)

    def create_jobs(self, jobs: Sequence[Item]) -> list[JobRecord]:
        self.calls.append([job.id for job, _ in jobs])
        self.started.release()
        self.release.wait(5)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("MariaDB at db:3306 unreachable")
        self.committed.update(job.id for job, _ in jobs)
        return [job for job, _ in jobs]


class Creating:
    def __init__(self, create_jobs: object) -> None:
        self.create_jobs = create_jobs


async def write_began(store: SlowStore) -> None:
    assert await asyncio.to_thread(store.started.acquire, True, 5), "no write began"


async def test_a_lone_job_is_written_at_once_and_those_arriving_meanwhile_together() -> None:
    store = SlowStore()
    writer = JobWriter(store)  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)  # written alone, without waiting for company
    later = [asyncio.create_task(writer.write([(make_job(n), None)])) for n in range(1, 6)]
    await asyncio.sleep(0.01)
    assert not first.done(), "answered before its commit"
    store.release.set()
    answers = await asyncio.gather(first, *later)
    assert [len(call) for call in store.calls] == [1, 5]
    for answer in answers:  # each caller gets its own job, committed
        assert len(answer) == 1 and answer[0].id in store.committed
    assert [a[0].id for a in answers[1:]] == store.calls[1]


async def test_a_failed_write_fails_its_group_and_the_next_one_goes_on() -> None:
    store = SlowStore()
    store.fail_next = True
    writer = JobWriter(store)  # type: ignore[arg-type]
    doomed = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)
    fine = asyncio.create_task(writer.write([(make_job(1), None)]))
    store.release.set()
    with pytest.raises(ConnectionError, match="unreachable"):
        await doomed
    assert len(await fine) == 1 and store.committed == {(await fine)[0].id}


async def test_a_group_never_exceeds_the_limit_and_a_batch_is_never_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_commit, "MAX_GROUP", 4)
    store = SlowStore()
    writer = JobWriter(store)  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)
    batches = [[(make_job(10 * b + n), None) for n in range(3)] for b in range(3)]
    waiting = [asyncio.create_task(writer.write(batch)) for batch in batches]
    await asyncio.sleep(0.01)
    store.release.set()
    await first
    answers = await asyncio.gather(*waiting)
    assert [len(call) for call in store.calls] == [1, 3, 3, 3]
    assert [[job.id for job in answer] for answer in answers] == [
        [job.id for job, _ in batch] for batch in batches
    ]


async def test_a_caller_that_gives_up_does_not_stop_the_others_write() -> None:
    store = SlowStore()
    writer = JobWriter(store)  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)
    first.cancel()  # the client went away: its job is written anyway (it was accepted)
    other = asyncio.create_task(writer.write([(make_job(1), None)]))
    store.release.set()
    await other
    await writer.close()
    assert len(store.committed) == 2


async def test_a_key_conflict_fails_only_its_caller_and_the_rest_of_the_group_is_written() -> None:
    store = SlowStore()
    conflicting = make_job(7)
    real_create = store.create_jobs

    def create_jobs(jobs: Sequence[Item]) -> list[JobRecord]:
        ids = [job.id for job, _ in jobs]
        if conflicting.id in ids:  # as the store answers: nothing of the call is stored
            store.calls.append(ids)
            raise IdempotencyConflict(ids.index(conflicting.id), "held-by-another-request")
        return real_create(jobs)

    writer = JobWriter(Creating(create_jobs))  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)
    before = asyncio.create_task(writer.write([(make_job(1), None), (make_job(2), None)]))
    doomed = asyncio.create_task(writer.write([(make_job(3), None), (conflicting, None)]))
    after = asyncio.create_task(writer.write([(make_job(4), None)]))
    await asyncio.sleep(0.01)
    store.release.set()
    await first
    with pytest.raises(IdempotencyConflict) as refused:
        await doomed
    assert refused.value.index == 1, "the index is the caller's own"
    assert [len(await before), len(await after)] == [2, 1]
    assert len(store.committed) == 4 and conflicting.id not in store.committed


async def test_an_error_of_one_callers_rows_fails_that_caller_only() -> None:
    store = SlowStore()
    bad = make_job(66)
    real_create = store.create_jobs

    def create_jobs(jobs: Sequence[Item]) -> list[JobRecord]:
        if any(job.id == bad.id for job, _ in jobs):  # e.g. a value the database refuses
            raise ValueError("Data too long for column 'name'")
        return real_create(jobs)

    writer = JobWriter(Creating(create_jobs))  # type: ignore[arg-type]
    first = asyncio.create_task(writer.write([(make_job(0), None)]))
    await write_began(store)
    a = asyncio.create_task(writer.write([(make_job(1), None)]))
    doomed = asyncio.create_task(writer.write([(bad, None)]))
    c = asyncio.create_task(writer.write([(make_job(2), None)]))
    await asyncio.sleep(0.01)
    store.release.set()
    await first
    with pytest.raises(ValueError, match="Data too long"):
        await doomed
    assert [len(await a), len(await c)] == [1, 1]
    assert bad.id not in store.committed and len(store.committed) == 3
