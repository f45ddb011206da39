"""Figures an operator graphs, computed by the leader from the store (a task of its own), not
per scrape: jobs by state and cluster, what waits in the outbox, each queue's jobs pending and
running and what the running ones request (`queue_usage`, one grouped read of an index) and its
fair share (`kjs.scheduler.fairshare`: as placement measures it), and each
cluster's capacity, load, room, heartbeat age and resources (CPU, memory, pods allocatable and
free, as its agent last reported).

A scrape reads what the last pass set. Counting every job kept (10^6 and more) reads an index
(`count_jobs_by_state`): the unfinished states are a few small ranges of it, counted on every
pass; the final states are nearly all of it and only grow, so they are counted every
`FINAL_EVERY`-th pass. A replica that stops leading clears these gauges (`clear`, called by
`LeaderTasks` on the loss): only the leader's figures are current.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from kjs.core import clock, metrics
from kjs.core.protocols import OutboxDepth
from kjs.core.queues import QueueRecord
from kjs.core.records import ClusterRecord, QueueUsage
from kjs.core.states import JobState
from kjs.core.usage import QueueUsageSummary, summarize
from kjs.scheduler.fairshare import FairShare, share_of
from kjs.scheduler.placement import OCCUPYING

# No configuration key for these (a module constant): 10 s is finer than most scrape intervals.
EVERY_S = 10.0
FINAL_EVERY = 6  # final states are counted on one pass in six (about once a minute)
FINAL = tuple(s for s in JobState if s.is_final)
UNFINISHED = tuple(s for s in JobState if not s.is_final)
NOWHERE = ""  # the cluster label of a job placed nowhere (pending, or cancelled before)


class GaugeStore(Protocol):
    """What the gauges read (a part of `kjs.core.protocols.Store`)."""

    def count_jobs_by_state(
        self, states: Sequence[JobState]
    ) -> dict[tuple[JobState, str | None], int]: ...
    def outbox_depth(self, now: dt.datetime) -> OutboxDepth: ...
    def list_clusters(self) -> list[ClusterRecord]: ...
    def queue_usage(self) -> list[QueueUsage]: ...
    def list_queues(self) -> list[QueueRecord]: ...


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...


class LeaderGauges:
    def __init__(
        self, store: GaugeStore, election: Leadership, fair_share: FairShare | None = None
    ) -> None:
        """`fair_share`: which clusters are ready and the queues' weights (None: no share
        gauges)."""
        self.store = store
        self.election = election
        self.fair_share = fair_share
        self._counts: dict[tuple[JobState, str | None], int] = {}
        self._passes = 0  # since leading began: the first counts every state
        self._job_labels: set[tuple[str, str]] = set()
        self._cluster_labels: set[str] = set()
        self._queues: set[str] = set()

    async def refresh(self) -> None:
        """One pass (leader work): read the store, then set every gauge from what it read."""
        states = UNFINISHED + FINAL if self._passes % FINAL_EVERY == 0 else UNFINISHED
        counts = await asyncio.to_thread(self.store.count_jobs_by_state, states)
        at = clock.now()
        depth = await asyncio.to_thread(self.store.outbox_depth, at)
        clusters = await asyncio.to_thread(self.store.list_clusters)
        usage = await asyncio.to_thread(self.store.queue_usage)
        stored = await asyncio.to_thread(self.store.list_queues) if self.fair_share else []
        if not self.election.is_leader:
            return  # lost while reading (and cleared): export nothing stale
        self._passes += 1
        self._counts = {key: n for key, n in self._counts.items() if key[0] not in states}
        self._counts.update(counts)
        self._set_jobs(clusters)
        metrics.OUTBOX_DEPTH.labels(state="due").set(depth.messages_due)
        metrics.OUTBOX_DEPTH.labels(state="waiting").set(depth.messages_waiting)
        metrics.WEBHOOKS_PENDING.labels(state="due").set(depth.webhooks_due)
        metrics.WEBHOOKS_PENDING.labels(state="waiting").set(depth.webhooks_waiting)
        self._set_clusters(clusters, at)
        held = summarize(usage)
        self._set_queues(held)
        self._set_shares(held, clusters, stored, at)

    def clear(self) -> None:
        """Leadership lost: remove every leader-only figure (the next leader's are current)."""
        for gauge in metrics.LEADER_GAUGES:
            gauge.clear()
        self._counts = {}
        self._passes = 0
        self._job_labels = set()
        self._cluster_labels = set()
        self._queues = set()

    def _set_queues(self, usage: dict[str, QueueUsageSummary]) -> None:
        # A queue seen once while leading stays, at 0 when it has no job: a graph reads 0, not
        # "no data" (and `default` always exists).
        self._queues |= usage.keys() | {"default"}
        for queue in self._queues:
            summary = usage.get(queue, QueueUsageSummary())
            metrics.QUEUE_JOBS.labels(queue=queue, state="pending").set(summary.pending)
            metrics.QUEUE_JOBS.labels(queue=queue, state="running").set(summary.running)
            metrics.QUEUE_REQUESTED_CPU.labels(queue=queue).set(summary.cpu_millis)
            metrics.QUEUE_REQUESTED_MEMORY.labels(queue=queue).set(summary.memory_bytes)

    def _set_shares(
        self,
        usage: dict[str, QueueUsageSummary],
        clusters: list[ClusterRecord],
        stored: list[QueueRecord],
        at: dt.datetime,
    ) -> None:
        if self.fair_share is None:
            return
        totals = self.fair_share.totals(clusters, at)
        weights = self.fair_share.weights(stored)
        for queue in self._queues:  # every queue `_set_queues` shows, 0 when it holds nothing
            share = share_of(usage.get(queue), weights.get(queue, 1.0), totals)
            metrics.QUEUE_SHARE.labels(queue=queue).set(share.share)
            metrics.QUEUE_WEIGHTED_SHARE.labels(queue=queue).set(share.weighted)

    def _set_jobs(self, clusters: list[ClusterRecord]) -> None:
        # Every state of every cluster, 0 included: a series that exists reads 0, not "no data".
        names = {c.id for c in clusters} | {cluster or NOWHERE for _, cluster in self._counts}
        labels = {(str(state), name) for state in JobState for name in names | {NOWHERE}}
        for state, name in labels:
            count = self._counts.get((JobState(state), name or None), 0)
            metrics.JOBS.labels(state=state, cluster=name).set(count)
        for gone in self._job_labels - labels:  # a cluster no longer known, with no jobs
            metrics.JOBS.remove(*gone)
        self._job_labels = labels

    def _set_clusters(self, clusters: list[ClusterRecord], at: dt.datetime) -> None:
        for cluster in clusters:
            occupied = sum(self._counts.get((state, cluster.id), 0) for state in OCCUPYING)
            in_flight = self._counts.get((JobState.DISPATCHED, cluster.id), 0)
            metrics.CLUSTER_CAPACITY.labels(cluster=cluster.id).set(cluster.capacity)
            metrics.CLUSTER_RUNNING.labels(cluster=cluster.id).set(occupied)
            metrics.CLUSTER_FREE.labels(cluster=cluster.id).set(
                max(0, cluster.capacity - occupied - in_flight)
            )
            if cluster.last_heartbeat is not None:  # else no series: an age of 0 would lie
                age = max(0.0, (at - cluster.last_heartbeat).total_seconds())
                metrics.CLUSTER_HEARTBEAT_AGE.labels(cluster=cluster.id).set(age)
            self._set_resources(cluster, at)
        known = {c.id for c in clusters}
        for gone in self._cluster_labels - known:
            for gauge in metrics.CLUSTER_GAUGES:
                with contextlib.suppress(KeyError):  # never set (no heartbeat yet)
                    gauge.remove(gone)
        self._cluster_labels = known

    @staticmethod
    def _set_resources(cluster: ClusterRecord, at: dt.datetime) -> None:
        resources = cluster.resources
        if resources is None:  # no series: a 0 would read "nothing free"
            for gauge in metrics.CLUSTER_RESOURCE_GAUGES:
                with contextlib.suppress(KeyError):
                    gauge.remove(cluster.id)
            return
        figures = (
            (metrics.CLUSTER_CPU_ALLOCATABLE, resources.allocatable.cpu_millis),
            (metrics.CLUSTER_CPU_FREE, resources.free.cpu_millis),
            (metrics.CLUSTER_MEMORY_ALLOCATABLE, resources.allocatable.memory_bytes),
            (metrics.CLUSTER_MEMORY_FREE, resources.free.memory_bytes),
            (metrics.CLUSTER_PODS_FREE, resources.free.pods),
            (metrics.CLUSTER_RESOURCES_AGE, max(0.0, (at - resources.at).total_seconds())),
        )
        for gauge, value in figures:
            gauge.labels(cluster=cluster.id).set(value)
