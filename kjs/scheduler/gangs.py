"""Gangs (kjs.scheduler.placement): the jobs a batch submitted with one `gang` id are placed on
one cluster all at once, in one pass and one transaction, or not at all (docs/queues.md "Gangs").

A gang's members share a placement key no other job has (its id is in the key's route, `g`), so
a pass finds them together. Here, with no I/O: which of the due members form the gang, on which
clusters all of them fit at once (tried member by member on the pass's view, then given back:
every limit a single job meets is met by the whole gang), and why they wait when none is."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kjs.core.gangs import MAX_GANG as MAX_GANG
from kjs.core.records import ClusterRecord, JobRecord
from kjs.core.requests import Requests, cpu_text, memory_text
from kjs.core.routing import Group, allows
from kjs.scheduler.room import PassView, Why

WAITING_FOR_GANG = "WaitingForGang"


class GangBroken(Exception):
    """A member changed between the pass's read and its write (cancelled, edited): the gang's
    transaction is rolled back, none of it placed."""


def gang_id(group: Group | None) -> str | None:
    """The gang of a placement key's group (None: not a gang's key)."""
    return None if group is None else group.route.g


def split_members(jobs: Sequence[JobRecord]) -> tuple[list[JobRecord], list[JobRecord]]:
    """The due jobs of a gang's key: its members on their first attempt (placed together), and
    those back to pending for another attempt (a retry, a preemption, a lost cluster: the gang
    was placed once; each goes on its own, like any job)."""
    first = [j for j in jobs if j.attempt <= 1]
    again = [j for j in jobs if j.attempt > 1]
    return first, again


def waiting_for_gang(gang: str, due: int, size: int) -> Why:
    return (
        WAITING_FOR_GANG,
        f"gang {gang}: {due} of {size} jobs are due; the others are not pending yet "
        "(run_at ahead, or they ended: cancel the rest)",
    )


def _first_refusal(
    view: PassView,
    cluster: ClusterRecord,
    jobs: Sequence[JobRecord],
    needs: Sequence[Requests],
    refusal: Callable[[JobRecord, Requests], Why | None],
) -> Why | None:
    """Take the gang's jobs on `cluster` one after another (so each sees the ones before) until
    `refusal` names why one would not be taken; all taken are given back."""
    taken = 0
    try:
        for job, need in zip(jobs, needs, strict=True):
            if (why := refusal(job, need)) is not None:
                return why
            view.take(cluster.id, job, need)
            taken += 1
        return None
    finally:
        for job, need in zip(jobs[:taken], needs[:taken], strict=True):
            view.give_back(cluster.id, job, need)


def _fits_all(
    view: PassView, cluster: ClusterRecord, jobs: Sequence[JobRecord], needs: Sequence[Requests]
) -> bool:
    """Whether every job fits on `cluster` at once."""
    no_room: Why = ("NoRoom", cluster.id)  # (only whether there is one is asked)

    def refusal(job: JobRecord, need: Requests) -> Why | None:
        if view.job_blocked(job, need) is not None:
            return no_room
        open_ids = {c.id for c in view.open_clusters(job, need)}
        if cluster.id not in open_ids or not view.fits(cluster, job, need):
            return no_room
        return None

    return _first_refusal(view, cluster, jobs, needs, refusal) is None


def _limited(
    view: PassView, cluster: ClusterRecord, jobs: Sequence[JobRecord], needs: Sequence[Requests]
) -> Why | None:
    """The queue or namespace limit the gang's members reach, taken one after another (on any
    cluster: these limits are not per cluster)."""

    def refusal(job: JobRecord, need: Requests) -> Why | None:
        blocked = view.job_blocked(job, need)
        return None if blocked is None else (blocked[0], blocked[1])

    return _first_refusal(view, cluster, jobs, needs, refusal)


def clusters_for(
    view: PassView, group: Group, jobs: Sequence[JobRecord], needs: Sequence[Requests]
) -> list[ClusterRecord]:
    """The ready clusters of the gang's route that take all its jobs at once."""
    return [c for c in view.ready if allows(group.route, c) and _fits_all(view, c, jobs, needs)]


def total(needs: Sequence[Requests]) -> Requests:
    return Requests(
        cpu_millis=sum(n.cpu_millis for n in needs),
        memory_bytes=sum(n.memory_bytes for n in needs),
        pods=sum(n.pods for n in needs),
    )


def why_not(
    view: PassView, gang: str, group: Group, jobs: Sequence[JobRecord], needs: Sequence[Requests]
) -> Why:
    """Why no cluster takes the gang: its queue's or namespace's limit for the whole gang, else
    what it needs in all against what each cluster of its route has free."""
    whole = total(needs)
    allowed = [c for c in view.ready if allows(group.route, c)]
    limited = _limited(view, allowed[0], jobs, needs) if allowed else None
    if limited is not None:
        return limited[0], f"gang {gang} ({len(jobs)} jobs): {limited[1]}"
    head = (
        f"gang {gang} ({len(jobs)} jobs) needs {cpu_text(whole.cpu_millis)}, "
        f"{memory_text(whole.memory_bytes)} memory, {whole.pods} pods, "
        f"{len(jobs)} of max_concurrent_jobs on one cluster"
    )
    parts = []
    for c in allowed[:5]:
        slots = c.capacity - c.running - c.pending - view.in_flight.get(c.id, 0)
        free = view.free.get(c.id)
        if free is None:
            parts.append(f"{c.id} has {max(slots, 0)} of max_concurrent_jobs free")
        else:
            parts.append(
                f"{c.id} has {cpu_text(max(free[0], 0))}, {memory_text(max(free[1], 0))} "
                f"memory, {max(free[2], 0)} pods, {max(slots, 0)} jobs free"
            )
    if not parts:
        return view.group_blocked(group) or ("NoCapacity", head)
    return "NoCapacity", head + "; " + "; ".join(parts)
