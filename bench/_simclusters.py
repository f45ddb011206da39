"""Simulated clusters for `bench/schedule.py`: stand-in agents on the server's in-memory queue.

Each cluster has nodes with allocatable CPU, memory and pods. Its agent takes a Dispatch, binds
the job's pods to the node with the most free CPU that fits them (or, when none fits, to the one
with the most free pods: counted as `overbooked`, which placement's resource checks should keep
at 0), answers `created` at once, `running` a moment later and `succeeded` after the run time —
the messages a real agent sends (`kjs/agent/agent.py`) — and heartbeats every second with
`capacity`, `allocatable`, `free` and `largest_free_node` computed from what it runs.

Kept cheap, since they share the server's process: a dispatch is decoded into only the fields
the agent reads, quantities are parsed once per distinct text, the delays are the same for every
job (so each timer list is a FIFO, popped by one task), and no handler reads the store. The CPU
their handlers take on the event loop's thread is summed in `cpu_s` (`time.thread_time()`, so
the server's store threads running meanwhile are not counted).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kjs.core import messages
from kjs.core.protocols import Queue
from kjs.core.quantity import cpu_millicores, memory_bytes

TICK_S = 0.02  # how often due `running` / `succeeded` events are sent
DEFAULT_CPU, DEFAULT_MEMORY = "100m", "128Mi"  # a container that names no requests


# Only what the agent reads of a Dispatch: msgspec skips the rest of the manifest unparsed.
class _Quantities(msgspec.Struct):
    cpu: str | None = None
    memory: str | None = None


class _ContainerResources(msgspec.Struct):
    requests: _Quantities | None = None


class _Container(msgspec.Struct):
    resources: _ContainerResources | None = None


class _PodSpec(msgspec.Struct):
    containers: list[_Container] = []


class _Template(msgspec.Struct):
    spec: _PodSpec


class _K8sJobSpec(msgspec.Struct):
    template: _Template
    parallelism: int | None = None


class _Metadata(msgspec.Struct):
    name: str
    namespace: str


class _Manifest(msgspec.Struct):
    metadata: _Metadata
    spec: _K8sJobSpec


class _DispatchHead(msgspec.Struct, tag="dispatch"):
    job_id: str
    attempt: int
    manifest: _Manifest


_decode_dispatch = msgspec.json.Decoder(_DispatchHead).decode


@functools.lru_cache(maxsize=256)
def _cpu(text: str) -> int:
    return cpu_millicores(text)


@functools.lru_cache(maxsize=256)
def _memory(text: str) -> int:
    return memory_bytes(text)


def _pod_request(head: _DispatchHead) -> tuple[int, int, int]:
    """(CPU millicores, memory bytes, pods) the dispatched job asks for, all pods together."""
    cpu = memory = 0
    for container in head.manifest.spec.template.spec.containers:
        requests = (container.resources and container.resources.requests) or _Quantities()
        cpu += _cpu(requests.cpu or DEFAULT_CPU)
        memory += _memory(requests.memory or DEFAULT_MEMORY)
    pods = max(1, head.manifest.spec.parallelism or 1)
    return cpu * pods, memory * pods, pods


@dataclass
class Shape:
    """One cluster's size: `nodes` alike nodes."""

    nodes: int = 5
    node_cpu_millis: int = 64_000
    node_memory_bytes: int = 256 * 2**30
    node_pods: int = 100


@dataclass
class _Running:
    cluster: SimCluster
    job_id: str
    attempt: int
    node: int
    cpu: int
    memory: int
    pods: int
    k8s_name: str
    namespace: str


@dataclass
class SimCluster:
    cluster_id: str
    shape: Shape
    labels: dict[str, str]
    # Per node: free [cpu millicores, memory bytes, pods] (may go below 0 when overbooked).
    free: list[list[int]] = field(default_factory=list)
    running: int = 0  # pods of jobs reported running
    starting: int = 0  # pods of jobs created, not running yet

    def __post_init__(self) -> None:
        s = self.shape
        self.free = [[s.node_cpu_millis, s.node_memory_bytes, s.node_pods] for _ in range(s.nodes)]

    def bind(self, cpu: int, memory: int, pods: int) -> tuple[int, bool]:
        """The node the job's pods go to, and whether it had room for them."""
        best, best_cpu = -1, -1
        for i, (c, m, p) in enumerate(self.free):
            if c >= cpu and m >= memory and p >= pods and c > best_cpu:
                best, best_cpu = i, c
        fits = best >= 0
        if not fits:  # as a kube-scheduler would not: counted, so the bench can say so
            best = max(range(len(self.free)), key=lambda i: self.free[i][2])
        node = self.free[best]
        node[0] -= cpu
        node[1] -= memory
        node[2] -= pods
        return best, fits

    def unbind(self, node: int, cpu: int, memory: int, pods: int) -> None:
        free = self.free[node]
        free[0] += cpu
        free[1] += memory
        free[2] += pods

    def heartbeat(self, at: dt.datetime) -> messages.Heartbeat:
        s = self.shape
        free = [[max(0, v) for v in node] for node in self.free]
        return messages.Heartbeat(
            cluster_id=self.cluster_id,
            at=at,
            labels=self.labels,
            version="v1.31.0-sim",
            capacity=s.nodes * s.node_pods,
            running=self.running,
            pending=self.starting,
            allocatable=messages.ResourceAmounts(
                cpu_millis=s.nodes * s.node_cpu_millis,
                memory_bytes=s.nodes * s.node_memory_bytes,
                pods=s.nodes * s.node_pods,
            ),
            free=messages.ResourceAmounts(
                cpu_millis=sum(n[0] for n in free),
                memory_bytes=sum(n[1] for n in free),
                pods=sum(n[2] for n in free),
            ),
            largest_free_node=messages.ResourceAmounts(
                cpu_millis=max(n[0] for n in free),
                memory_bytes=max(n[1] for n in free),
                pods=max(n[2] for n in free),
            ),
            resources_at=at,
        )


@dataclass
class Counts:
    """What the stand-ins saw and did."""

    dispatches: int = 0  # first copies of a (job, attempt)
    duplicates: int = 0  # copies of a dispatch already taken (re-published, unacknowledged)
    overbooked: int = 0  # dispatches no node had room for
    succeeded: int = 0


class SimClusters:
    """The stand-in agents of `clusters`, on `queue`, running each job for `run_s` seconds.

    `on_dispatch(job_id, cluster_id)` is called for each first copy of a dispatch (the bench
    counts with it; keep it cheap)."""

    def __init__(
        self,
        queue: Queue,
        clusters: list[SimCluster],
        *,
        run_s: float,
        heartbeat_s: float = 1.0,
        on_dispatch: Callable[[str, str], None] = lambda job_id, cluster_id: None,
    ) -> None:
        self.queue = queue
        self.clusters = {c.cluster_id: c for c in clusters}
        self.run_s = run_s
        self.start_s = min(0.5, run_s / 4)  # created -> running
        self.heartbeat_s = heartbeat_s
        self.on_dispatch = on_dispatch
        self.counts = Counts()
        self.cpu_s = 0.0  # handlers' CPU on the loop's thread
        self._taken: dict[tuple[str, int], str] = {}  # (job, attempt) -> the state last sent
        self._starting: deque[tuple[float, _Running]] = deque()
        self._finishing: deque[tuple[float, _Running]] = deque()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for cluster_id in self.clusters:
            await self.queue.subscribe(
                messages.dispatch_topic(cluster_id),
                messages.AGENT_CHANNEL,
                functools.partial(self._on_dispatch, cluster_id),
            )
            # Controls (reconcile lists, cancels): none matter here; taken so none pile up.
            await self.queue.subscribe(
                messages.control_topic(cluster_id), messages.AGENT_CHANNEL, self._on_control
            )
        self._tasks = [
            asyncio.create_task(self._beat(), name="sim heartbeats"),
            asyncio.create_task(self._tick(), name="sim timers"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def heartbeat_all(self) -> dt.datetime:
        """Every cluster's heartbeat, now; returns its `at`."""
        started = time.thread_time()
        at = dt.datetime.now(dt.UTC)
        for cluster in self.clusters.values():
            body = messages.encode(cluster.heartbeat(at))
            await self.queue.publish(messages.HEARTBEAT_TOPIC, body)
        self.cpu_s += time.thread_time() - started
        return at

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            await self.heartbeat_all()

    async def _on_control(self, delivery: Any) -> bool:
        return True

    async def _status(self, job: _Running, state: str, **fields: Any) -> None:
        event = messages.StatusEvent(
            cluster_id=job.cluster.cluster_id,
            job_id=job.job_id,
            attempt=job.attempt,
            state=state,
            at=dt.datetime.now(dt.UTC),
            **fields,
        )
        self._taken[(job.job_id, job.attempt)] = state
        await self.queue.publish(messages.STATUS_TOPIC, messages.encode(event))

    async def _on_dispatch(self, cluster_id: str, delivery: Any) -> bool:
        started = time.thread_time()
        head = _decode_dispatch(delivery.body)
        cluster = self.clusters[cluster_id]
        meta = head.manifest.metadata
        last = self._taken.get((head.job_id, head.attempt))
        if last is not None:  # a copy published again: say where it stands, as an agent would
            self.counts.duplicates += 1
            event = messages.StatusEvent(
                cluster_id=cluster_id,
                job_id=head.job_id,
                attempt=head.attempt,
                state=last,
                at=dt.datetime.now(dt.UTC),
                k8s_name=meta.name,
                namespace=meta.namespace,
            )
            await self.queue.publish(messages.STATUS_TOPIC, messages.encode(event))
        else:
            cpu, memory, pods = _pod_request(head)
            node, fits = cluster.bind(cpu, memory, pods)
            self.counts.dispatches += 1
            self.counts.overbooked += not fits
            cluster.starting += pods
            job = _Running(
                cluster,
                head.job_id,
                head.attempt,
                node,
                cpu,
                memory,
                pods,
                meta.name,
                meta.namespace,
            )
            await self._status(job, "created", k8s_name=meta.name, namespace=meta.namespace)
            self._starting.append((time.monotonic() + self.start_s, job))
            self.on_dispatch(head.job_id, cluster_id)
        self.cpu_s += time.thread_time() - started
        return True

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            started = time.thread_time()
            clock = time.monotonic()
            while self._starting and self._starting[0][0] <= clock:
                _, job = self._starting.popleft()
                job.cluster.starting -= job.pods
                job.cluster.running += job.pods
                await self._status(job, "running", k8s_name=job.k8s_name, namespace=job.namespace)
                self._finishing.append((clock + self.run_s - self.start_s, job))
            while self._finishing and self._finishing[0][0] <= clock:
                _, job = self._finishing.popleft()
                job.cluster.running -= job.pods
                job.cluster.unbind(job.node, job.cpu, job.memory, job.pods)
                await self._status(job, "succeeded", k8s_name=job.k8s_name, namespace=job.namespace)
                self.counts.succeeded += 1
            self.cpu_s += time.thread_time() - started
