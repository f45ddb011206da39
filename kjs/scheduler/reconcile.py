"""Jobs whose Kubernetes Job vanished while no agent watched (leader work).

An agent notices a Job deleted outside kjs only while it watches; one deleted by its TTL or a
user while no agent led, or while its cluster was silent (its jobs `lost`), would stay `running`
or `lost` for ever. So every `[dispatch] reconcile_s` — and at once when a cluster that is back
has `lost` jobs — the leader sends each ready cluster's agent a `Reconcile` listing the jobs the
server believes active there; the agent reports each again, or `failed` (`JobDeleted`) when its
Job is gone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import msgspec

from kjs.core import clock, messages
from kjs.core.components import Components
from kjs.core.protocols import JobStore
from kjs.core.records import JobRecord
from kjs.core.states import JobState

log = logging.getLogger(__name__)
# States whose Kubernetes Job should exist on the cluster.
ACTIVE = (JobState.CREATED, JobState.RUNNING, JobState.CANCELLING, JobState.LOST)
# A job changed this recently is left out: its Job may be younger than the agent's view of it.
SETTLE_S = 5.0
# While a cluster has `lost` jobs it is reconciled this often at most (not every sweep).
LOST_EVERY_S = 5.0
CHUNK = 500  # jobs per message, so that one message stays small


class Reconciler:
    def __init__(self, components: Components) -> None:
        self.c = components
        self._sent_at: dict[str, float] = {}  # cluster id -> monotonic time of the last pass

    async def run(self) -> float | None:
        """Leader work (a task run every `sweep_s`): reconcile the clusters that are due."""
        await self.reconcile()
        return None

    async def reconcile(self) -> int:
        """Send a Reconcile to each ready cluster that is due; returns how many were sent."""
        now = clock.now()
        ticks = time.monotonic()
        sent = 0
        for cluster in await asyncio.to_thread(self.c.store.list_clusters):
            live = msgspec.structs.replace(cluster, cordoned=False)
            if self.c.cluster_state(live, now) != "ready":
                continue  # nobody to answer (a cordoned cluster still reports: it is asked)
            if not await self._due(cluster.id, ticks):
                continue
            sent += await self._send(cluster.id, now)
            self._sent_at[cluster.id] = ticks
        return sent

    async def _due(self, cluster_id: str, ticks: float) -> bool:
        last = self._sent_at.get(cluster_id)
        if last is None or ticks - last >= self.c.settings.dispatch.reconcile_s:
            return True
        if ticks - last < LOST_EVERY_S:
            return False
        lost, _ = await asyncio.to_thread(
            self.c.store.list_jobs, limit=1, cluster_id=cluster_id, state=JobState.LOST.value
        )
        return bool(lost)

    async def _send(self, cluster_id: str, now: dt.datetime) -> int:
        settled = now - dt.timedelta(seconds=SETTLE_S)
        refs = [
            messages.JobRef(
                job_id=job.id,
                attempt=job.attempt,
                namespace=job.spec.namespace,
                k8s_name=job.k8s_name,
                state=str(job.state),
            )
            for state in ACTIVE
            for job in await self._jobs(cluster_id, state)
            if job.updated_at <= settled
        ]
        for start in range(0, len(refs), CHUNK):
            body = messages.Reconcile(cluster_id=cluster_id, jobs=refs[start : start + CHUNK])
            await self.c.queue.publish(messages.control_topic(cluster_id), messages.encode(body))
        if refs:
            log.debug("asked cluster %s to reconcile %d jobs", cluster_id, len(refs))
        return (len(refs) + CHUNK - 1) // CHUNK

    async def _jobs(self, cluster_id: str, state: JobState) -> list[JobRecord]:
        return await cluster_jobs(self.c.store, cluster_id, state, CHUNK)


async def cluster_jobs(
    store: JobStore, cluster_id: str, state: JobState, page: int
) -> list[JobRecord]:
    """Every job of the cluster in `state`, read `page` at a time (also used by preemption)."""
    jobs: list[JobRecord] = []
    cursor: str | None = None
    while True:
        found, cursor = await asyncio.to_thread(
            store.list_jobs, limit=page, cursor=cursor, cluster_id=cluster_id, state=state.value
        )
        jobs.extend(found)
        if cursor is None:
            return jobs
