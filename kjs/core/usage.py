"""What each queue holds now, summed from the store's `queue_usage()` rows: the figures the API
shows (`GET /api/v1/queues`: `usage`), the leader's gauges export and the CLI prints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from msgspec import Meta, Struct

from kjs.core.records import QueueUsage
from kjs.core.states import JobState

# Placed and not final: what a queue's or namespace's limits count (`lost` too: its pods may
# still run). The one definition: the store's namespace usage and placement use it too.
HOLDING = (
    JobState.DISPATCHED,
    JobState.CREATED,
    JobState.RUNNING,
    JobState.CANCELLING,
    JobState.LOST,
)


class QueueUsageSummary(Struct, kw_only=True):
    """One queue's jobs now: how many wait, how many hold a place, and what those request."""

    pending: Annotated[int, Meta(description="Jobs pending (due or not).")] = 0
    running: Annotated[
        int,
        Meta(
            description="Jobs placed and not final: dispatched, created, running, cancelling, lost."
        ),
    ] = 0
    cpu_millis: Annotated[
        int, Meta(description="CPU the `running` jobs request in total, in millicores.")
    ] = 0
    memory_bytes: Annotated[
        int, Meta(description="Memory the `running` jobs request in total, in bytes.")
    ] = 0


def summarize(rows: Iterable[QueueUsage]) -> dict[str, QueueUsageSummary]:
    """Queue name -> its summary (a queue with no unfinished job is absent)."""
    out: dict[str, QueueUsageSummary] = {}
    for row in rows:
        summary = out.setdefault(row.queue, QueueUsageSummary())
        if row.state == JobState.PENDING:
            summary.pending += row.jobs
        elif row.state in HOLDING:
            summary.running += row.jobs
            summary.cpu_millis += row.cpu_millis
            summary.memory_bytes += row.memory_bytes
    return out
