"""Preemption (issue 19, docs/queues.md "Preemption"): a due job that fits on no cluster its route
allows for want of room (`NoCapacity`: not a limit, not fair share) cancels running jobs of a
lower priority whose class is `preemptible`, on one cluster — lowest priority first, then latest
started, the fewest that make room — and waits (`Preempting`) until their cancellations are
confirmed. Each victim goes back to `pending` with a new attempt (`Preempted`), without a webhook
for the attempt it lost (the consumer, `requeued`).

Placement asks this once per pass, and only for the keys it found without room whose priority is
above the lowest preemptible class and whose queue allows it (`may_preempt`): with no preemptible
class configured it costs nothing. Between passes it remembers, per cluster, the preemption in
flight (`Reservation`): no other there until its preemptor is placed (or RESERVE_S has passed),
and the room its victims free is held for the preemptor against every other job of the pass,
whatever its queue (`PassView.reserve`).
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import msgspec

from kjs.core import metrics, priorities
from kjs.core.components import Components
from kjs.core.priorities import PriorityClass
from kjs.core.protocols import JobUpdate
from kjs.core.queues import QueueDefinition
from kjs.core.records import ClusterRecord, EventRecord, JobRecord, job_event, next_attempt
from kjs.core.requests import Requests, job_requests
from kjs.core.states import JobState
from kjs.scheduler import changes, fencing
from kjs.scheduler.reconcile import cluster_jobs
from kjs.scheduler.room import PassView

log = logging.getLogger(__name__)

PREEMPTED = "Preempted"  # a victim's reason: on its `cancelling` record, then its next attempt's
PREEMPTING = "Preempting"  # the preemptor's, while its victims' cancellations are confirmed
NO_CAPACITY = "NoCapacity"
VICTIM_STATES = (JobState.CREATED, JobState.RUNNING)  # placed, holding room, not being cancelled
# A preemption holds its cluster (no other there, its room kept for its preemptor) this long at
# most: long enough for the victims' pods to go and the agent to report the room, short enough
# that room taken by something else (a pod kjs did not make) does not block the cluster for good.
RESERVE_S = 120.0
CANDIDATES_TTL_S = 1.0  # a cluster's running jobs, read for one pass, serve the next this long
PAGE = 500  # jobs a read of a cluster's jobs
SHOWN = 5  # victims named in the preemptor's message


class Want(NamedTuple):
    """A key whose due jobs found no room (`NoCapacity`): its first such job may preempt. `job`
    None: the key was judged full without loading its jobs (its oldest free one is read)."""

    key: str
    priority: int
    job: JobRecord | None = None
    need: Requests | None = None


@dataclasses.dataclass
class Reservation:
    """A preemption in flight on `cluster_id`: its preemptor (as of its attempt), what it asks,
    its victims (id: attempt), when it was decided (monotonic), and whether the victims'
    cancellations are all confirmed (then the held room is the preemptor's to take)."""

    cluster_id: str
    job_id: str
    attempt: int
    key: str
    need: Requests
    victims: dict[str, int]
    chosen: float
    message: str
    confirmed: bool = False


# -- pure rules ----------------------------------------------------------------------------------


def is_preemptible(
    job: JobRecord,
    definitions: Mapping[str, QueueDefinition],
    classes: Mapping[str, PriorityClass],
) -> bool:
    """Whether the job's class (its own, else its queue's) is `preemptible` as configured now."""
    queue = definitions.get(job.spec.queue)
    name = priorities.effective(
        job.spec.priority_class, queue.priority_class if queue is not None else None
    )
    found = classes.get(name) if name is not None else None
    return found is not None and found.preemptible


def victim_order(job: JobRecord) -> tuple[int, int, float, float, str]:
    """Lowest priority first, then latest started (a job not started yet counts as the latest),
    then newest."""
    started = job.started_at.timestamp() if job.started_at is not None else 0.0
    return (job.priority, job.started_at is not None, -started, -job.created_at.timestamp(), job.id)


def choose_victims(
    ordered: Iterable[JobRecord],
    need_of: Callable[[JobRecord], Requests],
    covers: Callable[[Requests, int], bool],
) -> list[JobRecord] | None:
    """The victims among `ordered` (in `victim_order`): taken in order until what they hold
    (`covers(freed, jobs)`) makes room; then each one the others make room without is spared,
    the highest (last taken) first — the fewest that make room. None: even all would not."""
    chosen: list[tuple[JobRecord, Requests]] = []
    cpu = memory = pods = 0
    for job in ordered:
        need = need_of(job)
        chosen.append((job, need))
        cpu, memory, pods = cpu + need.cpu_millis, memory + need.memory_bytes, pods + need.pods
        if covers(Requests(cpu, memory, pods), len(chosen)):
            break
    else:
        return None
    for job, need in reversed(chosen[:-1]):
        less = Requests(cpu - need.cpu_millis, memory - need.memory_bytes, pods - need.pods)
        if covers(less, len(chosen) - 1):
            chosen.remove((job, need))
            cpu, memory, pods = less.cpu_millis, less.memory_bytes, less.pods
    return [job for job, _ in chosen]


def preempted(job: JobRecord) -> bool:
    """Whether the job's current attempt is being cancelled to make room for another job."""
    return job.state == JobState.CANCELLING and job.reason == PREEMPTED


def requeued(job: JobRecord, ended: JobState, at: dt.datetime) -> JobRecord:
    """A preempted attempt that ended (`ended`: cancelled, or failed on its way): the job waits
    again, as a new attempt, saying why (its preemptor is named in the message kept)."""
    return next_attempt(
        job,
        at,
        run_at=None,
        reason=PREEMPTED,
        message=f"attempt {job.attempt} ended {ended}: {job.message or 'preempted'}"[:1000],
    )


def requeued_event(job: JobRecord, at: dt.datetime) -> EventRecord:
    """The history's record of `requeued`: the new attempt, pending, and why."""
    return job_event(job, at)


def _named(victims: Sequence[JobRecord]) -> str:
    shown = ", ".join(v.id for v in victims[:SHOWN])
    more = len(victims) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# -- the leader's part -----------------------------------------------------------------------------


class Preemptions:
    """What placement asks about preemption, and the preemptions in flight (leader memory; a new
    leader sees a cluster's in flight by its jobs `cancelling` for `Preempted`)."""

    def __init__(self, components: Components) -> None:
        self.c = components
        classes = components.settings.scheduling.priority_classes
        self.classes = classes
        values = [c.value for c in classes.values() if c.preemptible]
        # Below this no job can be preempted: a job of this priority or lower preempts nothing.
        self.lowest: int | None = min(values) if values else None
        self._held: dict[str, Reservation] = {}  # by cluster id
        # Per cluster: (read at, its counts of VICTIM_STATES then, its jobs in them).
        self._read: dict[str, tuple[float, tuple[int, ...], list[JobRecord]]] = {}
        self._counts: Mapping[str, Mapping[JobState, int]] = {}
        self._busy: dict[str, bool] = {}  # this pass: a cluster's store-side check
        # This pass: per cluster, its preemptible jobs in `victim_order` and their priorities.
        self._ordered: dict[str, tuple[list[JobRecord], list[int]]] = {}

    @property
    def in_flight(self) -> Mapping[str, Reservation]:
        return self._held

    def may_preempt(
        self, queue: str, priority: int, definitions: Mapping[str, QueueDefinition]
    ) -> bool:
        """Whether a job of this queue and priority could preempt any job at all (cheap: no
        store, no job)."""
        if self.lowest is None or priority <= self.lowest:
            return False
        definition = definitions.get(queue)
        return definition is not None and definition.preemption

    async def prepare(self, counts: Mapping[str, Mapping[JobState, int]]) -> None:
        """At a pass's start (`counts`: its jobs per cluster and state): the preemptions whose
        preemptor is placed, gone, changed, or waited RESERVE_S are over; the others learn
        whether their victims' cancellations are confirmed."""
        self._counts, self._busy, self._ordered = counts, {}, {}
        clock = time.monotonic()
        for cluster_id, held in list(self._held.items()):
            job = await asyncio.to_thread(self.c.store.get_job, held.job_id)
            if (
                job is None
                or job.state != JobState.PENDING
                or job.attempt != held.attempt
                or clock - held.chosen > RESERVE_S
            ):
                del self._held[cluster_id]
            elif not held.confirmed:
                held.confirmed = not await self._cancelling(cluster_id, held.victims)

    def hold(self, view: PassView) -> None:
        """Keep each preemption's room from the pass's other jobs (`PassView.reserve`)."""
        for held in self._held.values():
            view.reserve(held.cluster_id, held.job_id, held.need)

    def release(self, view: PassView, job: JobRecord) -> tuple[str, Requests] | None:
        """The job's turn: the room held for it is its own once its victims are gone (before
        that, it waits for them like every other job)."""
        held = self._held.get(view.reserved[job.id][0]) if job.id in view.reserved else None
        if held is None or not held.confirmed or held.job_id != job.id:
            return None
        return view.release(job.id)

    async def run(self, wants: Sequence[Want], view: PassView, at: dt.datetime) -> int:
        """After the pass's placements: for each key that found no room, highest priority first,
        preempt on one cluster where that makes room for its first job; returns how many jobs
        were preempted."""
        preempted = 0
        waiting = {held.job_id for held in self._held.values()}
        for want in sorted(wants, key=lambda w: -w.priority):
            if len(self._held) >= len(view.ready):
                break  # a preemption in flight on every cluster
            job, need = want.job, want.need
            if job is None or need is None:
                job = await self._first(want.key, waiting, at)
                if job is None:
                    continue
                need = job_requests(job.spec, view.defaults)
            if job.id in waiting:
                continue  # its preemption is under way
            best: tuple[tuple[int, int, int], ClusterRecord, list[JobRecord]] | None = None
            for index, cluster in enumerate(view.open_clusters(job, need)):
                if view.fits(cluster, job, need):
                    best = None
                    break  # room appeared (a placement of this pass did not happen)
                if await self._busy_on(cluster.id):
                    continue
                victims = await self._victims(cluster, job, need, view)
                if victims is None:
                    continue
                rank = (len(victims), max(v.priority for v in victims), index)
                if best is None or rank < best[0]:
                    best = (rank, cluster, victims)
            if best is not None:
                preempted += await self._preempt(job, need, want.key, best[1], best[2], at)
                waiting.add(job.id)
        return preempted

    async def reassert(self, rewritten: Iterable[str], at: dt.datetime) -> None:
        """A key's pending reason written anew this pass (`rewritten`) told its preemptor why
        the key waits: it says `Preempting` again."""
        keys = set(rewritten)
        for held in self._held.values():
            if held.key not in keys:
                continue

            def change(current: JobRecord, held: Reservation = held) -> JobRecord | None:
                if current.state != JobState.PENDING or current.attempt != held.attempt:
                    return None
                if (current.reason, current.message) == (PREEMPTING, held.message):
                    return None
                return msgspec.structs.replace(current, reason=PREEMPTING, message=held.message)

            await asyncio.to_thread(self.c.store.update_job, held.job_id, change)

    # -- reading -------------------------------------------------------------------------------

    async def _jobs(self, cluster_id: str, state: JobState) -> list[JobRecord]:
        return await cluster_jobs(self.c.store, cluster_id, state, PAGE)

    def _count(self, cluster_id: str, state: JobState) -> int:
        return self._counts.get(cluster_id, {}).get(state, 0)

    async def _cancelling(self, cluster_id: str, victims: Mapping[str, int]) -> bool:
        """Whether any of the victims (their attempts) is still being cancelled."""
        if not self._count(cluster_id, JobState.CANCELLING):
            return False
        jobs = await self._jobs(cluster_id, JobState.CANCELLING)
        return any(victims.get(j.id) == j.attempt for j in jobs)

    async def _busy_on(self, cluster_id: str) -> bool:
        """Whether a preemption is in flight on the cluster: this leader's, or (a new leader)
        jobs being cancelled there for `Preempted`."""
        if cluster_id in self._held:
            return True
        if not self._count(cluster_id, JobState.CANCELLING):
            return False
        busy = self._busy.get(cluster_id)
        if busy is None:
            jobs = await self._jobs(cluster_id, JobState.CANCELLING)
            busy = self._busy[cluster_id] = any(preempted(j) for j in jobs)
        return busy

    async def _first(self, key: str, waiting: set[str], at: dt.datetime) -> JobRecord | None:
        """The key's oldest due job not already waiting for its own preemption."""
        skip = sum(1 for held in self._held.values() if held.key == key)
        jobs = await asyncio.to_thread(self.c.store.due_jobs, at, skip + 1, key, after=None)
        return next((j for j in jobs if j.id not in waiting), None)

    async def _candidates(self, cluster_id: str) -> list[JobRecord]:
        """The cluster's jobs that hold room and are not being cancelled (read once a pass, and
        again after CANDIDATES_TTL_S or when their counts changed)."""
        counts = tuple(self._count(cluster_id, s) for s in VICTIM_STATES)
        clock = time.monotonic()
        read = self._read.get(cluster_id)
        if read is not None and read[1] == counts and clock - read[0] < CANDIDATES_TTL_S:
            return read[2]
        jobs = [j for s in VICTIM_STATES for j in await self._jobs(cluster_id, s)]
        self._read[cluster_id] = (clock, counts, jobs)
        return jobs

    async def _victims(
        self, cluster: ClusterRecord, job: JobRecord, need: Requests, view: PassView
    ) -> list[JobRecord] | None:
        """The fewest jobs of the cluster whose preemption makes room for `job` (None: none)."""
        ordered = self._ordered.get(cluster.id)
        if ordered is None:  # sorted once a pass, whoever asks
            jobs = sorted(
                (
                    j
                    for j in await self._candidates(cluster.id)
                    if is_preemptible(j, view.definitions, self.classes)
                ),
                key=victim_order,
            )
            ordered = self._ordered[cluster.id] = (jobs, [j.priority for j in jobs])
        jobs, priorities_in_order = ordered
        below = bisect.bisect_left(priorities_in_order, job.priority)  # strictly lower ones
        if not below:
            return None
        return choose_victims(
            jobs[:below],
            lambda j: job_requests(j.spec, view.defaults),
            lambda freed, count: view.fits_with(cluster, need, freed, count),
        )

    # -- writing -------------------------------------------------------------------------------

    async def _preempt(
        self,
        job: JobRecord,
        need: Requests,
        key: str,
        cluster: ClusterRecord,
        victims: list[JobRecord],
        at: dt.datetime,
    ) -> int:
        """Cancel the victims' attempts (each `cancelling` for `Preempted`, its cancel in the
        outbox) and tell the preemptor why it waits, in one transaction. Returns how many
        victims were cancelled."""
        said = (
            f"preempted by job {job.id} (priority {job.priority}, queue {job.spec.queue}) to "
            f"make room on cluster {cluster.id}"
        )
        waits = (
            f"preempting {len(victims)} job(s) of lower priority on cluster {cluster.id} "
            f"to make room: {_named(victims)}"
        )
        # Still waiting? (A store applies a transaction's changes in its own order, so the
        # victims' cannot depend on the preemptor's: it is read first. Cancelled or placed in the
        # moment between, its victims would only start again.)
        current = await asyncio.to_thread(self.c.store.get_job, job.id)
        if current is None or current.state != JobState.PENDING or current.attempt != job.attempt:
            return 0

        def preemptor(current: JobRecord) -> JobRecord | None:
            if current.state != JobState.PENDING or current.attempt != job.attempt:
                return None
            return msgspec.structs.replace(current, reason=PREEMPTING, message=waits)

        def victim(seen: JobRecord) -> Callable[[JobRecord], JobRecord | None]:
            def change(current: JobRecord) -> JobRecord | None:
                if (
                    current.state not in VICTIM_STATES
                    or current.attempt != seen.attempt
                    or current.cluster_id != cluster.id
                ):
                    return None  # ended or moved meanwhile: it holds no room to take
                return msgspec.structs.replace(
                    current,
                    state=JobState.CANCELLING,
                    updated_at=at,
                    reason=PREEMPTED,
                    message=said,
                )

            return change

        def record(current: JobRecord) -> EventRecord:
            return job_event(current, at, cluster_id=current.cluster_id)

        updates = [JobUpdate(job.id, preemptor, event=record)] + [
            JobUpdate(v.id, victim(v), fencing.cancel_attempt, record) for v in victims
        ]
        first, *results = await asyncio.to_thread(self.c.store.update_jobs, updates)
        cancelled = 0
        for result in results:
            if result is None:
                continue
            changes.state_changed(self.c.plugins, *result)
            metrics.QUEUE_PREEMPTIONS.labels(queue=result[1].spec.queue).inc()
            cancelled += 1
        if first is None or not cancelled:
            return 0  # the preemptor changed, or every victim ended or moved: room may be there
        self._held[cluster.id] = Reservation(
            cluster_id=cluster.id,
            job_id=job.id,
            attempt=job.attempt,
            key=key,
            need=need,
            victims={v.id: v.attempt for v in victims},
            chosen=time.monotonic(),
            message=waits,
        )
        log.info(
            "job %s (priority %d) preempts %d job(s) on %s: %s",
            job.id,
            job.priority,
            cancelled,
            cluster.id,
            _named(victims),
        )
        return cancelled
