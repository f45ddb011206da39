"""Leader-only work that moves accepted jobs to clusters.

* Placement: due pending jobs (run_at reached) go to the cluster the balancer (or a
  `select_cluster` plugin) picks; the state change and the dispatch message are written in one
  transaction (the outbox), so nothing is lost between "saved" and "sent".
* The outbox relay publishes what the outbox holds; a dispatch stays there until the agent
  acknowledges it and is re-published every `ack_timeout_s` until then.
* Timers, not polling: the loop sleeps until the next run_at or outbox retry, or until woken
  (a submission, a heartbeat, an acknowledgement). A follower replica that sees such news tells
  the leader on `kjs.wake` (coalesced); a slow safety sweep covers a lost wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from kjs.core import manifest as manifests
from kjs.core import messages, metrics
from kjs.core.components import Components
from kjs.core.plugins import Plugins
from kjs.core.records import EventRecord, JobRecord
from kjs.core.states import JobState

log = logging.getLogger(__name__)
COALESCE_S = 0.02
WAKE_EVERY_S = 0.1  # a follower's burst of news becomes one wake-up message
BATCH = 200


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def render_for_dispatch(job: JobRecord, plugins: Plugins) -> dict[str, Any]:
    """The Kubernetes Job for the job's current attempt, after `prepare_manifest` plugins."""
    manifest = manifests.render_job(
        job.spec, job_id=job.id, attempt=job.attempt, cron_id=job.cron_id
    )
    labels = dict(manifest["metadata"]["labels"])
    plugins.prepare_manifest(job, manifest)
    # Plugins may add, never take away or change, what tracking relies on.
    system = {
        k: v for k, v in labels.items() if k.startswith("kjs.io/") or k == manifests.MANAGED_BY
    }
    manifest["metadata"].setdefault("labels", {}).update(system)
    template = manifest["spec"]["template"].setdefault("metadata", {})
    template.setdefault("labels", {}).update(system)
    manifest["metadata"]["name"] = job.k8s_name
    manifest["metadata"]["namespace"] = job.spec.namespace
    return manifest


class Dispatcher:
    def __init__(self, components: Components) -> None:
        self.c = components
        # More leader work run on each pass (cron ticks, native cron dispatch), wired by the server.
        self.extra_work: list[Callable[[], Awaitable[int]]] = []
        self._wake = asyncio.Event()
        self._wake_leader = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.replica = uuid.uuid4().hex[:12]

    def wake(self) -> None:
        """There may be work to place: now if this replica leads, else tell the leader."""
        self._wake.set()
        if not self.c.election.is_leader:
            self._wake_leader.set()

    async def start(self) -> None:
        # A channel per replica, gone with it: every replica hears every wake-up.
        channel = f"server-{self.replica}#ephemeral"
        await self.c.queue.subscribe(messages.WAKE_TOPIC, channel, self._on_wake)
        self._tasks = [
            asyncio.create_task(self._run(), name="dispatcher"),
            asyncio.create_task(self._tell_leader(), name="dispatcher wake-ups"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_wake(self, delivery: Any) -> bool:
        self._wake.set()
        return True

    async def _tell_leader(self) -> None:
        body = messages.encode(messages.Wake(by=self.replica))
        while True:
            await self._wake_leader.wait()
            self._wake_leader.clear()
            try:
                await self.c.queue.publish(messages.WAKE_TOPIC, body)
            except Exception as e:  # the leader's safety sweep finds the work anyway
                log.debug("wake-up not sent: %s", e)
            await asyncio.sleep(WAKE_EVERY_S)

    async def _run(self) -> None:
        while True:
            await self.c.election.wait_leader()
            # Cleared before the pass, not after: a wake-up during the pass means another pass.
            self._wake.clear()
            try:
                for work in self.extra_work:
                    await work()
                await self.dispatch_due()
                await self.relay_outbox()
                delay = await self._until_next()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the store or queue is down: try again soon
                log.warning("dispatcher: %s", e)
                delay = self.c.settings.dispatch.sweep_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            # Let a burst of wake-ups (submissions, heartbeats) coalesce into one pass.
            await asyncio.sleep(COALESCE_S)

    async def _until_next(self) -> float:
        store, sweep = self.c.store, self.c.settings.dispatch.sweep_s
        candidates = [
            await asyncio.to_thread(store.next_run_at),
            await asyncio.to_thread(store.outbox_next_at),
            await asyncio.to_thread(store.next_cron_at),
        ]
        times = [t for t in candidates if t is not None]
        if not times:
            return sweep
        return max(0.0, min(sweep, (min(times) - now()).total_seconds()))

    async def dispatch_due(self) -> int:
        """Place every due pending job that has a cluster with room; returns how many."""
        store = self.c.store
        at = now()
        clusters = [
            c
            for c in await asyncio.to_thread(store.list_clusters)
            if self.c.cluster_state(c, at) == "ready"
        ]
        if not clusters:
            return 0  # nowhere to go: do not even load the jobs
        in_flight = await self._in_flight(clusters)
        if all(c.running + c.pending + in_flight.get(c.id, 0) >= c.capacity for c in clusters):
            return 0
        jobs = await asyncio.to_thread(store.due_jobs, at, BATCH)
        placed = 0
        for job in jobs:
            cluster_id = self.c.plugins.select_cluster(job, clusters) or self.c.balancer.choose(
                job, clusters, in_flight
            )
            if cluster_id is None:
                continue  # every eligible cluster is full: it waits, pending
            if await self._dispatch(job, cluster_id):
                metrics.DISPATCHES.labels(cluster=cluster_id).inc()
                in_flight[cluster_id] = in_flight.get(cluster_id, 0) + 1
                placed += 1
        return placed

    async def _in_flight(self, clusters: list[Any]) -> dict[str, int]:
        """Per cluster, the work its heartbeat does not show yet: dispatches not acknowledged,
        and jobs created or running since its last heartbeat (it reports once a few seconds;
        without this, a cluster would look free between a job's start and its next report)."""
        store = self.c.store
        counts = {
            state: await asyncio.to_thread(store.count_jobs_by_cluster, state)
            for state in (JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING)
        }
        in_flight = {}
        for c in clusters:
            active = counts[JobState.CREATED].get(c.id, 0) + counts[JobState.RUNNING].get(c.id, 0)
            unreported = max(0, active - (c.running + c.pending))
            in_flight[c.id] = counts[JobState.DISPATCHED].get(c.id, 0) + unreported
        return in_flight

    async def _dispatch(self, job: JobRecord, cluster_id: str) -> bool:
        manifest = render_for_dispatch(job, self.c.plugins)
        at = now()

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

        body = messages.encode(
            messages.Dispatch(
                job_id=job.id,
                attempt=job.attempt,
                manifest=manifest,
                log_collect=job.spec.log_collect,
                replaces=self._previous_name(job),
            )
        )
        result = await asyncio.to_thread(
            self.c.store.update_job,
            job.id,
            change,
            lambda j: [(messages.dispatch_topic(cluster_id), body)],
            lambda j: EventRecord(
                job_id=j.id, attempt=j.attempt, state=j.state, at=at, cluster_id=cluster_id
            ),
        )
        if result is not None:
            self.c.plugins.job_state_changed(result[1], str(result[0].state), str(result[1].state))
        return result is not None

    @staticmethod
    def _previous_name(job: JobRecord) -> str | None:
        if job.attempt <= 1:
            return None
        return manifests.k8s_name(job.spec.name, job.id, job.attempt - 1)

    async def relay_outbox(self) -> int:
        """Publish what is due in the outbox; returns how many messages went out."""
        store, ack_timeout = self.c.store, self.c.settings.dispatch.ack_timeout_s
        items = await asyncio.to_thread(store.outbox_due, now(), BATCH)
        silent = await self._silent_dispatch_topics() if any(i.job_id for i in items) else set()
        published = 0
        for item in items:
            body, retry_at = item.body, None
            if item.job_id:
                if item.topic in silent:
                    continue  # let its copies expire: then the sweeper moves it elsewhere
                # A dispatch stays until acknowledged, re-published when this copy expires;
                # anything else is done once published.
                retry_at = now() + dt.timedelta(seconds=ack_timeout)
                body = _with_expiry(body, retry_at)
            await self.c.queue.publish(item.topic, body)
            await asyncio.to_thread(store.outbox_sent, item.id, retry_at=retry_at)
            metrics.OUTBOX_PUBLISHED.inc()
            published += 1
        return published

    async def _silent_dispatch_topics(self) -> set[str]:
        at = now()
        return {
            messages.dispatch_topic(c.id)
            for c in await asyncio.to_thread(self.c.store.list_clusters)
            if self.c.cluster_state(c, at) == "unreachable"
        }


def _with_expiry(body: bytes, expires_at: dt.datetime) -> bytes:
    """A dispatch's body stamped with the moment after which no agent may act on this copy."""
    message = messages.decode(body)
    if not isinstance(message, messages.Dispatch):
        return body
    return messages.encode(msgspec.structs.replace(message, expires_at=expires_at))
