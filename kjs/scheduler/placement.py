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

Why pending: the due jobs a pass leaves pending get a `reason` and `message` per key (one UPDATE
for the key, written only when what it says, or how many jobs it has, changed; a message whose
figures alone changed at most every REASON_REFRESH_S). Not a watch event: a pending job's reason
is read, not watched (docs/queues.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from kjs.core.protocols import ClusterView, JobUpdate, JobView
from kjs.core.queues import QueueDefinition
from kjs.core.records import ClusterRecord, EventRecord, JobRecord
from kjs.core.render import render_for_dispatch
from kjs.core.requests import Requests, job_requests
from kjs.core.routing import Group, group_of
from kjs.core.states import JobState
from kjs.core.usage import HOLDING
from kjs.scheduler import changes
from kjs.scheduler.leader import PLACEMENT, ItemFailures
from kjs.scheduler.room import PassView, has_limit
from kjs.scheduler.webhooks import order_for

log = logging.getLogger(__name__)
BATCH = 200
# Pages of a key's due jobs one pass reads at most: jobs that fit nowhere (too big for every
# cluster, or for their queue's remaining max_cpu) cost a pass a page each, but do not hide the
# smaller ones behind them; past it, the next pass goes on from there.
PAGES_PER_KEY = 10
REASON_REFRESH_S = 30.0  # a pending reason whose figures alone changed is rewritten this often
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


def _fresh(cluster: ClusterRecord, at: dt.datetime, max_age: dt.timedelta) -> ClusterRecord:
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
        self._explained = -EXPLAIN_S  # when the due jobs were last counted (monotonic)
        self._queues: tuple[float, dict[str, QueueDefinition]] | None = None  # (read at, …)
        # Per key a plugin refused whole (see `Refused`): not read again while nothing changed.
        self._refused: dict[str, Refused] = {}
        # Per key, where the last pass stopped reading it (its page budget spent).
        self._resume: dict[str | None, tuple[dt.datetime, str]] = {}

    @property
    def unfinished(self) -> bool:
        """Whether the last pass left a key unread for its page budget (not for want of
        room): the next pass should come at once, not at the next wake-up."""
        return bool(self._resume)

    async def place_due(self) -> int:
        """Place every due pending job that fits somewhere; returns how many.

        Key by key (queue, namespace, route), the key with the oldest due job first: a key whose
        queue or namespace is at a limit, or none of whose clusters has room, is skipped without
        loading its jobs (and says why); the others' jobs are loaded oldest first, BATCH at a
        time, up to PAGES_PER_KEY pages while the key may take more. Jobs without a key are
        tried one by one. When no cluster has room at all, the due jobs are not even counted,
        except every EXPLAIN_S to say why they wait."""
        store = self.c.store
        at, clock = now(), time.monotonic()
        # Figures older than a silent cluster's heartbeat are not trusted (see `_fresh`).
        max_age = dt.timedelta(seconds=self.c.settings.dispatch.unreachable_after_s)
        known = [_fresh(c, at, max_age) for c in await asyncio.to_thread(store.list_clusters)]
        states = {c.id: self.c.cluster_state(c, at) for c in known}
        ready = [c for c in known if states[c.id] == "ready"]
        loaded, in_flight = await self._in_use(ready) if ready else ([], {})
        if _nowhere(loaded, in_flight) and clock - self._explained < EXPLAIN_S:
            return 0  # nothing can be placed, and why was said a moment ago
        keys = await asyncio.to_thread(store.due_placement_keys, at)
        self._explained = clock
        if not keys:
            self._said.clear()
            return 0
        view = await self._view(known, states, loaded, in_flight, at)
        judge_by_key = not routes_anywhere(self.c.plugins)
        placed = 0
        said: dict[str, Said] = {}
        refused: dict[str, Refused] = {}
        resume, self._resume = self._resume, {}
        for key, count in keys:
            group = group_of(key) if judge_by_key else None
            why = view.group_blocked(group) if group is not None else None
            if why is None and key is not None and group is None:
                # Judged job by job by a plugin: a key it refused whole is asked again when the
                # view or the key changed, or EXPLAIN_S later (a plugin may look elsewhere too).
                seen, last = view.seen(), self._refused.get(key)
                if last and (last.seen, last.jobs) == (seen, count) and clock - last.at < EXPLAIN_S:
                    refused[key], why = last, last.why
                else:
                    done, why = await self._place_key(key, view, group, at, resume.get(key))
                    placed += done
                    count -= done
                    if not done and why is not None and key not in self._resume:
                        refused[key] = Refused(seen, count, why, clock)
            elif why is None:
                done, why = await self._place_key(key, view, group, at, resume.get(key))
                placed += done
                count -= done
            if why is not None and key is not None and count > 0:
                said[key] = await self._say(key, why, count, at)
        self._said = said  # keys no longer due are forgotten
        self._refused = refused
        return placed

    async def _place_key(
        self,
        key: str | None,
        view: PassView,
        group: Group | None,
        at: dt.datetime,
        resume: tuple[dt.datetime, str] | None,
    ) -> tuple[int, tuple[str, str] | None]:
        """Place a key's due jobs, a page at a time, oldest first: the next page only while
        the key may take more (a page whose jobs all fit nowhere does not end it), at most
        PAGES_PER_KEY. The first page is always the oldest jobs; the next ones go on from where
        the last pass stopped (`resume`), so every job of a long key is looked at in turn."""
        placed, first_why = 0, None
        cursor: tuple[dt.datetime, str] | None = None
        for page in range(PAGES_PER_KEY):
            jobs = await asyncio.to_thread(
                self.c.store.due_jobs, at, BATCH, placement_key=key, after=cursor
            )
            done, why, sized_out = await self._place(jobs, view, group, same_key=key is not None)
            placed += done
            first_why = first_why or why
            if not sized_out or len(jobs) < BATCH:
                return placed, first_why  # the rest waits as this page did (or there is none)
            if group is not None and (blocked := view.group_blocked(group)) is not None:
                return placed, first_why or blocked  # full now: the rest waits unread
            cursor = (jobs[-1].created_at, jobs[-1].id)
            if page == 0 and resume is not None and resume > cursor:
                cursor = resume
        if cursor is not None:
            self._resume[key] = cursor
        return placed, first_why

    async def _say(self, key: str, why: tuple[str, str], count: int, at: dt.datetime) -> Said:
        """Write why the key's due jobs wait, unless it was written already. Jobs that joined
        the key since (more of them) get it alone — a range of the key's index, not the whole
        key; the whole key is checked again every REASON_REFRESH_S (jobs back to pending with an
        older `created_at`, a message whose figures alone changed)."""
        reason, message = why
        clock = time.monotonic()
        last = self._said.get(key)
        stale = last is None or clock - last.checked >= REASON_REFRESH_S
        if last is not None and last.reason == reason and not stale:
            if last.jobs == count:
                return last  # what it says holds (figures aside, until the refresh)
            if count > last.jobs:  # newcomers: only those created since the last write
                since = last.written - JOIN_MARGIN
                told = await asyncio.to_thread(
                    self.c.store.set_pending_reason,
                    key,
                    reason,
                    last.message,
                    at,
                    created_after=since,
                )
                if told >= count - last.jobs:
                    return Said(reason, last.message, count, last.checked, at)
                # Some joined with an older created_at (edited into this key, or back to
                # pending): the whole key, now.
                await asyncio.to_thread(
                    self.c.store.set_pending_reason, key, reason, last.message, at
                )
                return Said(reason, last.message, count, clock, at)
            return Said(reason, last.message, count, last.checked, last.written)
        if last is not None and not stale and (last.reason, last.message) == (reason, message):
            return last
        await asyncio.to_thread(self.c.store.set_pending_reason, key, reason, message, at)
        return Said(reason, message, count, clock, at)

    async def _view(
        self,
        known: list[ClusterRecord],
        states: dict[str, str],
        ready: list[ClusterRecord],
        in_flight: dict[str, int],
        at: dt.datetime,
    ) -> PassView:
        """This pass's view: the clusters, their load and free figures, the queues' and
        namespaces' limits and what their jobs hold (all read once)."""
        scheduling = self.c.settings.scheduling
        definitions = await self._definitions()
        # What the queues hold is read only when some queue has a limit to check it against.
        limited = any(
            has_limit(d.limits) or has_limit(d.limits.per_cluster) for d in definitions.values()
        )
        usage = await asyncio.to_thread(self.c.store.queue_usage, PLACED) if limited else []
        namespaces = (
            await asyncio.to_thread(self.c.store.namespace_usage, sorted(scheduling.namespaces))
            if scheduling.namespaces
            else {}
        )
        # What was dispatched to each cluster with figures that they may not count yet: from the
        # store (a new leader knows it too). Jobs dispatched or created count until they run
        # (their pods may not be bound yet: the agent counts only bound ones); the others when
        # dispatched after the report, less the clocks' allowed skew.
        skew = dt.timedelta(seconds=self.c.settings.dispatch.clock_skew_s)
        since = {c.id: c.resources.at - skew for c in ready if c.resources is not None}
        unreported = (
            await asyncio.to_thread(
                self.c.store.dispatched_since,
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

    async def _place(
        self, jobs: list[JobRecord], view: PassView, group: Group | None, *, same_key: bool
    ) -> tuple[int, tuple[str, str] | None, bool]:
        """Place these jobs (of one placement key) in order: how many, why the first one left
        pending waits, and whether one waits for its size alone (then a smaller one further on
        may go). `group`: their common queue, namespace and route, when the key alone decides
        where they may go (then the first job stopped by pod count or max_running ends it: so it
        would be for the rest; one stopped by its size lets smaller ones try). `same_key`: they
        share a queue, namespace and route (what depends on those alone is asked once)."""
        at = now()
        planned: list[tuple[str, Requests, JobRecord, JobUpdate]] = []
        first_why: tuple[str, str] | None = None
        sized_out = False
        first = jobs[0] if jobs and same_key else None
        limited = first is None or view.limits_apply(first.spec.queue, first.spec.namespace)
        by_size = None if first is None else view.judged_by_size(first)
        for job in jobs:
            if not self.failures.ready(job.id):
                continue
            need = job_requests(job.spec, view.defaults)  # never raises (bad quantity: default)
            why = view.job_blocked(job, need) if limited else None
            if why is not None:
                first_why = first_why or why[:2]
                if group is not None and why[2]:
                    return await self._commit(planned, view), first_why, False
                sized_out = sized_out or not why[2]  # its queue's remaining CPU or memory
                continue
            try:
                candidates = view.candidates(job, need)
                cluster_id = (
                    choose_cluster(self.c, job, candidates, view.in_flight) if candidates else None
                )
                if cluster_id is None:
                    first_why = first_why or view.no_room(job, need)
                    if not (view.judged_by_size(job) if by_size is None else by_size):
                        if group is not None:  # pod-count clusters full: so for the rest
                            return await self._commit(planned, view), first_why, False
                    else:
                        sized_out = True
                    continue
                manifest = render_for_dispatch(job, self.c.plugins)
            except Exception as e:  # this job's fault (a plugin, its spec): not the others'
                if self.failures.failed(job.id, e, f"job {job.id}"):
                    await self._park(job, e)
                continue
            self.failures.succeeded(job.id)
            planned.append((cluster_id, need, job, self._dispatch(job, cluster_id, manifest, at)))
            view.take(cluster_id, job, need)  # the next job sees it
        return await self._commit(planned, view), first_why, sized_out

    async def _commit(
        self, planned: list[tuple[str, Requests, JobRecord, JobUpdate]], view: PassView
    ) -> int:
        """Write the planned dispatches: how many happened."""
        if not planned:
            return 0
        # One transaction for the lot: a burst of submissions costs one commit per pass.
        results = await asyncio.to_thread(self.c.store.update_jobs, [u for *_, u in planned])
        placed = 0
        for (cluster_id, need, job, _), result in zip(planned, results, strict=True):
            if result is None:  # changed meanwhile: it took no room
                view.give_back(cluster_id, job, need)
                continue
            changes.state_changed(self.c.plugins, *result)
            metrics.DISPATCHES.labels(cluster=cluster_id).inc()
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
            lambda j: EventRecord(
                job_id=j.id,
                attempt=j.attempt,
                state=j.state,
                at=at,
                reason=j.reason,
                message=j.message,
            ),
        )
        if result is not None:
            changes.state_changed(self.c.plugins, *result)

    @staticmethod
    def _previous_name(job: JobRecord) -> str | None:
        if job.attempt <= 1:
            return None
        return manifests.k8s_name(job.spec.name, job.id, job.attempt - 1)
