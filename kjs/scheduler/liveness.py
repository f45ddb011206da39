"""Clusters that stop reporting (leader work).

* A dispatch not yet acknowledged by an `unreachable` cluster moves: the job starts attempt n+1,
  pending again, free to go elsewhere. The move is fenced by the attempt: the old cluster is
  told to delete attempt n's object should it create it late, and its news about attempt n no
  longer changes the job — it never runs twice.
* Created or running jobs of a cluster silent for `lost_after_s` become `lost`; when the
  cluster reports again, the state machine takes its word for their true state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import msgspec

from kjs.core import clock
from kjs.core import manifest as manifests
from kjs.core.components import Components
from kjs.core.records import EventRecord, JobRecord
from kjs.core.states import JobState
from kjs.scheduler import changes, fencing

log = logging.getLogger(__name__)


class LivenessSweeper:
    def __init__(self, components: Components) -> None:
        self.c = components

    async def run(self) -> None:
        """Leader work (a task run every `sweep_s`)."""
        await self.sweep()

    async def sweep(self) -> int:
        """Move or mark the jobs of silent clusters; returns how many jobs changed."""
        store, settings = self.c.store, self.c.settings.dispatch
        now = clock.now()
        changed = 0
        for cluster in await asyncio.to_thread(store.list_clusters):
            silent = (now - cluster.last_heartbeat).total_seconds() if cluster.last_heartbeat else 0
            moved = lost = 0
            if silent > settings.unreachable_after_s:
                moved = await self._move(cluster.id, JobState.DISPATCHED, now)
            if silent > settings.lost_after_s:
                lost = await self._lose(cluster.id, now)
            if moved or lost:  # each job has its INFO line; the cluster deserves a warning
                log.warning(
                    "cluster %s silent for %.0f s: %d jobs moved elsewhere, %d lost",
                    cluster.id,
                    silent,
                    moved,
                    lost,
                )
            changed += moved + lost
        return changed

    async def _jobs(self, cluster_id: str, state: JobState) -> list[JobRecord]:
        jobs, _ = await asyncio.to_thread(
            lambda: self.c.store.list_jobs(limit=500, cluster_id=cluster_id, state=state.value)
        )
        return jobs

    async def _move(self, cluster_id: str, state: JobState, now: dt.datetime) -> int:
        moved = 0
        skew = dt.timedelta(seconds=self.c.settings.dispatch.clock_skew_s)
        for job in await self._jobs(cluster_id, state):
            due = await asyncio.to_thread(self.c.store.outbox_available_at, job.id)
            if due is not None and due + skew > now:
                continue  # a copy of its dispatch may still be acted on: wait until it expires

            def change(current: JobRecord, seen: JobRecord = job) -> JobRecord | None:
                if current.state != JobState.DISPATCHED or current.attempt != seen.attempt:
                    return None
                attempt = current.attempt + 1
                return msgspec.structs.replace(
                    current,
                    state=JobState.PENDING,
                    attempt=attempt,
                    cluster_id=None,
                    dispatched_at=None,
                    updated_at=now,
                    reason="ClusterUnreachable",
                    message=f"cluster {cluster_id} stopped reporting before creating it",
                    k8s_name=manifests.k8s_name(current.spec.name, current.id, attempt),
                )

            def fence(after: JobRecord, old: JobRecord = job) -> list[tuple[str, bytes]]:
                return fencing.cancel_attempt(old)

            result = await asyncio.to_thread(
                self.c.store.update_job,
                job.id,
                change,
                fence,
                lambda after: EventRecord(
                    job_id=after.id,
                    attempt=after.attempt,
                    state=after.state,
                    at=now,
                    reason=after.reason,
                    message=after.message,
                    cluster_id=cluster_id,
                ),
            )
            if result is not None:
                # Its dispatch to the silent cluster must not be re-published either.
                await asyncio.to_thread(self.c.store.outbox_ack, job.id)
                changes.state_changed(self.c.plugins, *result)
                moved += 1
        return moved

    async def _lose(self, cluster_id: str, now: dt.datetime) -> int:
        lost = 0
        for state in (JobState.CREATED, JobState.RUNNING):
            for job in await self._jobs(cluster_id, state):

                def change(current: JobRecord, seen: JobRecord = job) -> JobRecord | None:
                    if current.state != seen.state or current.attempt != seen.attempt:
                        return None
                    return msgspec.structs.replace(
                        current,
                        state=JobState.LOST,
                        updated_at=now,
                        reason="ClusterLost",
                        message=f"cluster {cluster_id} has not reported for a while",
                    )

                result = await asyncio.to_thread(
                    self.c.store.update_job,
                    job.id,
                    change,
                    lambda after: (),
                    lambda after: EventRecord(
                        job_id=after.id,
                        attempt=after.attempt,
                        state=after.state,
                        at=now,
                        reason=after.reason,
                        cluster_id=cluster_id,
                    ),
                )
                if result is not None:
                    changes.state_changed(self.c.plugins, *result)
                    lost += 1
        return lost
