"""What agents send the server: status events, log chunks and heartbeats, applied idempotently.

Every replica consumes (the channel `server` is shared, so each message is handled once, and a
redelivered one changes nothing the second time): the state machine ignores duplicates, late
events and events of older attempts; log chunks are keyed by their sequence number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

import msgspec

from kjs.core import manifest as manifests
from kjs.core import messages, metrics
from kjs.core.backends import subscribe_with
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.group_commit import GroupCommit
from kjs.core.protocols import Delivery, JobUpdate
from kjs.core.records import ClusterRecord, ClusterResources, CronRecord, EventRecord, JobRecord
from kjs.core.states import JobState, next_state
from kjs.scheduler import changes, fencing, leader, preemption
from kjs.scheduler.webhooks import order_for

log = logging.getLogger(__name__)
# Status messages the server handles at once, unless its store says how many it writes well as
# one group (an optional `status_writes_in_flight` attribute: the SQL store's says 128 on SQLite):
# every message in flight is a change the next group-committed transaction may carry.
DEFAULT_STATUS_IN_FLIGHT = 16

Updated = tuple[JobRecord, JobRecord] | None


class StatusConsumer:
    def __init__(
        self, components: Components, *, on_change: Callable[..., None] = lambda *tasks: None
    ) -> None:
        self.c = components
        # Status changes are written by group commit: the news that arrives while the store
        # writes goes in its next transaction (with each job's dispatch acknowledgement).
        self.writer: GroupCommit[JobUpdate, Updated] = GroupCommit(components.store.update_jobs)
        # The jobs the news is about are read the same way: one SELECT for the events that
        # arrive while the last one runs (three events a job; a read each cost a thread hop).
        self.reader: GroupCommit[str, JobRecord | None] = GroupCommit(components.store.get_jobs)
        self._mismatch_locks: dict[str, asyncio.Lock] = {}
        # Wakes leader tasks (none named: placement): room may have appeared, a webhook is due.
        self.on_change = on_change

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()

    async def start(self) -> None:
        q = self.c.queue
        await subscribe_with(
            q,
            messages.STATUS_TOPIC,
            messages.SERVER_CHANNEL,
            self.on_status,
            max_in_flight=getattr(
                self.c.store, "status_writes_in_flight", DEFAULT_STATUS_IN_FLIGHT
            ),
        )
        await q.subscribe(messages.LOGS_TOPIC, messages.SERVER_CHANNEL, self.on_log)
        await q.subscribe(messages.HEARTBEAT_TOPIC, messages.SERVER_CHANNEL, self.on_heartbeat)

    @staticmethod
    def _decode(delivery: Delivery) -> messages.Message | None:
        try:
            return messages.decode(delivery.body)
        except (msgspec.DecodeError, messages.UnsupportedVersion) as e:
            log.error("dropping an unreadable message: %s", e)  # retrying cannot fix it
            return None

    async def on_status(self, delivery: Delivery) -> bool:
        done = await self._on_status(delivery)
        metrics.QUEUE_MESSAGES.labels(topic="status", result="done" if done else "later").inc()
        return done

    async def _on_status(self, delivery: Delivery) -> bool:
        event = self._decode(delivery)
        if not isinstance(event, messages.StatusEvent):
            return True
        state = JobState(event.state)
        if state.is_final and not await self._logs_complete(event):
            if now() - event.at < dt.timedelta(seconds=self.c.settings.logs.final_wait_s):
                return False  # hold the final state back until its logs are stored
            event = msgspec.structs.replace(
                event,
                message=((event.message + "; ") if event.message else "")
                + "log incomplete: not every chunk arrived in time",
            )
        job = await self._known_job(event)
        if job is None:
            return True
        if event.attempt < job.attempt:
            await self._fence_stale(event, state, job)
            return True
        if _disagrees(job, event, state):
            # One at a time per job, so that the disagreement is written down once (the news of
            # two resyncs may be consumed together; replicas get them far apart, if ever).
            # (Kept: a disagreement is rare, and a lock dropped while awaited would not serialise.)
            async with self._mismatch_locks.setdefault(event.job_id, asyncio.Lock()):
                return await self._store_status(event, state, job)
        return await self._store_status(event, state, job)

    async def _store_status(
        self, event: messages.StatusEvent, state: JobState, job: JobRecord
    ) -> bool:
        moved = False  # a state change gets an event; news within a state does not
        disagrees = _disagrees(job, event, state) and not await self._mismatch_noted(event)

        def change(job: JobRecord) -> JobRecord | None:
            nonlocal moved, disagrees
            disagrees = disagrees and _disagrees(job, event, state)
            if disagrees:  # the state stays; the disagreement is written down, once
                return msgspec.structs.replace(job, updated_at=now())
            after = self._apply(job, event, state)
            moved = after is not None and after.state != job.state
            return after

        def event_record(job: JobRecord) -> EventRecord | None:
            if disagrees:
                return _mismatch_record(job, event, state)
            return self._event_record(job, event) if moved else None

        # Once the agent has acted on the dispatch, it is no longer re-published — unless this
        # is news of an older attempt (moved elsewhere since), whose dispatch is not the open one.
        acted = state not in (JobState.PENDING, JobState.DISPATCHED)
        update = JobUpdate(
            event.job_id,
            change,
            lambda job: order_for(job, self.c.plugins) if moved else (),
            event_record,
            acknowledge=(lambda job: job.attempt == event.attempt) if acted else None,
        )
        (result,) = await self.writer.write([update])
        if disagrees and result is not None:
            metrics.CONDITION_MISMATCHES.inc()
            log.warning(
                "job %s attempt %d: the cluster now says %s (%s), kjs keeps %s",
                event.job_id,
                event.attempt,
                state,
                event.reason,
                result[1].state,
            )
        if result is not None and result[0].state != result[1].state:
            before, after = result
            changes.state_changed(self.c.plugins, before, after)
            _observe_latencies(before, after, event)
            if after.state.is_final or after.attempt != before.attempt:  # (a preempted one's)
                self.on_change(leader.PLACEMENT, leader.RELAY, leader.WEBHOOKS)
        return True

    async def _mismatch_noted(self, event: messages.StatusEvent) -> bool:
        events = await asyncio.to_thread(self.c.store.job_events, event.job_id)
        return any(e.reason == MISMATCH and e.attempt == event.attempt for e in events)

    async def _fence_stale(
        self, event: messages.StatusEvent, state: JobState, job: JobRecord
    ) -> None:
        """News of an attempt older than the job's current one: if that attempt is still alive
        on its cluster (it was silent when fenced), answer with its cancel."""
        if state in (JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING):
            name = event.k8s_name or manifests.k8s_name(job.spec.name, job.id, event.attempt)
            namespace = event.namespace or job.spec.namespace
            topic, body = fencing.cancel_message(
                job.id, event.attempt, event.cluster_id, namespace, name
            )
            await self.c.queue.publish(topic, body)
            log.warning(
                "job %s: attempt %s still %s on %s (current attempt %s): told to cancel it",
                job.id,
                event.attempt,
                state,
                event.cluster_id,
                job.attempt,
            )

    async def _known_job(self, event: messages.StatusEvent) -> JobRecord | None:
        """The job the event is about, if it is one. Makes sense of an event for an id that is
        not a job: a native cron job's CronJob object (None), or a run its CronJob started
        (recorded now, under the id the agent gave it)."""
        store = self.c.store
        (job,) = await self.reader.write([event.job_id])
        if job is not None:
            return job
        cron = await asyncio.to_thread(store.get_cron, event.cron_id or event.job_id)
        if cron is None:
            log.warning("status for unknown job %s ignored", event.job_id)
            return None
        if event.job_id == cron.id:  # the CronJob object itself
            if event.state != "pending" and event.attempt == cron.attempt:
                # Only the current attempt's news acknowledges the open dispatch (the old
                # attempt confirming its cancel must not drop the new attempt's dispatch).
                await asyncio.to_thread(store.outbox_ack, cron.id)

            def change(c: CronRecord) -> CronRecord | None:
                if c.attempt != event.attempt:
                    return None
                if event.state == "cancelled" and c.deleted:  # its cluster confirms the delete
                    return msgspec.structs.replace(c, state="removed", updated_at=now())
                if c.state == "dispatched" and event.state != "cancelled":
                    return msgspec.structs.replace(c, state="created", updated_at=now())
                return None

            await asyncio.to_thread(store.update_cron, cron.id, change)
            return None
        from kjs.scheduler.crons import job_spec_of

        run = JobRecord(
            id=event.job_id,
            spec=job_spec_of(cron.spec),
            state=JobState.CREATED,
            cluster_id=event.cluster_id,
            k8s_name=event.k8s_name or cron.k8s_name,
            created_at=event.at,
            updated_at=now(),
            cron_id=cron.id,
            attempt=event.attempt,
        )
        stored = await asyncio.to_thread(store.create_job, run)
        await asyncio.to_thread(
            store.update_cron,
            cron.id,
            lambda c: msgspec.structs.replace(
                c, last_run_at=max(c.last_run_at or event.at, event.at)
            ),
        )
        return stored

    async def _logs_complete(self, event: messages.StatusEvent) -> bool:
        """Every chunk the final event names is kept by the log sink, in full."""
        if not event.last_log_seq:
            return True
        stored = await self.c.log_sink.chunk_counts(event.job_id, event.attempt)
        for key, last_seq in event.last_log_seq.items():
            pod, _, container = key.partition("/")
            chunks, size = stored.get((pod, container), (0, 0))
            if chunks < last_seq + 1 or size < event.log_bytes.get(key, 0):
                return False
        return True

    @staticmethod
    def _apply(job: JobRecord, event: messages.StatusEvent, state: JobState) -> JobRecord | None:
        new = next_state(job.state, job.attempt, state, event.attempt)
        if new is None:
            return StatusConsumer._detail(job, event, state)
        at = now()
        if new in (JobState.CANCELLED, JobState.FAILED) and preemption.preempted(job):
            # Its cancel for another job's room is confirmed: it waits again, as a new attempt
            # (not final: no webhook). One that succeeded first keeps its success.
            return preemption.requeued(job, new, at)
        changes: dict[str, object] = {"state": new, "updated_at": at}
        if event.exit_codes:
            changes["exit_codes"] = {**job.exit_codes, **event.exit_codes}
        if event.reason is not None:
            changes["reason"] = event.reason
        if event.message is not None:
            changes["message"] = event.message
        if new == JobState.RUNNING and job.started_at is None:
            changes["started_at"] = event.at
        if new.is_final:
            changes["finished_at"] = event.at
            changes.setdefault("started_at", job.started_at)
        return msgspec.structs.replace(job, **changes)

    @staticmethod
    def _detail(job: JobRecord, event: messages.StatusEvent, state: JobState) -> JobRecord | None:
        """Same state, news within it (a pod that cannot start says why): update the reason,
        message and exit codes, not the state, and add no event."""
        if state != job.state or event.attempt != job.attempt or state.is_final:
            return None
        codes = {**job.exit_codes, **event.exit_codes}
        # An event without a reason (the agent's acknowledgement of a dispatch, which may arrive
        # after its news) says nothing about why: it must not erase a reason already known.
        reason, message = (
            (event.reason, event.message) if event.reason is not None else (job.reason, job.message)
        )
        if (reason, message, codes) == (job.reason, job.message, job.exit_codes):
            return None
        return msgspec.structs.replace(
            job, reason=reason, message=message, exit_codes=codes, updated_at=now()
        )

    @staticmethod
    def _event_record(job: JobRecord, event: messages.StatusEvent) -> EventRecord | None:
        if job.attempt != event.attempt:  # a preempted attempt ended: the job waits again
            return preemption.requeued_event(job, event.at)
        codes = [code for containers in event.exit_codes.values() for code in containers.values()]
        return EventRecord(
            job_id=job.id,
            attempt=event.attempt,
            state=str(job.state),
            at=event.at,
            reason=event.reason,
            message=event.message,
            pod=event.pod,
            exit_code=next((c for c in codes if c != 0), codes[0] if codes else None),
            cluster_id=event.cluster_id,
        )

    async def on_log(self, delivery: Delivery) -> bool:
        chunk = self._decode(delivery)
        if isinstance(chunk, messages.LogChunk):
            await self.c.log_sink.append(
                chunk.job_id,
                chunk.attempt,
                chunk.pod,
                chunk.container,
                chunk.seq,
                chunk.data,
                chunk.truncated,
            )
        return True

    async def on_heartbeat(self, delivery: Delivery) -> bool:
        beat = self._decode(delivery)
        if isinstance(beat, messages.Heartbeat):
            await asyncio.to_thread(
                self.c.store.upsert_cluster,
                ClusterRecord(
                    id=beat.cluster_id,
                    labels=beat.labels,
                    version=beat.version,
                    capacity=beat.capacity,
                    running=beat.running,
                    pending=beat.pending,
                    last_heartbeat=beat.at,
                    resources=_resources(beat),
                ),
            )
            self.on_change()
        return True


def _resources(beat: messages.Heartbeat) -> ClusterResources | None:
    """The heartbeat's resource figures, if it has them (an older agent's has none)."""
    if beat.allocatable is None or beat.free is None or beat.resources_at is None:
        return None
    return ClusterResources(
        allocatable=beat.allocatable,
        free=beat.free,
        largest_free_node=beat.largest_free_node or beat.free,
        at=beat.resources_at,
        partial=beat.resources_partial,
    )


MISMATCH = "ConditionMismatch"
# The states an attempt reaches once its Kubernetes object exists (some skip `created`).
_MADE = (JobState.CREATED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)


def _observe_latencies(before: JobRecord, after: JobRecord, event: messages.StatusEvent) -> None:
    """accepted → created: from when the attempt could start (the job accepted, or its run_at;
    a later attempt: its dispatch) to the agent's word that its object exists. terminated →
    stored: from the end the agent saw to now, when the final state is stored (the time its
    logs took to arrive included). Clamped at 0: the agent's clock may run ahead."""
    if before.state in (JobState.PENDING, JobState.DISPATCHED) and after.state in _MADE:
        due = max(before.created_at, before.run_at or before.created_at)
        if after.attempt > 1 and after.dispatched_at is not None:
            due = after.dispatched_at
        metrics.ACCEPTED_TO_CREATED.observe(max(0.0, (event.at - due).total_seconds()))
    if after.state.is_final and not before.state.is_final:
        metrics.TERMINATED_TO_STORED.observe(max(0.0, (now() - event.at).total_seconds()))


def _disagrees(job: JobRecord, event: messages.StatusEvent, state: JobState) -> bool:
    """A final state of the current attempt, reported after another final state was stored
    (decided from the pods; the Job's condition, later, says otherwise)."""
    return (
        job.state.is_final
        and state.is_final
        and state != job.state
        and event.attempt == job.attempt
        and job.state not in (JobState.CANCELLED, JobState.LOST)
        and state not in (JobState.CANCELLED, JobState.LOST)
    )


def _mismatch_record(job: JobRecord, event: messages.StatusEvent, state: JobState) -> EventRecord:
    said = f"{event.reason}: {event.message}" if event.message else str(event.reason)
    return EventRecord(
        job_id=job.id,
        attempt=event.attempt,
        state=str(job.state),
        at=event.at,
        reason=MISMATCH,
        message=f"the Job's condition says {state} ({said}); kjs keeps {job.state} (its pods')",
        pod=event.pod,
    )
