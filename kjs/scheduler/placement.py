"""Placement (leader work): due pending jobs (run_at reached) go to the cluster the balancer, or a
`select_cluster` plugin, picks. The state change and the dispatch message are written in one
transaction (the outbox), so nothing is lost between "saved" and "sent".

One job's fault stays with that job: a plugin that raises on it, or a manifest that cannot be
rendered, puts that job in backoff while the others are placed; after a few failures in a row it
is parked as `failed` (reason `DispatchError`, the error in its message).

Jobs that can be placed are never held back by jobs that cannot: each job's route (`cluster`,
`cluster_selector`) is stored as its *placement key*, and a pass asks the store for the keys of
the due jobs first, then loads the jobs of a key only when one of the clusters that key allows has
room. A thousand jobs waiting for a full cluster cost one row of that summary, not a load.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, cast

import msgspec

from kjs.core import manifest as manifests
from kjs.core import messages, metrics
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.plugins import Plugins
from kjs.core.protocols import ClusterView, JobUpdate, JobView
from kjs.core.records import ClusterRecord, EventRecord, JobRecord
from kjs.core.render import render_for_dispatch
from kjs.core.routing import Route, has_room, route_of
from kjs.core.states import JobState
from kjs.scheduler import changes
from kjs.scheduler.leader import PLACEMENT, ItemFailures
from kjs.scheduler.webhooks import order_for

log = logging.getLogger(__name__)
BATCH = 200
# The states of a job whose Kubernetes Job takes a slot of its cluster (with DISPATCHED: on its
# way there). `cancelling` and `lost` ones may still have pods running.
OCCUPYING = (JobState.CREATED, JobState.RUNNING, JobState.CANCELLING, JobState.LOST)


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

    async def place_due(self) -> int:
        """Place every due pending job that has a cluster with room; returns how many.

        Route by route (placement key), the route with the oldest due job first: a route none
        of whose clusters has room is skipped without loading its jobs; the others' jobs are
        loaded oldest first, BATCH at a time. Jobs without a key are tried one by one."""
        store = self.c.store
        at = now()
        clusters = [
            c
            for c in await asyncio.to_thread(store.list_clusters)
            if self.c.cluster_state(c, at) == "ready"
        ]
        if not clusters:
            return 0  # nowhere to go: do not even load the jobs
        clusters, in_flight = await self._in_use(clusters)
        if all(c.running + c.pending + in_flight.get(c.id, 0) >= c.capacity for c in clusters):
            return 0
        # A key is loaded only when its jobs can go somewhere, so loads follow placements (and
        # `in_flight` grows with each, so keys after a cluster filled up are skipped too).
        judge_by_key = not routes_anywhere(self.c.plugins)
        placed = 0
        for key, _count in await asyncio.to_thread(store.due_placement_keys, at):
            route = route_of(key) if judge_by_key else None
            if route is not None and not has_room(route, clusters, in_flight):
                continue  # every cluster this route allows is full: its jobs wait, unread
            jobs = await asyncio.to_thread(store.due_jobs, at, BATCH, placement_key=key)
            placed += await self._place(jobs, clusters, in_flight, route)
        return placed

    async def _place(
        self,
        jobs: list[JobRecord],
        clusters: list[ClusterRecord],
        in_flight: dict[str, int],
        route: Route | None,
    ) -> int:
        """Place these jobs (of one placement key) in order; `route`: their common route, when
        it alone decides where they may go (then the first job that finds no room ends it)."""
        at = now()
        planned: list[tuple[str, JobUpdate]] = []  # (cluster, its dispatch), written together
        for job in jobs:
            if not self.failures.ready(job.id):
                continue
            try:
                cluster_id = choose_cluster(self.c, job, clusters, in_flight)
                if cluster_id is None:
                    if route is not None:
                        break  # the route's clusters are full now: so they are for the rest
                    continue  # every eligible cluster is full: it waits, pending
                manifest = render_for_dispatch(job, self.c.plugins)
            except Exception as e:  # this job's fault (a plugin, its spec): not the others'
                if self.failures.failed(job.id, e, f"job {job.id}"):
                    await self._park(job, e)
                continue
            self.failures.succeeded(job.id)
            planned.append((cluster_id, self._dispatch(job, cluster_id, manifest, at)))
            in_flight[cluster_id] = in_flight.get(cluster_id, 0) + 1  # the next job sees it
        if not planned:
            return 0
        # One transaction for the lot: a burst of submissions costs one commit per pass.
        results = await asyncio.to_thread(self.c.store.update_jobs, [u for _, u in planned])
        placed = 0
        for (cluster_id, _), result in zip(planned, results, strict=True):
            if result is None:  # changed meanwhile: it took no room
                in_flight[cluster_id] -= 1
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
