"""Group commit: the jobs submitted while the store is busy writing go in its next transaction.

One writer at a time, no timer: a submission that finds the writer idle is written at once, alone;
those that arrive while a transaction runs wait for it and then go together. Under load a
transaction carries many jobs, so the per-transaction costs (SQLite's write lock, MariaDB's log
flush, a thread hop) are paid once per group instead of once per job — and submissions never
queue on the database's lock. Each caller's answer comes only after its job's commit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kjs.core.protocols import Idempotency, IdempotencyConflict
from kjs.core.records import JobRecord

MAX_GROUP = 1000  # jobs in one transaction (a batch submit is at most this many on its own)

CreateJobs = Callable[[Sequence[tuple[JobRecord, Idempotency | None]]], list[JobRecord]]


@dataclass
class _Waiting:
    jobs: Sequence[tuple[JobRecord, Idempotency | None]]
    answer: asyncio.Future[list[JobRecord]]


class GroupCommit:
    """Writes jobs through `create_jobs` (the store's, run in a thread), grouping the callers
    that wait at the same time into one call."""

    def __init__(self, create_jobs: CreateJobs) -> None:
        self._create_jobs = create_jobs
        self._waiting: deque[_Waiting] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def create(self, jobs: Sequence[tuple[JobRecord, Idempotency | None]]) -> list[JobRecord]:
        """Store `jobs` (as `create_jobs` does: an idempotency scope stored before returns its
        job); returns once they are committed, in the order given."""
        answer: asyncio.Future[list[JobRecord]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(jobs, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="group commit")
        return await asyncio.shield(answer)  # a caller that gives up does not stop the write

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = [self._waiting.popleft()]
                size = len(group[0].jobs)
                while self._waiting and size + len(self._waiting[0].jobs) <= MAX_GROUP:
                    group.append(self._waiting.popleft())
                    size += len(group[-1].jobs)
                await self._commit(group)
        except asyncio.CancelledError:  # the server stops: nobody is left waiting for ever
            self._fail(list(self._waiting), ConnectionError("the server is stopping"))
            self._waiting.clear()
            raise
        finally:
            self._writer = None

    async def close(self) -> None:
        """Wait for what is being written (the server stops once requests have ended)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    @staticmethod
    def _fail(group: list[_Waiting], error: BaseException) -> None:
        for waiting in group:
            if not waiting.answer.done():
                waiting.answer.set_exception(error)

    async def _commit(self, group: list[_Waiting]) -> None:
        while group:
            jobs = [job for waiting in group for job in waiting.jobs]
            try:
                stored = await asyncio.to_thread(self._create_jobs, jobs)
            except IdempotencyConflict as e:
                # One caller's key was used for another request: that caller is told, as if it
                # had written alone; the rest of the group is written without it.
                first = 0
                for i, waiting in enumerate(group):
                    if e.index < first + len(waiting.jobs):
                        if not waiting.answer.done():
                            waiting.answer.set_exception(
                                IdempotencyConflict(e.index - first, e.job_id)
                            )
                        del group[i]
                        break
                    first += len(waiting.jobs)
                continue
            except BaseException as e:  # each caller gets the store's error, as if written alone
                self._fail(group, e if isinstance(e, Exception) else ConnectionError("stopping"))
                if not isinstance(e, Exception):
                    raise
                return
            start = 0
            for waiting in group:
                end = start + len(waiting.jobs)
                if not waiting.answer.done():
                    waiting.answer.set_result(stored[start:end])
                start = end
            return
