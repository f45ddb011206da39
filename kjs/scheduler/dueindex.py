"""The pending jobs in the leader's memory, by placement key, kept up to date from the store's
change feed (`JobStore.pending_since`, by the jobs' seq): a placement pass reads its keys and
their pages here, not from the database. A pass used to read the first page of hundreds of small
keys per pass — about ten jobs decoded per job placed (bench/schedule.py) — now it reads only
what changed since the last pass.

As fresh as the store was when the pass began (each pass reads the feed first), as the pages it
read during the pass were before. What placement writes still goes through the store, which
checks each job is still pending in the same attempt (`Placement._dispatch`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from sortedcontainers import SortedKeyList

from kjs.core.protocols import PendingFeed
from kjs.core.records import JobRecord

FEED_LIMIT = 5_000  # changes read per call of the feed
Cursor = tuple[dt.datetime, str]


class PendingSource(Protocol):
    def pending_since(self, after: int | None, limit: int) -> PendingFeed: ...


def _order(job: JobRecord) -> Cursor:
    return (job.created_at, job.id)


class DueIndex:
    """Every pending job, by placement key, in placement's order (created_at, id). Reads answer
    as `Store.due_placement_keys`, `due_jobs` (one key) and `due_pages` do."""

    def __init__(self) -> None:
        self.position: int | None = None  # the feed's position read up to (None: not loaded)
        self._keys: dict[str | None, SortedKeyList] = {}
        self._where: dict[str, tuple[str | None, JobRecord]] = {}  # id -> (key, job)
        self._delayed: dict[str | None, set[str]] = {}  # per key: its jobs with a run_at

    def __len__(self) -> int:
        return len(self._where)

    def refresh(self, store: PendingSource) -> None:
        """Apply what changed since the last refresh (everything, the first time)."""
        while True:
            feed = store.pending_since(self.position, FEED_LIMIT)
            if feed.snapshot:
                self._keys, self._where, self._delayed = {}, {}, {}
            for job_id in feed.gone:
                self._drop(job_id)
            for key, job in feed.jobs:
                self._drop(job.id)
                self._put(key, job)
            self.position = feed.position
            if not feed.more:
                return

    def _put(self, key: str | None, job: JobRecord) -> None:
        self._where[job.id] = (key, job)
        jobs = self._keys.get(key)
        if jobs is None:
            jobs = self._keys[key] = SortedKeyList(key=_order)
        jobs.add(job)
        if job.run_at is not None:
            self._delayed.setdefault(key, set()).add(job.id)

    def _drop(self, job_id: str) -> None:
        found = self._where.pop(job_id, None)
        if found is None:
            return
        key, job = found
        jobs = self._keys[key]
        jobs.remove(job)
        if not jobs:
            del self._keys[key]
        delayed = self._delayed.get(key)
        if delayed is not None:
            delayed.discard(job_id)
            if not delayed:
                del self._delayed[key]

    # -- reads, as the store answers them ---------------------------------------------------------

    def due_placement_keys(self, now: dt.datetime) -> list[tuple[str | None, int]]:
        """Each key of the due jobs with how many, the key with the oldest due job first (then
        by key, the jobs without one first)."""
        found: list[tuple[Cursor, tuple[bool, str], str | None, int]] = []
        for key, jobs in self._keys.items():
            delayed = self._delayed.get(key)
            if not delayed:
                count, oldest = len(jobs), jobs[0]
            else:
                due = [job for job in jobs if _due(job, now)]
                if not due:
                    continue
                count, oldest = len(due), due[0]
            found.append((_order(oldest), (key is not None, key or ""), key, count))
        found.sort(key=lambda item: (item[0][0], item[1]))
        return [(key, count) for _, _, key, count in found]

    def due_jobs(
        self,
        now: dt.datetime,
        limit: int,
        placement_key: str | None = None,
        *,
        after: Cursor | None = None,
    ) -> list[JobRecord]:
        """The key's due jobs in order, past `after` (a (created_at, id) cursor)."""
        jobs = self._keys.get(placement_key)
        if jobs is None or limit <= 0:
            return []
        page: list[JobRecord] = []
        ahead = jobs.irange_key(min_key=after, inclusive=(False, True)) if after else iter(jobs)
        check = placement_key in self._delayed
        for job in ahead:
            if check and not _due(job, now):
                continue
            page.append(job)
            if len(page) >= limit:
                break
        return page

    def due_pages(
        self, now: dt.datetime, pages: Sequence[tuple[str | None, int]]
    ) -> list[list[JobRecord]]:
        return [self.due_jobs(now, limit, key) for key, limit in pages]


def _due(job: JobRecord, now: dt.datetime) -> bool:
    return job.run_at is None or job.run_at <= now
