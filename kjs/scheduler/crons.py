"""Cron jobs: the API's operations, and the leader's work for them.

* native mode: one Kubernetes CronJob on one cluster (as the original system did); its runs are
  reported by the agent and recorded as jobs with the cron's id.
* managed mode: the server fires each tick itself as a one-off job placed like any other (so a
  run goes wherever there is room, and survives a cluster's loss). A tick row per fire time makes
  "exactly one run per tick" hold with several replicas; missed ticks collapse into the latest
  one, skipped when it is older than `starting_deadline_seconds`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import msgspec

from kjs.core import manifest as manifests
from kjs.core import messages
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.cron import parse_schedule
from kjs.core.errors import Conflict, NotFound
from kjs.core.ids import new_id
from kjs.core.models import Cron, CronSpec, JobSpec
from kjs.core.protocols import ClusterView
from kjs.core.records import CronRecord, JobRecord
from kjs.core.render import cron_as_job, render_cronjob_for_dispatch
from kjs.core.render import job_spec_of as job_spec_of  # re-exported: it lived here
from kjs.core.validation import InvalidInput, check_cron
from kjs.scheduler import changes, leader
from kjs.scheduler.placement import choose_cluster
from kjs.scheduler.service import JobService

log = logging.getLogger(__name__)
CRON_WORK = (leader.CRON_TICKS, leader.NATIVE_CRONS, leader.RELAY)
ROUTING = ("cluster", "cluster_selector")  # what decides where a native cron job's CronJob goes


def next_fire(spec: CronSpec, after: dt.datetime) -> dt.datetime | None:
    start = max(after, spec.start_at) if spec.start_at else after
    return parse_schedule(spec.schedule).next_after(start, spec.time_zone)


def cron_view(cron: CronRecord, counts: tuple[int, int, int]) -> Cron:
    """The API representation (CONTRACT §4): the spec's fields, then status and counters."""
    next_run_at = cron.next_run_at
    if cron.spec.mode == "native" and not cron.spec.suspend:
        next_run_at = next_fire(cron.spec, now())
    fields = msgspec.structs.asdict(cron.spec)
    fields.update(
        id=cron.id,
        attempt=cron.attempt,
        cluster_id=cron.cluster_id,
        k8s_name=cron.k8s_name,
        state=cron.state,
        created_at=cron.created_at,
        updated_at=cron.updated_at,
        next_run_at=next_run_at,
        last_run_at=cron.last_run_at,
        runs_total=counts[0],
        runs_succeeded=counts[1],
    )
    return Cron(**fields)


def cron_json(cron: CronRecord, counts: tuple[int, int, int]) -> dict[str, Any]:
    """`cron_view` as plain JSON-able data."""
    out: dict[str, Any] = msgspec.to_builtins(cron_view(cron, counts))
    return out


class CronService:
    def __init__(self, components: Components, jobs: JobService) -> None:
        self.c = components
        self.jobs = jobs
        # One cron job's fault (a schedule that no longer parses, a plugin that raises on it)
        # stays with it: backoff, then parked; the others go on.
        self.tick_failures = leader.ItemFailures(leader.CRON_TICKS)
        self.native_failures = leader.ItemFailures(leader.NATIVE_CRONS)

    async def _check(self, spec: CronSpec) -> None:
        errors = check_cron(
            spec, now=now(), allow_private_callbacks=self.c.settings.webhooks.allow_private
        )
        if errors:
            raise InvalidInput(errors)
        await self.jobs.queues.check(spec)
        await self.jobs.check_routes(spec)

    async def create(self, spec: CronSpec, *, cron_id: str | None = None) -> CronRecord:
        await self._check(spec)
        cron_id, at = cron_id or new_id(), now()
        managed = spec.mode == "managed"
        cron = CronRecord(
            id=cron_id,
            spec=spec,
            k8s_name=manifests.k8s_name(spec.name, cron_id, cron=True),
            state="active" if managed else "pending",
            created_at=at,
            updated_at=at,
            next_run_at=next_fire(spec, at) if managed and not spec.suspend else None,
        )
        await asyncio.to_thread(self.c.store.create_cron, cron)
        self.jobs.dispatcher.wake(*CRON_WORK)
        return cron

    async def get(self, cron_id: str) -> CronRecord:
        cron = await asyncio.to_thread(self.c.store.get_cron, cron_id)
        if cron is None or cron.deleted:
            raise NotFound(f"cron job {cron_id} not found")
        return cron

    async def counts(self, cron_id: str) -> tuple[int, int, int]:
        return await asyncio.to_thread(self.c.store.cron_run_counts, cron_id)

    async def list_crons(
        self, *, limit: int, cursor: str | None, **filters: Any
    ) -> tuple[list[CronRecord], str | None]:
        return await asyncio.to_thread(
            lambda: self.c.store.list_crons(limit=limit, cursor=cursor, **filters)
        )

    @staticmethod
    def _control(cron: CronRecord, action: Any) -> list[tuple[str, bytes]]:
        """The control message for the CronJob of the cron job's current attempt, to its
        cluster (none when it has none)."""
        if cron.spec.mode != "native" or cron.cluster_id is None:
            return []
        body = messages.encode(
            messages.Control(
                action=action,
                job_id=cron.id,
                attempt=cron.attempt,
                namespace=cron.spec.namespace,
                k8s_name=cron.k8s_name,
                kind="cronjob",
            )
        )
        return [(messages.control_topic(cron.cluster_id), body)]

    async def _update(self, cron_id: str, change: Any, control: str | None = None) -> CronRecord:
        await self.get(cron_id)
        result = await asyncio.to_thread(
            self.c.store.update_cron,
            cron_id,
            change,
            (lambda cron: self._control(cron, control)) if control else (lambda cron: ()),
        )
        self.jobs.dispatcher.wake(*CRON_WORK)
        return result[1] if result else await self.get(cron_id)

    async def set_suspended(self, cron_id: str, suspend: bool) -> CronRecord:
        def change(cron: CronRecord) -> CronRecord | None:
            if cron.spec.suspend == suspend:
                return None
            spec = msgspec.structs.replace(cron.spec, suspend=suspend)
            managed = spec.mode == "managed"
            return msgspec.structs.replace(
                cron,
                spec=spec,
                updated_at=now(),
                next_run_at=next_fire(spec, now()) if managed and not suspend else None,
            )

        return await self._update(cron_id, change, "suspend" if suspend else "resume")

    async def delete(self, cron_id: str) -> CronRecord:
        def change(cron: CronRecord) -> CronRecord:
            return msgspec.structs.replace(cron, deleted=True, next_run_at=None, updated_at=now())

        return await self._update(cron_id, change, "cancel")

    async def update(self, cron_id: str, spec: CronSpec) -> CronRecord:
        """Managed: edited in place. Native: its CronJob is replaced (attempt n+1), on the same
        cluster unless the route changed; the new attempt fences the old one."""
        await self._check(spec)
        current = await self.get(cron_id)
        if spec.mode != current.spec.mode:
            raise Conflict("mode cannot change: create a new cron job instead")
        replaced: list[CronRecord] = []
        if spec.mode == "native":
            # Attempt n's dispatch, if its cluster has not acknowledged it yet, is not to be
            # sent again (a copy already sent is fenced by the cancel below). Before the
            # update, not after: afterwards the open dispatch would be attempt n+1's.
            await asyncio.to_thread(self.c.store.outbox_ack, cron_id)

        def change(cron: CronRecord) -> CronRecord | None:
            if cron.deleted:  # deleted meanwhile: its cancel is on its way already
                return None
            at = now()
            if spec.mode == "managed":
                return msgspec.structs.replace(
                    cron,
                    spec=spec,
                    updated_at=at,
                    next_run_at=None if spec.suspend else next_fire(spec, at),
                )
            replaced[:] = [cron]
            rerouted = any(getattr(spec, f) != getattr(cron.spec, f) for f in ROUTING)
            attempt = cron.attempt + 1
            return msgspec.structs.replace(
                cron,
                spec=spec,
                attempt=attempt,
                state="pending",
                cluster_id=None if rerouted else cron.cluster_id,  # rerouted: placed anew
                updated_at=at,
                k8s_name=manifests.k8s_name(spec.name, cron.id, attempt, cron=True),
            )

        def fence(cron: CronRecord) -> list[tuple[str, bytes]]:
            # The old CronJob is deleted wherever attempt n+1 lands (its dispatch's `replaces`
            # only reaches the same cluster, in the new namespace). Attempt n was sent only if
            # it left `pending`; a pending one never reached its cluster: nothing to delete.
            if not replaced or replaced[0].state == "pending":
                return []
            return self._control(replaced[0], "cancel")

        result = await asyncio.to_thread(self.c.store.update_cron, cron_id, change, fence)
        self.jobs.dispatcher.wake(*CRON_WORK)
        return result[1] if result else await self.get(cron_id)

    async def trigger(self, cron_id: str) -> JobRecord:
        """Run it once now, as a run of this cron job."""
        cron = await self.get(cron_id)
        spec = job_spec_of(cron.spec)
        if cron.spec.mode == "native" and cron.cluster_id:
            spec = msgspec.structs.replace(spec, cluster=cron.cluster_id)
        job, _ = await self.jobs.submit(spec, cron_id=cron.id)
        return job

    # -- leader work -----------------------------------------------------------------------------

    async def fire_due_task(self) -> float | None:
        """The cron-ticks task: fire what is due; returns how soon the next tick is."""
        fired = await self.fire_due()
        at = await asyncio.to_thread(self.c.store.next_cron_at)
        wait = None if at is None else (at - now()).total_seconds()
        if not fired and wait is not None and wait <= 0:
            return None  # what is due is in backoff: look again at the cadence, not at once
        return wait

    async def dispatch_native_task(self) -> None:
        """The native-crons task."""
        await self.dispatch_pending_native()

    async def fire_due(self) -> int:
        """Fire every due tick of managed cron jobs; returns how many runs were created."""
        fired = 0
        at = now()
        for cron in await asyncio.to_thread(self.c.store.due_crons, at, 100):
            if not self.tick_failures.ready(cron.id):
                continue
            try:  # this cron job's own fault (its schedule, its template): not the others'
                tick, upcoming = self._tick(cron, at)
                run_spec = job_spec_of(cron.spec)
            except Exception as e:
                self._failed(self.tick_failures, cron, e)
                continue
            self.tick_failures.succeeded(cron.id)
            fired += await self._fire(cron, tick, upcoming, run_spec, at)
        if fired:
            self.jobs.dispatcher.wake()
        return fired

    @staticmethod
    def _tick(cron: CronRecord, at: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
        """The tick to fire now (missed ticks collapse into the latest one), and the next."""
        spec, schedule = cron.spec, parse_schedule(cron.spec.schedule)
        assert cron.next_run_at is not None
        tick = cron.next_run_at
        while (following := schedule.next_after(tick, spec.time_zone)) and following <= at:
            tick = following
        return tick, schedule.next_after(tick, spec.time_zone)

    async def _fire(
        self,
        cron: CronRecord,
        tick: dt.datetime,
        upcoming: dt.datetime | None,
        run_spec: JobSpec,
        at: dt.datetime,
    ) -> int:
        spec = cron.spec
        late = (at - tick).total_seconds()
        _, _, active = await self.counts(cron.id)
        run: JobRecord | None = None
        if spec.starting_deadline_seconds is not None and late > spec.starting_deadline_seconds:
            log.info("cron %s: tick %s missed its starting deadline; skipped", cron.id, tick)
        elif spec.concurrency_policy == "Forbid" and active:
            log.info("cron %s: tick %s skipped, a run is still active (Forbid)", cron.id, tick)
        else:
            if spec.concurrency_policy == "Replace" and active:
                await self._cancel_active_runs(cron.id)
            priority = await self.jobs.queues.priority_of(run_spec)  # the cron's class, as now
            run = self.jobs.new_record(run_spec, cron_id=cron.id, priority=priority)
        ok = await asyncio.to_thread(self.c.store.fire_cron, cron.id, tick, upcoming, run)
        if ok and run is not None:
            changes.accepted([run], f"cron {cron.id}")
        return 1 if ok and run is not None else 0

    @staticmethod
    def _failed(failures: leader.ItemFailures, cron: CronRecord, error: Exception) -> None:
        """Record one cron job's failure; once parked it is left as it is (no user data is
        touched), and a later pass starts a new window of tries."""
        if failures.failed(cron.id, error, f"cron job {cron.id} ({cron.spec.name})"):
            log.error(
                "leader task %s: cron job %s parked after %d failures; left unchanged",
                failures.task,
                cron.id,
                failures.park_after,
            )

    async def _cancel_active_runs(self, cron_id: str) -> None:
        runs, _ = await asyncio.to_thread(
            lambda: self.c.store.list_jobs(limit=500, cron_id=cron_id)
        )
        for run in runs:
            if not run.state.is_final:
                await self.jobs.cancel(run.id)

    async def dispatch_pending_native(self) -> int:
        """Send native cron jobs' CronJob objects to a cluster (placed like a job). Attempt
        n+1 stays on attempt n's cluster while that cluster is ready and still eligible for its
        spec; otherwise it is placed anew."""
        store, sent = self.c.store, 0
        pending = await asyncio.to_thread(store.pending_crons, 100)
        if not pending:
            return 0
        at = now()
        clusters = [
            c
            for c in await asyncio.to_thread(store.list_clusters)
            if self.c.cluster_state(c, at) == "ready"
        ]
        ready = {c.id: c for c in clusters}
        for cron in pending:
            if cron.spec.start_at and cron.spec.start_at > at:
                continue
            if not self.native_failures.ready(cron.id):
                continue
            try:  # this cron job's own fault (a plugin, its spec): not the others'
                view = cron_as_job(cron)
                cluster_id = (
                    cron.cluster_id
                    if cron.cluster_id and eligible(cron.spec, ready.get(cron.cluster_id))
                    else choose_cluster(self.c, view, clusters, {})
                )
                if cluster_id is None:
                    continue  # nowhere to go yet: it waits, pending
                placed = msgspec.structs.replace(cron, cluster_id=cluster_id)
                manifest = render_cronjob_for_dispatch(placed, self.c.plugins)
            except Exception as e:
                self._failed(self.native_failures, cron, e)
                continue
            self.native_failures.succeeded(cron.id)
            sent += await self._dispatch_native(cron, cluster_id, manifest)
        if sent:
            self.jobs.dispatcher.wake(leader.RELAY)
        return sent

    async def _dispatch_native(
        self, cron: CronRecord, cluster_id: str, manifest: dict[str, Any]
    ) -> int:
        # On the same cluster, the old CronJob goes first; wherever it is, the cancel written
        # with the new attempt (`update`) deletes it.
        replaces = (
            manifests.k8s_name(cron.spec.name, cron.id, cron.attempt - 1, cron=True)
            if cron.attempt > 1 and cron.cluster_id == cluster_id
            else None
        )
        body = messages.encode(
            messages.Dispatch(
                job_id=cron.id,
                attempt=cron.attempt,
                kind="cronjob",
                manifest=manifest,
                log_collect=cron.spec.log_collect,
                replaces=replaces,
            )
        )

        def change(current: CronRecord) -> CronRecord | None:
            if current.state != "pending" or current.attempt != cron.attempt or current.deleted:
                return None
            return msgspec.structs.replace(
                current, state="dispatched", cluster_id=cluster_id, updated_at=now()
            )

        result = await asyncio.to_thread(
            self.c.store.update_cron,
            cron.id,
            change,
            lambda current: [(messages.dispatch_topic(cluster_id), body)],
        )
        return 1 if result else 0


def eligible(spec: CronSpec, cluster: ClusterView | None) -> bool:
    """Whether a cluster may hold this cron job's CronJob: its route lists the cluster (or
    there is none) and its selector matches the cluster's labels."""
    routes = [spec.cluster] if isinstance(spec.cluster, str) else spec.cluster or []
    if cluster is None or (routes and cluster.id not in routes):
        return False
    return all(cluster.labels.get(k) == v for k, v in spec.cluster_selector.items())
