"""What the API can do with jobs: submit, read, list, edit, cancel, rerun. Transport-free."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from kjs.core import gangs, messages, metrics
from kjs.core import manifest as manifests
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.errors import Conflict, NotFound
from kjs.core.ids import new_id
from kjs.core.models import JobSpec
from kjs.core.protocols import Idempotency, IdempotencyConflict, JobChange
from kjs.core.queues import DEFAULT_QUEUE
from kjs.core.records import EventRecord, JobRecord, next_attempt
from kjs.core.render import render_for_dispatch
from kjs.core.routing import placement_key_of
from kjs.core.states import JobState
from kjs.core.validation import MAX_BATCH_ITEMS, FieldError, InvalidInput, check_job
from kjs.scheduler import changes, fencing, leader, preemption
from kjs.scheduler.dispatcher import Dispatcher
from kjs.scheduler.job_writer import JobWriter
from kjs.scheduler.queues import QueueService
from kjs.scheduler.watch import ChangeFeed
from kjs.scheduler.webhooks import order_for

MAX_IDEMPOTENCY_KEY = 255
STREAM_ASK_EVERY_S = 30.0  # how often one replica asks an agent to stream one attempt's log


def idempotency(
    key: str, principal: str, spec: JobSpec, *, field: str = "Idempotency-Key"
) -> Idempotency:
    """A key's scope — who sent it, for which namespace — and the request it came with, both
    as SHA-256 digests: the same key means the same job only for the same principal and
    namespace, and only with the same request. `field`: where the key came from, for the 400
    of a key too long."""
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            [FieldError(field, f"at most {MAX_IDEMPOTENCY_KEY} characters (got {len(key)})")]
        )
    scope = msgspec.json.encode([principal, spec.namespace, key])
    return Idempotency(
        scope=hashlib.sha256(scope).hexdigest(),
        request=hashlib.sha256(_request_bytes(spec)).hexdigest(),
    )


def waiting_for(run_at: dt.datetime | None) -> tuple[str | None, str | None]:
    """A pending job's reason and message until placement considers it (docs/queues.md):
    `WaitingForRunAt` while its run_at is ahead, else none (the next pass writes why it waits,
    if it does)."""
    if run_at is None:
        return None, None
    return "WaitingForRunAt", f"waiting for run_at {run_at.isoformat()}"


def _request_bytes(spec: JobSpec) -> bytes:
    """The spec as its idempotency digest reads it: without `queue` when it is `default`, and
    without `priority_class` when it has none, so that a key used before jobs had queues (or
    priority classes) still replays the same request."""
    if spec.queue != DEFAULT_QUEUE and spec.priority_class is not None:
        return msgspec.json.encode(spec)
    fields = msgspec.to_builtins(spec)
    if spec.queue == DEFAULT_QUEUE:
        del fields["queue"]
    if spec.priority_class is None:
        del fields["priority_class"]
    return msgspec.json.encode(fields)


def _routes(spec: JobSpec) -> list[str]:
    return [spec.cluster] if isinstance(spec.cluster, str) else spec.cluster or []


def _unknown_routes(spec: JobSpec, known: set[str]) -> list[FieldError]:
    """A route naming a cluster nobody has heard of (`known`: the clusters there are)."""
    listed = ", ".join(sorted(known)) or "none yet"
    return [
        FieldError(
            "cluster" if isinstance(spec.cluster, str) else f"cluster[{i}]",
            f"unknown cluster {route!r} (known: {listed})",
        )
        for i, route in enumerate(_routes(spec))
        if route not in known
    ]


class BatchItem(NamedTuple):
    """One job of `JobService.submit_batch`, with its idempotency key if it has one."""

    spec: JobSpec
    idempotency_key: str | None = None


class JobService:
    def __init__(self, components: Components, dispatcher: Dispatcher) -> None:
        self.c = components
        self.dispatcher = dispatcher
        self.writer = JobWriter(components.store)
        self.feed = ChangeFeed(components.store.watch_position)
        self.queues = QueueService(components)
        self._stream_asks: dict[tuple[str, int], float] = {}  # (job, attempt) -> when asked

    async def _known_clusters(self) -> set[str]:
        return {c.id for c in await asyncio.to_thread(self.c.store.list_clusters)}

    async def check_routes(self, spec: JobSpec) -> None:
        """A route naming a cluster nobody has heard of is refused now, not left pending."""
        if not _routes(spec):
            return
        errors = _unknown_routes(spec, await self._known_clusters())
        if errors:
            raise InvalidInput(errors)

    def _rule_errors(self, spec: JobSpec, at: dt.datetime) -> list[FieldError]:
        return check_job(
            spec, now=at, allow_private_callbacks=self.c.settings.webhooks.allow_private
        )

    async def _check(self, spec: JobSpec, *, edits: JobSpec | None = None) -> int:
        """A 400 naming each field that does not fit; else the job's priority. `edits`: the
        job's spec this one replaces (its gang stays); else gang fields are the batch's."""
        gang_errors = (
            gangs.single_route_errors(spec) if edits is None else gangs.edit_errors(edits, spec)
        )
        errors = self._rule_errors(spec, now()) + gang_errors
        if errors:
            raise InvalidInput(errors)
        priority = await self.queues.check(spec)
        await self.check_routes(spec)
        return priority

    def new_record(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        cron_id: str | None = None,
        job_id: str | None = None,
        priority: int = 0,
    ) -> JobRecord:
        """A new job (or cron run), pending, of `priority` (`QueueService.check`); a run_at in
        the past means now."""
        job_id, at = job_id or new_id(), now()
        run_at = spec.run_at if spec.run_at is not None and spec.run_at > at else None
        reason, message = waiting_for(run_at)
        return JobRecord(
            id=job_id,
            spec=spec,
            k8s_name=manifests.k8s_name(spec.name, job_id),
            created_at=at,
            updated_at=at,
            run_at=run_at,
            idempotency_key=idempotency_key,
            cron_id=cron_id,
            reason=reason,
            message=message,
            priority=priority,
        )

    async def submit(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        principal: str = "",
        cron_id: str | None = None,
        job_id: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Accept a job; returns it and whether it is new (False: the job `principal` submitted
        before with this idempotency key, in this namespace; a different request with the key
        is a Conflict)."""
        key = idempotency(idempotency_key, principal, spec) if idempotency_key else None
        if key is not None:
            existing = await self._replayed(key, idempotency_key)
            if existing is not None:
                return existing, False
        priority = await self._check(spec)
        job = self.new_record(
            spec,
            idempotency_key=idempotency_key,
            cron_id=cron_id,
            job_id=job_id,
            priority=priority,
        )
        try:
            (stored,) = await self.writer.write([(job, key)])
        except IdempotencyConflict as e:  # the same key, sent at once with another request
            raise Conflict(
                f"Idempotency-Key {idempotency_key!r} was used for a different request "
                f"(job {e.job_id})"
            ) from e
        self._announce([stored] if stored.id == job.id else [], principal)
        return stored, stored.id == job.id

    async def submit_batch(
        self, items: Sequence[BatchItem], *, principal: str = ""
    ) -> list[tuple[JobRecord, bool]]:
        """Accept many jobs at once, all or none: every item is checked as `submit` checks one
        (its fields named `items[i].<field>`, its key `items[i].idempotency_key`), and if any
        is invalid nothing is stored (InvalidInput). Then one store transaction. Returns, per
        item and in order, its job and whether it is new (False: the job of its idempotency
        key, sent before by `principal` in this namespace, or by an earlier item of the
        batch). A key used before with a different request is a Conflict for the whole
        batch, and nothing is stored."""
        if len(items) > MAX_BATCH_ITEMS:
            raise InvalidInput(
                [FieldError("items", f"at most {MAX_BATCH_ITEMS} items (got {len(items)})")]
            )
        at = now()
        known = await self._known_clusters() if any(_routes(i.spec) for i in items) else set()
        admitted = await self.queues.admit([i.spec for i in items])
        errors: list[FieldError] = []
        keys: list[Idempotency | None] = []
        for index, ((spec, raw_key), admission) in enumerate(zip(items, admitted, strict=True)):
            path = f"items[{index}]"
            found = (
                self._rule_errors(spec, at) or admission.errors() or _unknown_routes(spec, known)
            )
            errors += [FieldError(f"{path}.{e.field}", e.message) for e in found]
            try:
                keys.append(
                    idempotency(raw_key, principal, spec, field=f"{path}.idempotency_key")
                    if raw_key
                    else None
                )
            except InvalidInput as e:
                errors += e.errors
        errors += gangs.batch_errors([i.spec for i in items])
        if errors:
            raise InvalidInput(errors)
        await self._gangs_unused(items)
        records = [
            self.new_record(
                i.spec, idempotency_key=i.idempotency_key or None, priority=admission.priority
            )
            for i, admission in zip(items, admitted, strict=True)
        ]
        try:
            stored = await self.writer.write(list(zip(records, keys, strict=True)))
        except IdempotencyConflict as e:
            earlier = next((i for i, r in enumerate(records) if r.id == e.job_id), None)
            holder = f"items[{earlier}]" if earlier is not None else f"job {e.job_id}"
            raise Conflict(
                f"items[{e.index}].idempotency_key {items[e.index].idempotency_key!r} was used "
                f"for a different request ({holder})"
            ) from e
        results = [(job, job.id == record.id) for job, record in zip(stored, records, strict=True)]
        self._announce([job for job, new in results if new], principal)
        return results

    async def _gangs_unused(self, items: Sequence[BatchItem]) -> None:
        """A 409 when a gang id of the batch is held by unfinished jobs in its namespace (its
        members would share their placement key with the new ones)."""
        for index, item in enumerate(items):
            spec = item.spec
            if spec.gang is None or any(i.spec.gang == spec.gang for i in items[:index]):
                continue
            holder = await asyncio.to_thread(self.c.store.gang_holder, spec.namespace, spec.gang)
            if holder is not None:
                raise Conflict(
                    f"items[{index}].gang {spec.gang} is held by unfinished job {holder} "
                    f"in namespace {spec.namespace}: pick another id, or cancel that gang"
                )

    def _announce(self, accepted: list[JobRecord], principal: str) -> None:
        """Jobs new in the store: told, counted, and placement woken for them."""
        if accepted:
            changes.accepted(accepted, principal)
            metrics.JOBS_SUBMITTED.inc(len(accepted))
            # Placement only: it wakes the relay once it has written dispatches (a relay pass
            # now would find nothing and hold the real one back by its coalescing interval).
            self.dispatcher.wake(leader.PLACEMENT)

    async def _replayed(self, key: Idempotency, raw_key: str | None) -> JobRecord | None:
        """The job of an idempotency key used before, if the request is the same (else 409)."""
        found = await asyncio.to_thread(self.c.store.get_job_by_idempotency, key.scope)
        if found is None:
            return None
        job, request = found
        if request != key.request:
            raise Conflict(
                f"Idempotency-Key {raw_key!r} was used for a different request (job {job.id})"
            )
        return job

    async def dry_run(self, spec: JobSpec) -> dict[str, Any]:
        """The Kubernetes object the job would become, without accepting it."""
        priority = await self._check(spec)
        return render_for_dispatch(self.new_record(spec, priority=priority), self.c.plugins)

    async def get(self, job_id: str) -> JobRecord:
        job = await asyncio.to_thread(self.c.store.get_job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    async def manifest(self, job: JobRecord, attempt: int) -> bytes:
        """The Kubernetes object (JSON) `job`'s `attempt` was dispatched with; NotFound saying
        why when there is none."""
        stored = await asyncio.to_thread(self.c.store.job_manifest, job.id, attempt)
        if stored is not None:
            return stored
        if attempt > job.attempt:
            why = f"job {job.id} has no attempt {attempt} (its latest is {job.attempt})"
        elif attempt == job.attempt and job.state is JobState.PENDING:
            why = f"attempt {attempt} of job {job.id} is pending: not dispatched yet"
        else:
            why = (
                f"attempt {attempt} of job {job.id} was never dispatched (it ended before, "
                "or was dispatched by a kjs older than stored manifests)"
            )
        raise NotFound(why)

    async def callbacks(self, job_id: str) -> list[dict[str, Any]]:
        await self.get(job_id)
        return await asyncio.to_thread(self.c.store.list_callbacks, job_id)

    async def redeliver(self, job_id: str) -> JobRecord:
        """Deliver the final state's webhook again (same event id)."""
        job = await self.get(job_id)
        orders = order_for(job, self.c.plugins)
        if not orders:
            raise Conflict(
                f"job {job_id} has no callback to deliver (not final, or no callback_url)"
            )
        await asyncio.to_thread(self.c.store.add_outbox, orders)
        self.dispatcher.wake(leader.WEBHOOKS)
        return job

    async def stream_logs(self, job: JobRecord) -> None:
        """Ask the job's agent to stream its current attempt's log now (a follow wants it, and
        `log_collect` would keep nothing before the end): a control message through the outbox,
        as a cancel goes. Idempotent on the agent: a second ask changes nothing. Asked once per
        attempt every `STREAM_ASK_EVERY_S` by this replica, however many follow: a reader
        opening follows in a loop must not fill the outbox."""
        if job.cluster_id is None:
            return
        key, at = (job.id, job.attempt), time.monotonic()
        if at - self._stream_asks.get(key, -STREAM_ASK_EVERY_S) < STREAM_ASK_EVERY_S:
            return
        if len(self._stream_asks) >= 10_000:  # bounded: forget the asks too old to matter
            self._stream_asks = {
                k: t for k, t in self._stream_asks.items() if at - t < STREAM_ASK_EVERY_S
            }
        self._stream_asks[key] = at
        body = messages.encode(
            messages.Control(
                action="stream_logs",
                job_id=job.id,
                attempt=job.attempt,
                namespace=job.spec.namespace,
                k8s_name=job.k8s_name,
            )
        )
        await asyncio.to_thread(
            self.c.store.add_outbox, [(messages.control_topic(job.cluster_id), body)]
        )
        self.dispatcher.wake(leader.RELAY)

    async def events(self, job_id: str) -> list[EventRecord]:
        await self.get(job_id)
        return await asyncio.to_thread(self.c.store.job_events, job_id)

    async def list_jobs(
        self, *, limit: int, cursor: str | None, sort: str = "-created_at", **filters: Any
    ) -> tuple[list[JobRecord], str | None]:
        return await asyncio.to_thread(
            lambda: self.c.store.list_jobs(limit=limit, cursor=cursor, sort=sort, **filters)
        )

    async def watch_position(self) -> int:
        """The store's newest job change: a list read after it, then a watch from it, misses
        nothing (a change made while listing comes again in the watch, rather than never)."""
        return await asyncio.to_thread(self.c.store.watch_position)

    async def job_changes(
        self, after: int, *, limit: int, **filters: Any
    ) -> tuple[list[JobChange], int]:
        """Changes after seq `after` (raises `Gone` for a position not kept), and how far."""
        return await asyncio.to_thread(
            lambda: self.c.store.job_changes(after, limit=limit, **filters)
        )

    async def events_after(self, job_id: str, after: int) -> list[EventRecord]:
        return await asyncio.to_thread(self.c.store.job_events, job_id, after)

    async def _update(
        self, job_id: str, change: Any, outbox: Any = lambda j: (), reason: str | None = None
    ) -> JobRecord:
        """Change a job in one transaction; a change that starts a new attempt also fences the
        previous one (its cluster is told to delete it, wherever the new one goes)."""
        at = now()
        seen: list[JobRecord] = []

        def tracked(current: JobRecord) -> JobRecord | None:
            seen.append(current)
            return change(current)  # type: ignore[no-any-return]

        result = await asyncio.to_thread(
            self.c.store.update_job,
            job_id,
            tracked,
            lambda j: [*fencing.fence_previous(seen[-1], j), *outbox(j)],
            lambda j: EventRecord(
                job_id=j.id,
                attempt=j.attempt,
                state=j.state,
                at=at,
                reason=reason,
                cluster_id=j.cluster_id,
            ),
        )
        if result is None:
            return await self.get(job_id)
        before, after = result
        if before.state != after.state or before.attempt != after.attempt:
            changes.state_changed(self.c.plugins, before, after)
        self.dispatcher.wake(leader.PLACEMENT, leader.RELAY, leader.WEBHOOKS)
        return after

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel: at once if it never left the server, else through its cluster's agent."""
        job = await self.get(job_id)
        if job.state.is_final:
            return job

        def change(current: JobRecord) -> JobRecord | None:
            if current.state.is_final or (
                current.state == JobState.CANCELLING and not preemption.preempted(current)
            ):
                return None
            at = now()
            if current.state == JobState.PENDING:
                return msgspec.structs.replace(
                    current,
                    state=JobState.CANCELLED,
                    updated_at=at,
                    finished_at=at,
                    reason="Cancelled",
                )
            # (Being preempted, it would start again: cancelled, it ends.)
            message = None if preemption.preempted(current) else current.message
            return msgspec.structs.replace(
                current,
                state=JobState.CANCELLING,
                updated_at=at,
                reason="CancelRequested",
                message=message,
            )

        def control(current: JobRecord) -> list[tuple[str, bytes]]:
            if current.state == JobState.CANCELLED:  # never left the server: final at once
                return order_for(current, self.c.plugins)
            if current.state != JobState.CANCELLING:
                return []
            return fencing.cancel_attempt(current)

        return await self._update(job_id, change, control, reason="CancelRequested")

    def _next_attempt(self, current: JobRecord, spec: JobSpec, priority: int) -> JobRecord:
        at = now()
        run_at = spec.run_at if spec.run_at and spec.run_at > at else None
        reason, message = waiting_for(run_at)
        return next_attempt(
            current,
            at,
            spec=spec,
            reason=reason,
            message=message,
            run_at=run_at,
            priority=priority,
        )

    async def rerun(self, job_id: str) -> JobRecord:
        """Start attempt n+1 (its agent deletes the previous attempt's object first), with its
        class's value as it is now."""
        priority = await self.queues.priority_of((await self.get(job_id)).spec)
        return await self._update(
            job_id, lambda j: self._next_attempt(j, j.spec, priority), reason="Rerun"
        )

    async def update(self, job_id: str, spec: JobSpec, *, final_too: bool = False) -> JobRecord:
        """Pending: edited in place. Dispatched, created, running: a new attempt. Final: 409
        (or, `final_too`, a new attempt as well)."""
        job = await self.get(job_id)
        if job.state.is_final and not final_too:
            raise Conflict(f"job {job_id} is {job.state}: rerun it instead")
        priority = await self._check(spec, edits=job.spec)

        def change(current: JobRecord) -> JobRecord | None:
            if current.state.is_final and not final_too:
                return None
            if current.state == JobState.PENDING:
                at = now()
                run_at = spec.run_at if spec.run_at and spec.run_at > at else None
                reason, message = waiting_for(run_at)  # the next pass says why, if it waits
                if (
                    run_at is None
                    and current.run_at is None
                    and placement_key_of(spec, priority)
                    == placement_key_of(current.spec, current.priority)
                ):
                    # Waiting where it waited: why holds (placement writes a key's reason only
                    # when its jobs or what it says change).
                    reason, message = current.reason, current.message
                return msgspec.structs.replace(
                    current,
                    spec=spec,
                    updated_at=at,
                    k8s_name=manifests.k8s_name(spec.name, current.id, current.attempt),
                    run_at=run_at,
                    reason=reason,
                    message=message,
                    priority=priority,
                )
            return self._next_attempt(current, spec, priority)

        updated = await self._update(job_id, change, reason="Updated")
        if updated.state.is_final and not final_too:
            raise Conflict(f"job {job_id} is {updated.state}: rerun it instead")
        return updated
