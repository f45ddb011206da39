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
import uuid
from typing import Any

import msgspec

from kjs.core import leader, messages
from kjs.core import manifest as manifests
from kjs.core.components import Components
from kjs.core.cron import parse_schedule
from kjs.core.models import CronSpec, JobSpec
from kjs.core.records import CronRecord, JobRecord
from kjs.core.service import Conflict, JobService, NotFound
from kjs.core.validation import InvalidInput, check_cron

log = logging.getLogger(__name__)
CRON_WORK = (leader.CRON_TICKS, leader.NATIVE_CRONS, leader.RELAY)
_CRON_ONLY = {
    "schedule",
    "time_zone",
    "mode",
    "suspend",
    "concurrency_policy",
    "start_at",
    "starting_deadline_seconds",
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def job_spec_of(spec: CronSpec) -> JobSpec:
    """The job template of a cron job."""
    fields = {k: v for k, v in msgspec.to_builtins(spec).items() if k not in _CRON_ONLY}
    return msgspec.convert(fields, JobSpec)


def next_fire(spec: CronSpec, after: dt.datetime) -> dt.datetime | None:
    start = max(after, spec.start_at) if spec.start_at else after
    return parse_schedule(spec.schedule).next_after(start, spec.time_zone)


def cron_json(cron: CronRecord, counts: tuple[int, int, int]) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(cron.spec)
    status = msgspec.to_builtins(cron)
    del status["spec"], status["deleted"]
    out.update(status)
    if cron.spec.mode == "native" and not cron.spec.suspend:
        out["next_run_at"] = msgspec.to_builtins(next_fire(cron.spec, now()))
    out["runs_total"], out["runs_succeeded"] = counts[0], counts[1]
    return out


class CronService:
    def __init__(self, components: Components, jobs: JobService) -> None:
        self.c = components
        self.jobs = jobs

    async def _check(self, spec: CronSpec) -> None:
        errors = check_cron(
            spec, now=now(), allow_private_callbacks=self.c.settings.webhooks.allow_private
        )
        if errors:
            raise InvalidInput(errors)
        await self.jobs.check_routes(spec)

    async def create(self, spec: CronSpec, *, cron_id: str | None = None) -> CronRecord:
        await self._check(spec)
        cron_id, at = cron_id or str(uuid.uuid4()), now()
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

    def _control(self, cron: CronRecord, action: Any) -> list[tuple[str, bytes]]:
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
        """Managed: edited in place. Native: its CronJob is replaced (attempt n+1)."""
        await self._check(spec)
        current = await self.get(cron_id)
        if spec.mode != current.spec.mode:
            raise Conflict("mode cannot change: create a new cron job instead")

        def change(cron: CronRecord) -> CronRecord:
            at = now()
            if spec.mode == "managed":
                return msgspec.structs.replace(
                    cron,
                    spec=spec,
                    updated_at=at,
                    next_run_at=None if spec.suspend else next_fire(spec, at),
                )
            attempt = cron.attempt + 1
            return msgspec.structs.replace(
                cron,
                spec=spec,
                attempt=attempt,
                state="pending",
                updated_at=at,
                k8s_name=manifests.k8s_name(spec.name, cron.id, attempt, cron=True),
            )

        return await self._update(cron_id, change)

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
        await self.fire_due()
        at = await asyncio.to_thread(self.c.store.next_cron_at)
        return None if at is None else (at - now()).total_seconds()

    async def dispatch_native_task(self) -> None:
        """The native-crons task."""
        await self.dispatch_pending_native()

    async def fire_due(self) -> int:
        """Fire every due tick of managed cron jobs; returns how many runs were created."""
        fired = 0
        at = now()
        for cron in await asyncio.to_thread(self.c.store.due_crons, at, 100):
            fired += await self._fire(cron, at)
        if fired:
            self.jobs.dispatcher.wake()
        return fired

    async def _fire(self, cron: CronRecord, at: dt.datetime) -> int:
        spec, schedule = cron.spec, parse_schedule(cron.spec.schedule)
        assert cron.next_run_at is not None
        tick = cron.next_run_at
        while (following := schedule.next_after(tick, spec.time_zone)) and following <= at:
            tick = following  # missed ticks collapse into the latest one
        upcoming = schedule.next_after(tick, spec.time_zone)
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
            job_spec = job_spec_of(spec)
            run = self.jobs.new_record(job_spec, cron_id=cron.id)
        ok = await asyncio.to_thread(self.c.store.fire_cron, cron.id, tick, upcoming, run)
        return 1 if ok and run is not None else 0

    async def _cancel_active_runs(self, cron_id: str) -> None:
        runs, _ = await asyncio.to_thread(
            lambda: self.c.store.list_jobs(limit=500, cron_id=cron_id)
        )
        for run in runs:
            if not run.state.is_final:
                await self.jobs.cancel(run.id)

    async def dispatch_pending_native(self) -> int:
        """Send native cron jobs' CronJob objects to a cluster (placed like a job)."""
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
        for cron in pending:
            if cron.spec.start_at and cron.spec.start_at > at:
                continue
            view = JobRecord(
                id=cron.id,
                spec=job_spec_of(cron.spec),
                k8s_name=cron.k8s_name,
                created_at=cron.created_at,
                updated_at=cron.updated_at,
            )
            cluster_id = (
                cron.cluster_id
                if cron.attempt > 1 and cron.cluster_id
                else (
                    self.c.plugins.select_cluster(view, clusters)
                    or self.c.balancer.choose(view, clusters, {})
                )
            )
            if cluster_id is None:
                continue
            sent += await self._dispatch_native(cron, cluster_id, view)
        return sent

    async def _dispatch_native(self, cron: CronRecord, cluster_id: str, view: JobRecord) -> int:
        manifest = manifests.render_cronjob(cron.spec, cron_id=cron.id, attempt=cron.attempt)
        self.c.plugins.prepare_manifest(view, manifest)  # `view`: the cron job, as a job
        replaces = (
            manifests.k8s_name(cron.spec.name, cron.id, cron.attempt - 1, cron=True)
            if cron.attempt > 1
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
