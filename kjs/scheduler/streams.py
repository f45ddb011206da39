"""A placement key's due jobs as one placement pass takes them (kjs.scheduler.placement): read a
page at a time, oldest first, only as far as the pass gets — a key whose queue is served rarely
(fair share) costs a page, not its whole line.

The first page is always the key's oldest jobs; later pages go on from where the last pass
stopped reading (`resume`), so every job of a long key is looked at in turn. A pass reads at most
PAGES_PER_KEY pages of a key; one that is closed (nothing more of it can be placed now) is read no
further.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from kjs.core.records import JobRecord
from kjs.core.requests import Requests
from kjs.core.routing import Group

BATCH = 200  # jobs a page, once a key keeps being read
# The first pages of a key judged by its key are smaller: with fair share a pass takes a few
# jobs of many keys, and a page costs the decoding of every job on it.
FIRST_PAGES = (25, 100)
# Pages of a key's due jobs one pass reads at most: jobs that fit nowhere (too big for every
# cluster, or for their queue's remaining max_cpu) cost a pass a page each, but do not hide the
# smaller ones behind them; past it, the next pass goes on from there.
PAGES_PER_KEY = 10

Cursor = tuple[dt.datetime, str]  # (created_at, id) of the last job read
Why = tuple[str, str]


class DueJobs(Protocol):
    """What a stream reads (a part of `kjs.core.protocols.JobStore`)."""

    def due_jobs(
        self, now: dt.datetime, limit: int, placement_key: str | None = ..., *, after: Cursor | None
    ) -> list[JobRecord]: ...

    def due_pages(
        self, now: dt.datetime, pages: Sequence[tuple[str | None, int]]
    ) -> list[list[JobRecord]]: ...


PREFETCH = 16  # first pages one read brings: the stream's and other queues' next ones
# Jobs in a row no smaller than one of the key that found no room: past it, the key ends for this
# pass, and the next pass goes on from there (smaller ones further on are reached in turn).
DOMINATED_RUN = 400


class FirstPages:
    """The first pages of a pass's keys, read several at a time: when a key judged by its key
    needs its first page, the next key of each other queue not read yet comes in the same call
    (`Store.due_pages`, one statement), then, room left, its own queue's next keys. Fair share
    takes a few jobs of every queue in turn, and a queue's first key usually gives it all its
    turns of a pass: a pass over Q queues costs about Q / PREFETCH reads, not one per queue;
    many small keys of one queue (a route each) cost one read per PREFETCH keys."""

    def __init__(
        self, store: DueJobs, at: dt.datetime, open_: Callable[[KeyStream], bool] = lambda s: True
    ) -> None:
        self.store, self.at = store, at
        self.open = open_  # whether a key may take jobs now (else it is not read ahead)
        self._unread: dict[str, list[KeyStream]] = {}  # per queue, in the order registered
        self._read: dict[int, list[JobRecord]] = {}  # id(stream): its first page

    def register(self, stream: KeyStream) -> None:
        if stream.group is not None and stream.key is not None:
            self._unread.setdefault(stream.queue, []).append(stream)

    async def first_page(self, stream: KeyStream) -> list[JobRecord]:
        if (page := self._read.pop(id(stream), None)) is not None:
            return page
        batch = [stream]
        for unread in self._unread.values():
            if len(batch) >= PREFETCH:
                break
            if (head := _next_of(unread, stream)) is not None and self.open(head):
                batch.append(head)
        # Room left: the queue's own next keys (many small keys of one queue, a route each).
        own = [s for s in self._unread.get(stream.queue, ()) if s is not stream and self.open(s)]
        own.sort(key=lambda s: -_priority(s))  # (stable: the oldest first within a priority)
        batch += own[: PREFETCH - len(batch)]
        pages = await asyncio.to_thread(
            self.store.due_pages, self.at, [(s.key, FIRST_PAGES[0]) for s in batch]
        )
        for s, page in zip(batch, pages, strict=True):
            self._unread[s.queue].remove(s)
            self._read[id(s)] = page
        return self._read.pop(id(stream))


def _next_of(unread: list[KeyStream], besides: KeyStream) -> KeyStream | None:
    """The key of a queue the pass takes next (its highest priority, then the oldest), if it is
    not `besides` (nor of its queue: that one is being read)."""
    best: KeyStream | None = None
    for s in unread:
        if s.queue == besides.queue:
            return None
        if best is None or _priority(s) > _priority(best):
            best = s
    return best


def _priority(stream: KeyStream) -> int:
    return stream.group.priority if stream.group is not None else 0


class KeyStream:
    """One key's due jobs in this pass, and what became of them."""

    def __init__(
        self,
        key: str | None,
        count: int,
        queue: str,
        group: Group | None,
        resume: Cursor | None,
        first_pages: FirstPages | None = None,
    ) -> None:
        self.key, self.count, self.queue, self.group = key, count, queue, group
        self._resume = resume
        self._first_pages = first_pages
        if first_pages is not None:
            first_pages.register(self)
        self._page: list[JobRecord] = []
        self._next = 0  # index of the next job of the page
        self._pages = 0
        self._size = BATCH  # of the page last read
        self.placed = 0
        self.why: Why | None = None  # why the first job left pending waits
        self.closed = False  # nothing more of it is placed in this pass
        # A job of the current page was refused for something else than its size (the next
        # page would be refused alike): the key ends with this page.
        self.last_page = False
        self.stopped_at: Cursor | None = None  # page budget spent here: the next pass goes on
        # What depends on the key alone, asked of the pass's view once (at its first job):
        # whether a limit may stop its jobs, and whether a cluster it may go to reports figures.
        self.limited: bool | None = None
        self.by_size: bool | None = None
        # A key a plugin judges job by job: the view as it was first shown the key.
        self.seen: Hashable = None
        # Preemption (kjs.scheduler.preemption): whether its jobs may preempt, and the first of
        # them that found no room for want of it (with what it asks).
        self.may_preempt = False
        self.short: tuple[JobRecord, Requests] | None = None
        # The smallest of what jobs of the key that found no room asked (`_sizes`), and how many
        # jobs in a row since asked no less (`dominated`).
        self._smallest: tuple[float, ...] | None = None
        self._run = 0

    async def next_job(self, store: DueJobs, at: dt.datetime) -> JobRecord | None:
        """The key's next due job, reading a page when the last one is done; None when the key
        is done for this pass (closed, read to its end, or its page budget spent)."""
        if self.closed:
            return None
        if self._next < len(self._page):
            job = self._page[self._next]
            self._next += 1
            return job
        if self._pages and (self.last_page or len(self._page) < self._size):
            self.closed = True  # the rest waits as this page did (or there is none)
            return None
        cursor = (self._page[-1].created_at, self._page[-1].id) if self._page else None
        if self._pages >= PAGES_PER_KEY:
            self.closed, self.stopped_at = True, cursor
            return None
        if self._pages == 1 and self._resume is not None and cursor and self._resume > cursor:
            cursor = self._resume
        # (A key a plugin judges job by job reads whole pages: its jobs are asked about even
        # when their route is full, and it ends at its first page that places none.)
        small = self.group is not None and self._pages < len(FIRST_PAGES)
        self._size = FIRST_PAGES[self._pages] if small else BATCH
        if small and self._pages == 0 and self._first_pages is not None:
            self._page = await self._first_pages.first_page(self)
        else:
            self._page = await asyncio.to_thread(
                store.due_jobs, at, self._size, placement_key=self.key, after=cursor
            )
        self._pages += 1
        self._next = 0
        if not self._page:
            self.closed = True
            return None
        return await self.next_job(store, at)

    @property
    def needs_page(self) -> bool:
        """Whether its next job takes a read (its page is done, and it is not closed)."""
        return not self.closed and self._next >= len(self._page)

    def dominated(self, job: JobRecord, need: Requests) -> bool:
        """Whether the job asks, in total and per pod, at least what a job of the key that found
        no room in this pass asked (room only shrinks during a pass: it finds none either).
        After DOMINATED_RUN such jobs in a row the key ends here for this pass."""
        smallest = self._smallest
        if smallest is None or any(
            mine < theirs for mine, theirs in zip(_sizes(need), smallest, strict=True)
        ):
            self._run = 0
            return False
        self._run += 1
        if self._run >= DOMINATED_RUN:
            self.closed, self.stopped_at = True, (job.created_at, job.id)
        return True

    def refuse(self, why: Why, *, key_wide: bool, need: Requests | None = None) -> None:
        """A job of the key stays pending for `why`: `key_wide`, the key's other jobs would too
        (then a key judged by its key alone is closed; one a plugin judges job by job reads no
        further page). `need`: it found no room for its size (what it asks)."""
        if need is not None and self.group is not None:
            sizes = _sizes(need)
            if self._smallest is None:
                self._smallest = sizes
            else:
                self._smallest = tuple(map(min, sizes, self._smallest))
        self.why = self.why or why
        if key_wide:
            if self.group is not None:
                self.closed = True
            else:
                self.last_page = True

    @property
    def waiting(self) -> int:
        """How many of its due jobs are left pending by this pass (so far)."""
        return self.count - self.placed


def _sizes(need: Requests) -> tuple[float, ...]:
    """What a job asks, to compare: in total (CPU, memory, pods) and per pod (CPU, memory)."""
    pods = max(need.pods, 1)
    return (
        need.cpu_millis,
        need.memory_bytes,
        need.pods,
        need.cpu_millis / pods,
        need.memory_bytes / pods,
    )
