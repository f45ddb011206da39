"""Fair share's measure (docs/queues.md "Fair share"): what a queue's placed, unfinished jobs
hold, as a share of what the ready clusters have — of CPU or of memory, whichever share is
larger (its dominant resource); of their slots (`max_concurrent_jobs`) when no cluster reports
resource figures. Placement places next from the queue whose share ÷ weight is the lowest; the
gauges, the API and the UI show the same figures. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct

from kjs.core.records import ClusterRecord


class Totals(Struct, frozen=True):
    """What the ready clusters have: CPU and memory of those with figures, and slots."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    slots: int = 0


def totals(ready: Iterable[ClusterRecord]) -> Totals:
    """The totals of these (ready) clusters."""
    cpu = memory = slots = 0
    for cluster in ready:
        slots += cluster.capacity
        if cluster.resources is not None:
            cpu += cluster.resources.allocatable.cpu_millis
            memory += cluster.resources.allocatable.memory_bytes
    return Totals(cpu, memory, slots)


def dominant_share(jobs: int, cpu_millis: int, memory_bytes: int, of: Totals) -> float:
    """A queue's share of `of`, by its dominant resource (by slots without figures)."""
    if of.cpu_millis > 0 or of.memory_bytes > 0:
        cpu = cpu_millis / of.cpu_millis if of.cpu_millis > 0 else 0.0
        memory = memory_bytes / of.memory_bytes if of.memory_bytes > 0 else 0.0
        return max(cpu, memory)
    return jobs / of.slots if of.slots > 0 else float(jobs)
