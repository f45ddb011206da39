"""Group commit: what callers ask to write while the store is busy writing goes in its next
transaction.

One writer at a time, no timer: a write that finds the writer idle goes at once, alone; those
that arrive while a transaction runs wait for it and then go together. Under load a transaction
carries many items, so the per-transaction costs (SQLite's write lock, MariaDB's log flush, a
thread hop) are paid once per group instead of once per item — and callers never queue on the
database's lock. Each caller's answer comes only after its items' commit.

Used for jobs (`kjs.scheduler.service`) and by plugins for rows of their own (compat's records).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_GROUP = 1000  # items in one transaction (one caller's items are never split)


@dataclass
class _Waiting(Generic[T, R]):
    items: Sequence[T]
    answer: asyncio.Future[list[R]]


class GroupCommit(Generic[T, R]):
    """Writes through `write_many` (run in a thread: one transaction, one result per item, in
    order), grouping the callers that wait at the same time into one call."""

    def __init__(self, write_many: Callable[[Sequence[T]], list[R]]) -> None:
        self._write_many = write_many
        self._waiting: deque[_Waiting[T, R]] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def write(self, items: Sequence[T]) -> list[R]:
        """Write `items` with those of whoever else is waiting; returns their results, in order,
        once committed. An error is the error of the caller whose items caused it (`isolate`,
        or each caller written alone once more), as if it had written alone."""
        answer: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(items, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="group commit")
        return await asyncio.shield(answer)  # a caller that gives up does not stop the write

    def isolate(
        self, error: Exception, group: Sequence[Sequence[T]]
    ) -> tuple[int, Exception] | None:
        """For an error that one caller's items caused (and that wrote nothing): which caller
        (its place in `group`) and the error it gets; the others are written without it.
        None: the error is everyone's. Subclasses say which errors are one caller's."""
        return None

    async def close(self) -> None:
        """Wait for what is being written (the server stops once requests have ended)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        group: list[_Waiting[T, R]] = []
        try:
            while self._waiting:
                group = [self._waiting.popleft()]
                size = len(group[0].items)
                while self._waiting and size + len(self._waiting[0].items) <= MAX_GROUP:
                    group.append(self._waiting.popleft())
                    size += len(group[-1].items)
                await self._commit(group)
        finally:
            # Stopping (cancelled), or a bug here: nobody is left waiting for ever.
            self._fail([*group, *self._waiting], ConnectionError("the server is stopping"))
            self._waiting.clear()
            self._writer = None

    async def _commit(self, group: list[_Waiting[T, R]]) -> None:
        while group:
            try:
                results = await asyncio.to_thread(
                    self._write_many, [item for waiting in group for item in waiting.items]
                )
            except Exception as e:
                blamed = self.isolate(e, [waiting.items for waiting in group])
                if blamed is not None:
                    place, error = blamed
                    self._fail([group.pop(place)], error)
                    continue
                if len(group) == 1:
                    self._fail(group, e)
                    return
                # Whose is it? Each caller written alone, as without grouping: one caller's bad
                # row (or a database hiccup) fails that caller's write only.
                for waiting in group:
                    await self._commit([waiting])
                return
            start = 0
            for waiting in group:
                end = start + len(waiting.items)
                if not waiting.answer.done():
                    waiting.answer.set_result(results[start:end])
                start = end
            return

    @staticmethod
    def _fail(group: list[_Waiting[T, R]], error: BaseException) -> None:
        for waiting in group:
            if not waiting.answer.done():
                waiting.answer.set_exception(error)
