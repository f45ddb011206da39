"""Where pending jobs stand in their queues (`queue_position` in the job's JSON): counted when a
job or a page of jobs is read, never stored — so it is current as of the read (fresher than a
figure kept per scheduling pass) and costs the submit nothing.

The order is the one placement takes a queue's due jobs in: highest priority first (the value of
the job's priority class, `JobRecord.priority`), then oldest `created_at`, then id.
A job that is not pending, or not due yet (`run_at` ahead), has no position.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from kjs.core import clock
from kjs.core.records import JobRecord
from kjs.core.states import JobState


class PositionStore(Protocol):
    """What positions read (a part of `kjs.core.protocols.JobStore`)."""

    def queue_positions(
        self, queue: str, keys: Sequence[tuple[int, dt.datetime, str]], now: dt.datetime
    ) -> list[int]: ...


def waiting(job: JobRecord, now: dt.datetime) -> bool:
    """Pending and due: in its queue's line."""
    return job.state == JobState.PENDING and (job.run_at is None or job.run_at <= now)


async def queue_positions(store: PositionStore, jobs: Sequence[JobRecord]) -> dict[str, int]:
    """Job id -> position for the waiting jobs among `jobs`: one store statement per queue."""
    now = clock.now()
    by_queue: dict[str, list[JobRecord]] = {}
    for job in jobs:
        if waiting(job, now):
            by_queue.setdefault(job.spec.queue, []).append(job)
    positions: dict[str, int] = {}
    for queue, queued in by_queue.items():
        keys = [(job.priority, job.created_at, job.id) for job in queued]
        found = await asyncio.to_thread(store.queue_positions, queue, keys, now)
        positions.update(zip((job.id for job in queued), found, strict=True))
    return positions


async def queue_position(store: PositionStore, job: JobRecord) -> int | None:
    """One job's position, or None when it is not waiting."""
    return (await queue_positions(store, [job])).get(job.id)
