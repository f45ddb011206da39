"""Placement (leader work): due pending jobs (run_at reached) go to the cluster the balancer, or a
`select_cluster` plugin, picks. The state change and the dispatch message are written in one
transaction (the outbox), so nothing is lost between "saved" and "sent".

One job's fault stays with that job: a plugin that raises on it, or a manifest that cannot be
rendered, puts that job in backoff while the others are placed; after a few failures in a row it
is parked as `failed` (reason `DispatchError`, the error in its message).

Jobs that can be placed are never held back by jobs that cannot: each job's queue, namespace and
route (`cluster`, `cluster_selector`) are stored as its *placement key* (`queue|namespace|route`),
and a pass asks the store for the keys of the due jobs first, then loads the jobs of a key only
when its queue and namespace are below their limits and one of the clusters its route allows has
room. A thousand jobs waiting for a full cluster, or behind their queue's `max_running`, cost one
row of that summary, not a load.

Room: every cluster takes jobs up to its pod count, `capacity`; one whose agent reports its
resources (not older than `[dispatch] unreachable_after_s`) also only when its free CPU, memory
and pods, less what the store says was dispatched there since the report, cover the job's total
request (and its largest free node one pod's). A queue's limits count its placed, unfinished
jobs (`queue_usage`, read once per pass), in total and per cluster; `[scheduling.namespaces]`
limits a namespace's; a job of a queue that does not exist waits (`QueueNotFound`). Each figure
placed in a pass is added to the pass's view, so the next job sees it.

Preemption: after its placements, a pass lets the first job of each key that found no room
(`NoCapacity`) preempt lower-priority, preemptible jobs when its queue allows it
(`kjs.scheduler.preemption`); the room a preemption frees is held for its preemptor in later
passes' views, whatever fair share would serve first.

Why pending: the due jobs a pass leaves pending get a `reason` and `message` per key (one UPDATE
for the key, written only when what it says, or how many jobs it has, changed; a message whose
figures alone changed at most every REASON_REFRESH_S). Not a watch event: a pending job's reason
is read, not watched (docs/queues.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import logging
import time
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple, cast

import msgspec

from kjs.core import manifest as manifests
from kjs.core import messages, metrics, queues
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.plugins import Plugins
from kjs.core.protocols import ClusterView, JobUpdate, JobView, PendingReason
from kjs.core.queues import QueueDefinition
from kjs.core.records import ClusterRecord, EventRecord, JobRecord, job_event
from kjs.core.render import render_for_dispatch
from kjs.core.requests import Requests, job_requests
from kjs.core.routing import Group, group_of
from kjs.core.states import JobState
from kjs.core.usage import HOLDING
from kjs.scheduler import changes, gangs
from kjs.scheduler.dueindex import DueIndex
from kjs.scheduler.leader import PLACEMENT, ItemFailures
from kjs.scheduler.preemption import NO_CAPACITY, Preemptions, Want
from kjs.scheduler.room import PassView, has_limit
from kjs.scheduler.streams import BATCH, DueJobs, FirstPages, KeyStream
from kjs.scheduler.webhooks import order_for

log = logging.getLogger(__name__)
# Placements one pass makes at most: a pass stays short (the next starts at once).
PASS_PLACEMENTS = 2_000
REASON_REFRESH_S = 30.0  # a pending reason whose figures alone changed is rewritten this often
# A key's reason stays at least this long when it changes between these (as room and limits
# turn over): each change rewrites every job of the key.
REASON_HOLD_S = 2.0
CROWDED = {"NoCapacity", "QueueLimitReached", "NamespaceLimitReached"}
EXPLAIN_S = 2.0  # with no room anywhere, the due jobs are counted (to say why) this often
QUEUES_TTL_S = 2.0  # the queues defined over the API are read again this often
JOIN_MARGIN = dt.timedelta(seconds=5)  # a job committed late, created before the last write


class Refused(NamedTuple):
    """A key whose jobs a `select_cluster` plugin's pass placed none of: as the view stood then,
    for how many jobs, why, and when (monotonic)."""

    seen: Hashable
    jobs: int
    why: tuple[str, str]
    at: float


class Planned(NamedTuple):
    """A dispatch this pass will write: where, what the job asks, the job, its update."""

    cluster_id: str
    need: Requests
    job: JobRecord
    update: JobUpdate


def queue_of(key: str | None) -> str:
    """The queue of a placement key's jobs (NO_KEY for jobs without a key)."""
    return NO_KEY if key is None else key.split("|", 1)[0]


def priority_of(key: str | None) -> int:
    """The priority of a placement key's jobs (0 for no key, or one from before priorities)."""
    parts = key.split("|", 3) if key is not None else ()
    return int(parts[2]) if len(parts) == 4 and parts[2].lstrip("-").isdigit() else 0


NO_KEY = ""  # no queue is named so: the jobs without a placement key, of any queue


class GangKey(NamedTuple):
    """A gang's placement key in a pass: its due jobs, and its group (the gang in its route)."""

    key: str
    due: int
    group: Group


def _gang_group(key: str | None) -> Group | None:
    """The group of a gang's key; None for any other key (most: told by a substring alone)."""
    if key is None or '"g":' not in key:
        return None
    group = group_of(key)
    return group if group is not None and group.route.g is not None else None


class Said(NamedTuple):
    """What a key's due jobs were last told, for how many of them, and when."""

    reason: str
    message: str
    jobs: int
    checked: float  # monotonic: the whole key written (or checked) last
    written: dt.datetime  # the pass that wrote last


def _nowhere(clusters: Sequence[ClusterRecord], in_flight: dict[str, int]) -> bool:
    """No cluster can take any job: none is ready, or every one is at its pod count,
    `max_concurrent_jobs` (whether or not it reports resources)."""
    return all(c.running + c.pending + in_flight.get(c.id, 0) >= c.capacity for c in clusters)


def without_stale_figures(
    cluster: ClusterRecord, at: dt.datetime, max_age: dt.timedelta
) -> ClusterRecord:
    """The cluster without its resource figures when they are older than `max_age` (its agent
    cannot watch nodes or pods): judged by pod count until it reports again."""
    if cluster.resources is None or at - cluster.resources.at <= max_age:
        return cluster
    return msgspec.structs.replace(cluster, resources=None)


# The states of a job whose Kubernetes Job takes a slot of its cluster (with DISPATCHED: on its
# way there). `cancelling` and `lost` ones may still have pods running.
OCCUPYING = (JobState.CREATED, JobState.RUNNING, JobState.CANCELLING, JobState.LOST)
PLACED = HOLDING  # what counts against a queue's limits (kjs.core.usage: the one definition)


def routes_anywhere(plugins: Plugins) -> bool:
    """Whether a `select_cluster` plugin is installed: it may send any job anywhere, so no
    route can be judged full from its key alone."""
    return plugins.implements("select_cluster")


def choose_cluster(
    components: Components,
    job: JobView,
    clusters: Sequence[ClusterView],
    in_flight: dict[str, int],
) -> str | None:
    """Where a job (or a native cron job's CronJob) goes: a `select_cluster` plugin's choice,
    else the balancer's; None when every eligible cluster is full."""
    return components.plugins.select_cluster(job, clusters) or components.balancer.choose(
        job, clusters, in_flight
    )


class Placement:
    def __init__(self, components: Components) -> None:
        self.c = components
        self.failures = ItemFailures(PLACEMENT)
        # Per key, the reason written last (and for how many jobs, when).
        self._said: dict[str, Said] = {}
        self._telling: list[PendingReason] = []  # reasons `_say` wrote this pass, to write
        self._explained = -EXPLAIN_S  # when the due jobs were last counted (monotonic)
        self._queues: tuple[float, dict[str, QueueDefinition]] | None = None  # (read at, …)
        self._reasons: asyncio.Task[None] | None = None  # the last pass's reasons, being written
        # Per key a plugin refused whole (see `Refused`): not read again while nothing changed.
        self._refused: dict[str, Refused] = {}
        # Per key, where the last pass stopped reading it (its page budget spent).
        self._resume: dict[str | None, tuple[dt.datetime, str]] = {}
        self._more = False  # the last pass stopped at PASS_PLACEMENTS
        self.preemptions = Preemptions(components)
        self.preempted = 0  # jobs the last pass preempted
        # This pass's jobs per cluster and state (`_in_use`): what preemption reads by.
        self._counts: dict[str, dict[JobState, int]] = {}
        # This pass's gangs left waiting: (key, why, how many due jobs).
        self._gang_waits: list[tuple[str, tuple[str, str], int]] = []
        # The due jobs in memory, kept from the store's change feed (a store without one is
        # read a page at a time); what this pass reads its keys' jobs from.
        self._index = (
            DueIndex() if callable(getattr(components.store, "pending_since", None)) else None
        )
        self._due: DueJobs = self._index if self._index is not None else components.store
        self._loading: asyncio.Task[None] | None = None  # the index's first load, if under way

    @property
    def unfinished(self) -> bool:
        """Whether the last pass stopped while it was still placing (its PASS_PLACEMENTS, or a
        key's page budget): the next pass should come at once, not at the next wake-up."""
        return self._more

    async def place_due(self) -> int:
        """Place every due pending job that fits somewhere; returns how many.

        The due jobs come by key (queue, namespace, priority, route). A key whose queue or
        namespace is at a limit, or none of whose clusters has room, is skipped without loading
        its jobs (and says why). The others are taken in fair-share order: the next job comes
        from the queue whose placed jobs hold the lowest dominant share of the clusters ÷ its
        weight (`PassView.weighted_share`), and within a queue from its keys of the highest
        priority first, then the key with the oldest due job, oldest job first — read a page at
        a time as the pass gets to them (`KeyStream`). Jobs without a key are tried first, one
        by one. When no cluster has room at all, the due jobs are not even counted, except every
        EXPLAIN_S to say why they wait."""
        store = self.c.store
        at, clock = now(), time.monotonic()
        self._more = False
        self.preempted = 0
        self._telling = []
        # Figures older than a silent cluster's heartbeat are not trusted (`without_stale_figures`).
        max_age = dt.timedelta(seconds=self.c.settings.dispatch.unreachable_after_s)
        known = [
            without_stale_figures(c, at, max_age)
            for c in await asyncio.to_thread(store.list_clusters)
        ]
        states = {c.id: self.c.cluster_state(c, at) for c in known}
        ready = [c for c in known if states[c.id] == "ready"]
        self._counts = {}
        loaded, in_flight = await self._in_use(ready) if ready else ([], {})
        nowhere = _nowhere(loaded, in_flight)
        if nowhere and clock - self._explained < EXPLAIN_S:
            self._resume = {}
            return 0  # nothing can be placed, and why was said a moment ago
        keys = await self._due_keys(at, explain_only=nowhere)
        self._explained = clock
        if not keys:
            self._said.clear()
            self._resume = {}
            return 0
        queues_due = {queue_of(key) for key, _ in keys}
        view = await self._view(known, states, loaded, in_flight, at, shares=len(queues_due) > 1)
        preemptions = self.preemptions
        await preemptions.prepare(self._counts)
        wants: list[Want] = []  # keys without room whose jobs may preempt
        judge_by_key = not routes_anywhere(self.c.plugins)
        resume, self._resume = self._resume, {}
        said: dict[str, Said] = {}
        refused: dict[str, Refused] = {}
        by_queue: dict[str, list[KeyStream]] = {}
        # Keys' first pages, several in one read; not those whose route or limits filled up
        # earlier in the pass (unless room is held for a preemptor: see `_fair`).
        first_pages = FirstPages(
            self._due,
            at,
            lambda s: bool(view.reserved) or s.group is None or view.group_blocked(s.group) is None,
        )
        streams: list[KeyStream] = []
        seen: Hashable = None  # the view as this pass starts (read once, when a key asks)
        gang_keys: dict[str, list[GangKey]] = {}  # per queue: the gangs' keys (kjs.scheduler.gangs)
        self._gang_waits = []
        for key, count in keys:
            gang = _gang_group(key)
            group = group_of(key) if judge_by_key else None
            why = view.group_blocked(group) if group is not None else None
            if why is None and key is not None and group is None:
                # Judged job by job by a plugin: a key it refused whole is asked again when the
                # view or the key changed, or EXPLAIN_S later (a plugin may look elsewhere too).
                last = self._refused.get(key)
                if last is not None and last.jobs == count and clock - last.at < EXPLAIN_S:
                    seen = view.seen() if seen is None else seen
                    if last.seen == seen:
                        refused[key], why = last, last.why
            if why is not None:
                if key is not None:
                    said[key] = await self._say(key, why, count, at)
                    priority = priority_of(key)
                    if (
                        why[0] == NO_CAPACITY
                        and gang is None  # a gang does not preempt (docs/queues.md "Gangs")
                        and preemptions.may_preempt(queue_of(key), priority, view.definitions)
                    ):
                        wants.append(Want(key, priority))
                continue
            if gang is not None and key is not None:
                gang_keys.setdefault(queue_of(key), []).append(GangKey(key, count, gang))
                continue
            stream = KeyStream(key, count, queue_of(key), group, resume.get(key), first_pages)
            stream.may_preempt = key is not None and preemptions.may_preempt(
                stream.queue, priority_of(key), view.definitions
            )
            streams.append(stream)
            by_queue.setdefault(stream.queue, []).append(stream)
        for queued in by_queue.values():  # a queue's higher priorities first (stable: oldest)
            queued.sort(key=lambda stream: -priority_of(stream.key))
        # The room its victims free is kept for a preemptor (after the keys were judged: its
        # own key must not look full to it).
        preemptions.hold(view)
        planned: list[Planned] = []
        placed = 0
        keyless = by_queue.pop(NO_KEY, [])
        for stream in keyless:  # rare (a route too long for a key): each job on its own
            placed += await self._drain(stream, view, at, planned)
        placed += await self._fair(by_queue, view, at, planned, gang_keys)
        placed += await self._commit(planned, view)
        wants += [Want(s.key, priority_of(s.key), *s.short) for s in streams if s.short and s.key]
        if wants:  # (their cancels are in the outbox: the relay's to send)
            self.preempted = await preemptions.run(wants, view, at)
        for stream in streams:
            if stream.stopped_at is not None:
                self._resume[stream.key] = stream.stopped_at
                # Still placing when its page budget ran out: go on at once (one that only
                # read jobs too big for any room waits for the next wake-up).
                self._more = self._more or stream.placed > 0
            key = stream.key
            if key is None:
                continue
            judged_by_plugin = stream.seen is not None and stream.stopped_at is None
            if stream.placed == 0 and stream.why is not None and judged_by_plugin:
                refused[key] = Refused(stream.seen, stream.count, stream.why, clock)
            if stream.why is not None and stream.waiting > 0:
                said[key] = await self._say(key, stream.why, stream.waiting, at)
        for key, why, waiting in self._gang_waits:
            said[key] = await self._say(key, why, waiting, at)
        # Keys no longer due are forgotten; one still due that this pass placed jobs of, or did
        # not get to, keeps what its jobs were told (not written again when it waits again).
        kept = {key: self._said[key] for key, _ in keys if key in self._said and key not in said}
        self._said = kept | said
        self._refused = refused
        # What the pass says, in one transaction after its end (a write each cost a commit
        # each), while the next pass goes on (`_tell`). A preemptor's key told why it waits is
        # told it is preempting after that.
        telling, self._telling = self._telling, []
        rewritten = [k for k, s in said.items() if s.written == at] if preemptions.in_flight else []
        self._tell(at, telling, rewritten)
        return placed

    def _tell(self, at: dt.datetime, telling: list[PendingReason], rewritten: list[str]) -> None:
        """Write the pass's pending reasons in the background, after the last pass's (so the
        newer wins): the next pass does not wait for them (a pending job's reason is read, not
        acted on). A failed write is logged; the reasons are written again at the latest
        REASON_REFRESH_S later."""
        previous, store = self._reasons, self.c.store
        if not telling and not rewritten:
            return
        if previous is not None and previous.done():
            previous = None

        async def write() -> None:
            if previous is not None:
                await asyncio.wait([previous])  # (its failure is its own: logged)
            await asyncio.to_thread(store.set_pending_reasons, at, telling)
            if rewritten:
                await self.preemptions.reassert(rewritten, at)

        self._reasons = asyncio.create_task(write(), name="pending reasons")
        self._reasons.add_done_callback(_log_failure)

    async def settled(self) -> None:
        """Wait for the reasons the last pass left to write (`_tell`)."""
        if self._reasons is not None and not self._reasons.done():
            await asyncio.wait([self._reasons])

    def forget(self) -> None:
        """Leadership lost: let the due jobs in memory go (about 1.6 kB a pending job, of no use
        to a follower); a new term loads them again from the store. A load under way is
        cancelled (`close` waits for it to end; a new load starts once it has) and fills an
        index no pass reads."""
        if self._index is None:
            return
        if self._loading is not None:
            self._loading.cancel()
        self._index = DueIndex()
        self._due = self.c.store

    async def close(self) -> None:
        """Stop the index's first load (if under way) and write the last pass's reasons."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.wait([self._loading])
        await self.settled()

    async def _fair(
        self,
        by_queue: dict[str, list[KeyStream]],
        view: PassView,
        at: dt.datetime,
        planned: list[Planned],
        gang_keys: dict[str, list[GangKey]],
    ) -> int:
        """Take the queues' jobs in fair-share order (see `place_due`): one job at a time from
        the queue with the lowest weighted share, which the job placed then raises. A queue's
        gangs come first in its turns, a whole gang as one turn."""
        placed = 0
        order = [(view.weighted_share(queue), queue) for queue in by_queue.keys() | gang_keys]
        heapq.heapify(order)
        while order:
            _, queue = heapq.heappop(order)
            if waiting_gangs := gang_keys.get(queue):
                placed += await self._place_gang(waiting_gangs.pop(0), view, at)
                heapq.heappush(order, (view.weighted_share(queue), queue))
                continue
            streams = by_queue.get(queue)
            if not streams:
                continue
            stream = streams[0]
            if stream.group is None and stream.seen is None:
                stream.seen = view.seen()  # as the plugin is first shown this key
            # Its route or limits filled up earlier in this pass: the key waits unread (most
            # keys, late in a pass, when clusters fill up). Not while room is held for a
            # preemptor: its key must not look full to it.
            if (
                stream.group is not None
                and stream.needs_page
                and not view.reserved
                and (why := view.group_blocked(stream.group)) is not None
            ):
                stream.refuse(why, key_wide=True)
            job = await stream.next_job(self._due, at)
            if job is None:
                streams.pop(0)  # this key is done for the pass: the queue's next one
            else:
                await self._try(job, stream, view, at, planned)
                if len(planned) >= BATCH:  # one transaction a page: the relay starts sooner
                    placed += await self._commit(planned, view)
                    planned.clear()
                if placed + len(planned) >= PASS_PLACEMENTS:
                    self._more = True  # the rest at once, in another pass
                    return placed
            if streams:
                heapq.heappush(order, (view.weighted_share(queue), queue))
        return placed

    async def _place_gang(self, gang: GangKey, view: PassView, at: dt.datetime) -> int:
        """Place a gang's due members on one cluster with room for all of them, in one
        transaction, or none (saying why in `_gang_waits`); returns how many were placed.
        Members back to pending for another attempt go on their own."""
        name = gang.group.route.g or ""
        jobs = await asyncio.to_thread(
            self._due.due_jobs, at, gangs.MAX_GANG + 1, placement_key=gang.key, after=None
        )
        first, again = gangs.split_members(jobs)
        placed = 0
        for job in again:  # the gang was placed once: each retry alone
            placed += await self._place_together(gang, name, [job], view, at)
        if not first:
            return placed
        size = first[0].spec.gang_size or len(first)
        if len(first) < size:
            why = gangs.waiting_for_gang(name, len(first), size)
            self._gang_waits.append((gang.key, why, len(first)))
            return placed
        return placed + await self._place_together(gang, name, first[:size], view, at)

    async def _place_together(
        self, gang: GangKey, name: str, jobs: list[JobRecord], view: PassView, at: dt.datetime
    ) -> int:
        if not all(self.failures.ready(j.id) for j in jobs):
            return 0  # a member in backoff: the gang waits for it
        needs = [job_requests(j.spec, view.defaults) for j in jobs]
        fitting = gangs.clusters_for(view, gang.group, jobs, needs)
        if not fitting:
            self._gang_waits.append(
                (gang.key, gangs.why_not(view, name, gang.group, jobs, needs), gang.due)
            )
            return 0
        updates = []
        try:
            chosen = choose_cluster(self.c, jobs[0], fitting, view.in_flight)
            cluster_id = chosen if chosen in {c.id for c in fitting} else fitting[0].id
            for job in jobs:
                try:
                    manifest = render_for_dispatch(job, self.c.plugins)
                except Exception as e:  # this member's fault: the gang waits (or it is parked)
                    if self.failures.failed(job.id, e, f"job {job.id}"):
                        await self._park(job, e)
                    return 0
                updates.append(_whole(self._dispatch(job, cluster_id, manifest, at)))
        except Exception as e:  # a plugin's choice failed: as one job's would
            if self.failures.failed(jobs[0].id, e, f"job {jobs[0].id}"):
                await self._park(jobs[0], e)
            return 0
        for job, need in zip(jobs, needs, strict=True):
            self.failures.succeeded(job.id)
            view.take(cluster_id, job, need)
        try:
            results = await asyncio.to_thread(self.c.store.update_jobs, updates)
        except gangs.GangBroken:  # a member changed meanwhile: none placed, tried next pass
            for job, need in zip(jobs, needs, strict=True):
                view.give_back(cluster_id, job, need)
            return 0
        for result in results:
            if result is not None:
                changes.state_changed(self.c.plugins, *result)
                metrics.DISPATCHES.labels(cluster=cluster_id).inc()
        return sum(r is not None for r in results)

    async def _drain(
        self, stream: KeyStream, view: PassView, at: dt.datetime, planned: list[Planned]
    ) -> int:
        """Take a stream's jobs in order (jobs without a key)."""
        placed = 0
        while (job := await stream.next_job(self._due, at)) is not None:
            await self._try(job, stream, view, at, planned)
            if len(planned) >= BATCH:
                placed += await self._commit(planned, view)
                planned.clear()
        return placed

    async def _try(
        self,
        job: JobRecord,
        stream: KeyStream,
        view: PassView,
        at: dt.datetime,
        planned: list[Planned],
    ) -> None:
        """`_plan` the job; a preemptor whose victims are gone takes the room held for it (and
        holds it again if it still does not fit)."""
        held = self.preemptions.release(view, job) if view.reserved else None
        placed = stream.placed
        await self._plan(job, stream, view, at, planned)
        if held is not None and stream.placed == placed:
            view.reserve(held[0], job.id, held[1])

    async def _plan(
        self,
        job: JobRecord,
        stream: KeyStream,
        view: PassView,
        at: dt.datetime,
        planned: list[Planned],
    ) -> None:
        """Plan the job's dispatch where there is room, or say in its stream why it waits: a
        job stopped by a pod count or a count limit means the key's other jobs would be too; one
        stopped by its size lets smaller ones try."""
        if not self.failures.ready(job.id):
            return
        if stream.limited is None:  # what depends on the key alone, asked once
            stream.limited = stream.key is None or view.limits_apply(
                job.spec.queue, job.spec.namespace
            )
            stream.by_size = None if stream.key is None else view.judged_by_size(job)
        need = job_requests(job.spec, view.defaults)  # never raises (bad quantity: default)
        if stream.dominated(job, need):  # no smaller than one that found no room: neither does it
            return
        blocked = view.job_blocked(job, need) if stream.limited else None
        if blocked is not None:
            stream.refuse(blocked[:2], key_wide=blocked[2])
            return
        try:
            candidates = view.candidates(job, need)
            cluster_id = (
                choose_cluster(self.c, job, candidates, view.in_flight) if candidates else None
            )
            if cluster_id is None:
                by_size = view.judged_by_size(job) if stream.by_size is None else stream.by_size
                # Its own reason: the key's first, or (until one is found) whether it may
                # preempt — the first job of the key short of room only.
                wanted = stream.may_preempt and stream.short is None
                own = view.no_room(job, need) if wanted or stream.why is None else None
                why = stream.why or own or view.no_room(job, need)
                if wanted and own is not None and own[0] == NO_CAPACITY:
                    stream.short = (job, need)
                key_wide = not by_size
                if by_size and stream.group is not None:
                    # Too big for what is left, or is nothing left? Then the rest waits unread.
                    # (Said as the job's own reason, with what it needs, when it has one.)
                    key_wide = view.group_blocked(stream.group) is not None
                stream.refuse(why, key_wide=key_wide, need=None if key_wide else need)
                return
            manifest = render_for_dispatch(job, self.c.plugins)
        except Exception as e:  # this job's fault (a plugin, its spec): not the others'
            if self.failures.failed(job.id, e, f"job {job.id}"):
                await self._park(job, e)
            return
        self.failures.succeeded(job.id)
        update = self._dispatch(job, cluster_id, manifest, at)
        planned.append(Planned(cluster_id, need, job, update))
        view.take(cluster_id, job, need)  # the next job sees it
        stream.placed += 1

    async def _say(self, key: str, why: tuple[str, str], count: int, at: dt.datetime) -> Said:
        """Write why the key's due jobs wait, unless it was written already. Jobs that joined
        the key since (more of them) get it alone — a range of the key's index, not the whole
        key; the whole key is checked again every REASON_REFRESH_S (jobs back to pending with an
        older `created_at`, a message whose figures alone changed)."""
        reason, message = why
        clock = time.monotonic()
        last = self._said.get(key)
        stale = last is None or clock - last.checked >= REASON_REFRESH_S
        if (
            last is not None
            and {last.reason, reason} <= CROWDED
            and clock - last.checked < REASON_HOLD_S
        ):
            # Room and limits turn over as jobs start and end: a key at its queue's limit one
            # pass and short of room the next says the first a moment longer, rather than have
            # all its jobs rewritten every pass.
            reason, message = last.reason, last.message
        if last is not None and last.reason == reason and not stale:
            if last.jobs == count:
                return last  # what it says holds (figures aside, until the refresh)
            if count > last.jobs:  # newcomers: only those created since the last write
                # (Fewer changed than joined: some joined with an older created_at — edited
                # into this key, or back to pending — and the store writes the whole key.)
                since = last.written - JOIN_MARGIN
                told = PendingReason(key, reason, last.message, since, count - last.jobs)
                self._telling.append(told)
                return Said(reason, last.message, count, last.checked, at)
            return Said(reason, last.message, count, last.checked, last.written)
        if last is not None and not stale and (last.reason, last.message) == (reason, message):
            return last
        self._telling.append(PendingReason(key, reason, message))
        return Said(reason, message, count, clock, at)

    async def _view(
        self,
        known: list[ClusterRecord],
        states: dict[str, str],
        ready: list[ClusterRecord],
        in_flight: dict[str, int],
        at: dt.datetime,
        *,
        shares: bool,
    ) -> PassView:
        """This pass's view: the clusters, their load and free figures, the queues' and
        namespaces' limits and what their jobs hold (all read once). `shares`: jobs of more than
        one queue are due (fair share compares what the queues hold)."""
        scheduling = self.c.settings.scheduling
        definitions = await self._definitions()
        # What the queues hold is read only when some queue has a limit to check it against, or
        # queues are to share.
        limited = any(
            has_limit(d.limits) or has_limit(d.limits.per_cluster) for d in definitions.values()
        )
        wanted = limited or shares
        usage = await asyncio.to_thread(self.c.store.queue_usage, PLACED) if wanted else []
        namespaces = (
            await asyncio.to_thread(self.c.store.namespace_usage, sorted(scheduling.namespaces))
            if scheduling.namespaces
            else {}
        )
        # What each cluster with figures runs that they may not count yet: from the store (a
        # new leader knows it too). Jobs dispatched or created count until they run (their pods
        # may not be bound yet: the agent counts only bound ones); the others when they started
        # after the report or never did. Both moments are the agent's clock: a job that started
        # before the report had its pod bound then, and is in the figures (measured from the
        # dispatch, the server's clock less a skew margin, a job shorter than the margin was
        # counted twice, and a node never filled up with short jobs).
        since = {c.id: c.resources.at for c in ready if c.resources is not None}
        unreported = (
            await asyncio.to_thread(
                self.c.store.started_since,
                since,
                PLACED,
                (JobState.DISPATCHED, JobState.CREATED),
            )
            if since
            else {}
        )
        return PassView(
            known=known,
            states=states,
            ready=ready,
            in_flight=in_flight,
            definitions=definitions,
            namespace_limits=scheduling.namespaces,
            usage=usage,
            namespace_usage=namespaces,
            unreported=unreported,
            defaults=scheduling.default_requests.requests(),
        )

    async def _due_keys(
        self, at: dt.datetime, *, explain_only: bool
    ) -> list[tuple[str | None, int]]:
        """The due jobs' keys with how many each, the oldest first: from the index, brought up
        to date first (in the same thread hop), or from the store — also when no cluster can
        take any job (`explain_only`): the pass only says why they wait, and the index catches
        up once there is room (jobs submitted meanwhile are read then, once)."""
        index, store = self._index, self.c.store
        if index is None or explain_only or not self._index_loaded(index):
            self._due = store
            return await asyncio.to_thread(store.due_placement_keys, at)
        self._due = index

        def read() -> list[tuple[str | None, int]]:
            index.refresh(store)
            return index.due_placement_keys(at)

        return await asyncio.to_thread(read)

    def _index_loaded(self, index: DueIndex) -> bool:
        """Whether the index holds every pending job; if not, its first load is started in the
        background (a few seconds for 100,000 jobs): passes meanwhile read the store."""
        loading = self._loading
        if loading is not None and loading.done():
            self._loading = None
            if not loading.cancelled() and (error := loading.exception()) is not None:
                log.warning("due jobs not loaded (read from the store meanwhile): %s", error)
        if index.position is not None and self._loading is None:
            return True
        if self._loading is None:
            self._loading = asyncio.create_task(
                asyncio.to_thread(index.refresh, self.c.store), name="due jobs' first load"
            )
        return False

    async def _definitions(self) -> dict[str, QueueDefinition]:
        """Every queue's definition: the configuration's, and the store's read again at most
        every QUEUES_TTL_S (a queue PUT over the API takes effect within that)."""
        clock = time.monotonic()
        if self._queues is None or clock - self._queues[0] >= QUEUES_TTL_S:
            stored = await asyncio.to_thread(self.c.store.list_queues)
            found = {r.name: r.definition for r in stored}
            found |= queues.configured(self.c.settings.scheduling.queues)
            self._queues = (clock, found)
        return self._queues[1]

    async def _commit(self, planned: list[Planned], view: PassView) -> int:
        """Write the planned dispatches: how many happened."""
        if not planned:
            return 0
        # One transaction for the lot: a burst of submissions costs one commit per page.
        results = await asyncio.to_thread(self.c.store.update_jobs, [p.update for p in planned])
        placed = 0
        for p, result in zip(planned, results, strict=True):
            if result is None:  # changed meanwhile: it took no room
                view.give_back(p.cluster_id, p.job, p.need)
                continue
            changes.state_changed(self.c.plugins, *result)
            metrics.DISPATCHES.labels(cluster=p.cluster_id).inc()
            placed += 1
        return placed

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest delayed job is due (None: none is waiting)."""
        at = await asyncio.to_thread(self.c.store.next_run_at, now())
        return None if at is None else (at - now()).total_seconds()

    async def _in_use(
        self, clusters: list[ClusterRecord]
    ) -> tuple[list[ClusterRecord], dict[str, int]]:
        """The clusters with what the store knows runs there as their load (`running`: its
        running jobs, and those being cancelled or lost, whose pods may still run; `pending`:
        created, not running yet), and per cluster the dispatches not yet acknowledged (in
        flight). Not the last heartbeat's figures: a job that ended frees its slot as soon as
        its final state is stored, not a heartbeat later, and one that started is counted
        before the agent reports it. (One count: one consistent moment.)"""
        counts = await asyncio.to_thread(
            self.c.store.count_jobs_by_cluster_and_state, (JobState.DISPATCHED, *OCCUPYING)
        )
        self._counts = counts
        loaded = []
        for c in clusters:
            count = counts.get(c.id, {})
            running = sum(count.get(state, 0) for state in OCCUPYING if state != JobState.CREATED)
            pending = count.get(JobState.CREATED, 0)
            loaded.append(msgspec.structs.replace(c, running=running, pending=pending))
        return loaded, {c: n.get(JobState.DISPATCHED, 0) for c, n in counts.items()}

    def _dispatch(
        self, job: JobRecord, cluster_id: str, manifest: dict[str, Any], at: dt.datetime
    ) -> JobUpdate:
        """The job's move to `cluster_id`, with its dispatch message in the outbox."""

        def change(current: JobRecord) -> JobRecord | None:
            if current.state != JobState.PENDING or current.attempt != job.attempt:
                return None  # changed meanwhile (cancelled, edited, or placed by another leader)
            return msgspec.structs.replace(
                current,
                state=JobState.DISPATCHED,
                cluster_id=cluster_id,
                dispatched_at=at,
                updated_at=at,
                reason=None,  # no longer waiting: why it waited is over
                message=None,
            )

        # Encoded once: stored as the attempt's manifest, and spliced as-is into the message
        # (msgspec writes a `Raw` verbatim; the message's schema is unchanged).
        manifest_json = msgspec.json.encode(manifest)
        body = messages.encode(
            messages.Dispatch(
                job_id=job.id,
                attempt=job.attempt,
                manifest=cast(dict[str, Any], msgspec.Raw(manifest_json)),
                log_collect=job.spec.log_collect,
                replaces=self._previous_name(job),
            )
        )
        return JobUpdate(
            job.id,
            change,
            lambda j: [(messages.dispatch_topic(cluster_id), body)],
            lambda j: EventRecord(
                job_id=j.id, attempt=j.attempt, state=j.state, at=at, cluster_id=cluster_id
            ),
            manifest=manifest_json,
        )

    async def _park(self, job: JobRecord, error: Exception) -> None:
        """A job that cannot be placed however often it is tried: failed, saying why."""
        at = now()
        text = f"kjs could not dispatch it: {error.__class__.__name__}: {error}"[:1000]

        def change(current: JobRecord) -> JobRecord | None:
            if current.state != JobState.PENDING or current.attempt != job.attempt:
                return None
            return msgspec.structs.replace(
                current,
                state=JobState.FAILED,
                updated_at=at,
                finished_at=at,
                reason="DispatchError",
                message=text,
            )

        result = await asyncio.to_thread(
            self.c.store.update_job,
            job.id,
            change,
            lambda j: order_for(j, self.c.plugins),
            lambda j: job_event(j, at),
        )
        if result is not None:
            changes.state_changed(self.c.plugins, *result)

    @staticmethod
    def _previous_name(job: JobRecord) -> str | None:
        if job.attempt <= 1:
            return None
        return manifests.k8s_name(job.spec.name, job.id, job.attempt - 1)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("pending reasons not written: %s", error, exc_info=error)


def _whole(update: JobUpdate) -> JobUpdate:
    """A gang member's update that rolls the gang's transaction back when the member changed
    meanwhile (its change finds it no longer pending): all of the gang, or none."""
    inner = update.change

    def change(current: JobRecord) -> JobRecord | None:
        after = inner(current)
        if after is None:
            raise gangs.GangBroken(current.id)
        return after

    return dataclasses.replace(update, change=change)
