"""What a cluster has free for new pods: its ready, schedulable nodes' allocatable CPU, memory
and pods, less what the pods bound to them request — every pod's, whoever created it.

Two watches feed it (list, then watch from the resourceVersion; list again on 410): the nodes,
and the pods bound to a node that are not terminal (the field selector kube-scheduler's own
cache uses, so a pod that ends or leaves arrives as a deletion). Both decode only the fields
read here, with msgspec, straight from the API's JSON; per pod the book keeps its node and its
two requests, a few hundred bytes whatever its spec weighs.

A pod's request is counted as kube-scheduler counts it (`resourcehelper.PodRequests`): the
containers' sum, raised to the largest init container (with the sidecars — restartable init
containers — started before it, which also run beside the containers), plus the pod overhead; a
pod-level `resources.requests` replaces the containers' figure for its resource.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec

from kjs.agent import kube
from kjs.agent.records import Decoder
from kjs.core import metrics
from kjs.core.quantity import QuantityError, cpu_millicores, memory_bytes

log = logging.getLogger(__name__)
# The pods that occupy a node: bound to it and not terminal (kube-scheduler's selector).
OCCUPYING = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"
# A broken watch lists again after RETRY_S, doubled at each failure in a row up to
# MAX_RETRY_S: a refused read (403) or a struggling apiserver is not re-listed every second.
RETRY_S = 1.0
MAX_RETRY_S = 60.0


class _Record(msgspec.Struct, rename="camel", gc=False):
    pass


class Requirements(_Record):
    requests: dict[str, str] | None = None


class Container(_Record):
    resources: Requirements | None = None
    restart_policy: str | None = None  # "Always" on an init container: a sidecar


class UsageSpec(_Record):
    node_name: str | None = None
    containers: list[Container] | None = None
    init_containers: list[Container] | None = None
    overhead: dict[str, str] | None = None
    resources: Requirements | None = None  # pod-level resources (Kubernetes 1.32+)


class Meta(_Record):
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None


class Phase(_Record):
    phase: str | None = None


class UsagePod(_Record):
    """A pod as the book reads it."""

    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: UsageSpec | None = None
    status: Phase | None = None


class NodeCondition(_Record):
    type: str | None = None
    status: str | None = None


class NodeSpec(_Record):
    unschedulable: bool | None = None


class NodeStatus(_Record):
    allocatable: dict[str, str] | None = None
    conditions: list[NodeCondition] | None = None


class NodeRecord(_Record):
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


NODES = Decoder(NodeRecord)
USAGE_PODS = Decoder(UsagePod)


@dataclass(frozen=True)
class Amounts:
    cpu_millis: int = 0
    memory_bytes: int = 0
    pods: int = 0


@dataclass(frozen=True)
class Figures:
    """The book's totals at one moment."""

    allocatable: Amounts
    free: Amounts
    largest_free_node: Amounts  # each resource's largest free figure on any one node
    nodes: int  # ready, schedulable nodes counted


def _cpu(quantities: dict[str, str] | None) -> int:
    value = (quantities or {}).get("cpu")
    return cpu_millicores(value) if value else 0


def _memory(quantities: dict[str, str] | None) -> int:
    value = (quantities or {}).get("memory")
    return memory_bytes(value) if value else 0


def _requests(container: Container) -> dict[str, str] | None:
    return container.resources.requests if container.resources is not None else None


def pod_requests(spec: UsageSpec) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the pod requests, as kube-scheduler counts them."""
    pod_level = (spec.resources.requests if spec.resources is not None else None) or {}
    totals = []
    for name, read in (("cpu", _cpu), ("memory", _memory)):
        steady = sum(read(_requests(c)) for c in spec.containers or ())
        sidecars = 0  # restartable init containers started so far: they keep running
        init_peak = 0
        for c in spec.init_containers or ():
            own = read(_requests(c))
            if c.restart_policy == "Always":
                steady += own
                sidecars += own
                init_peak = max(init_peak, sidecars)
            else:
                init_peak = max(init_peak, own + sidecars)
        # A pod-level request of this resource is the pod's figure, whatever its containers'.
        total = read(pod_level) if name in pod_level else max(steady, init_peak)
        totals.append(total + read(spec.overhead))
    return totals[0], totals[1]


def _node_figures(node: NodeRecord) -> Amounts | None:
    """The node's allocatable, if it takes new pods (Ready, not cordoned); else None."""
    status = node.status
    if status is None or (node.spec is not None and node.spec.unschedulable):
        return None
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or ())
    if not ready:
        return None
    allocatable = status.allocatable or {}
    try:
        pods = int(allocatable.get("pods", "0"))
    except ValueError:
        pods = 0
    return Amounts(_cpu(allocatable), _memory(allocatable), pods)


class ResourceBook:
    """Nodes' allocatable and the requests of the pods bound to each, kept incrementally."""

    def __init__(self) -> None:
        self._nodes: dict[str, Amounts | None] = {}  # name -> allocatable (None: takes no pods)
        self._pods: dict[str, tuple[str, int, int]] = {}  # uid -> (node, cpu, memory)
        self._used: dict[str, list[int]] = {}  # node -> [cpu, memory, pods] requested

    # -- nodes -----------------------------------------------------------------------------------

    def set_nodes(self, nodes: Iterable[NodeRecord]) -> None:
        self._nodes = {}
        for node in nodes:
            self.node_changed(node)

    def node_changed(self, node: NodeRecord) -> None:
        self._nodes[node.metadata.name or ""] = _node_figures(node)

    def node_gone(self, node: NodeRecord) -> None:
        self._nodes.pop(node.metadata.name or "", None)

    # -- pods ------------------------------------------------------------------------------------

    def set_pods(self, pods: Iterable[UsagePod]) -> None:
        self._pods, self._used = {}, {}
        for pod in pods:
            self.pod_changed(pod)

    def pod_changed(self, pod: UsagePod) -> None:
        uid = pod.metadata.uid or ""
        self._remove(uid)
        spec, phase = pod.spec, pod.status.phase if pod.status is not None else None
        if spec is None or not spec.node_name or phase in ("Succeeded", "Failed"):
            return
        try:
            cpu, memory = pod_requests(spec)
        except QuantityError as e:  # the apiserver validates them: not expected
            log.warning("pod %s: unreadable request (%s), counted as none", pod.metadata.name, e)
            cpu, memory = 0, 0
        node = sys.intern(spec.node_name)  # one string per node, however many pods name it
        self._pods[uid] = (node, cpu, memory)
        used = self._used.setdefault(node, [0, 0, 0])
        used[0] += cpu
        used[1] += memory
        used[2] += 1

    def pod_gone(self, pod: UsagePod) -> None:
        self._remove(pod.metadata.uid or "")

    def _remove(self, uid: str) -> None:
        old = self._pods.pop(uid, None)
        if old is None:
            return
        node, cpu, memory = old
        used = self._used[node]
        used[0] -= cpu
        used[1] -= memory
        used[2] -= 1
        if used[2] == 0:
            del self._used[node]

    @property
    def pod_count(self) -> int:
        return len(self._pods)

    # -- totals ----------------------------------------------------------------------------------

    def figures(self) -> Figures:
        """Free = allocatable less requested, per node (never below 0: a node over-committed
        offers nothing, and takes nothing from the others), summed over the nodes that take
        pods."""
        alloc, free, largest = [0, 0, 0], [0, 0, 0], [0, 0, 0]
        counted = 0
        for name, allocatable in self._nodes.items():
            if allocatable is None:
                continue
            counted += 1
            used = self._used.get(name, (0, 0, 0))
            have = (allocatable.cpu_millis, allocatable.memory_bytes, allocatable.pods)
            for i in range(3):
                room = max(0, have[i] - used[i])
                alloc[i] += have[i]
                free[i] += room
                largest[i] = max(largest[i], room)
        return Figures(Amounts(*alloc), Amounts(*free), Amounts(*largest), counted)


class ResourceWatch:
    """The two watches that keep a `ResourceBook`, and how current its figures are.

    Pods are read cluster-wide: the pods of namespaces the agent does not run jobs in use the
    nodes too. Where that read is refused and the agent is limited to namespaces, it reads
    those namespaces' pods only and says its figures are `partial` (they undercount)."""

    def __init__(self, core: Any, cluster_id: str, namespaces: list[str]) -> None:
        self.core = core
        self.cluster_id = cluster_id
        self.namespaces = namespaces
        self.book = ResourceBook()
        self.partial = False
        self.nodes_synced = asyncio.Event()
        # kind -> monotonic moment its watch last broke (absent: in sync now). A kind not in
        # `_synced` has never been listed.
        self._broken: dict[str, float] = {}
        self._synced: set[str] = set()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self._run("nodes"), name="watch nodes"),
            asyncio.create_task(self._run("bound_pods"), name="watch bound pods"),
        ]

    def age_s(self) -> float | None:
        """Seconds since the figures were last known current (0: both watches in sync now);
        None before both were ever listed."""
        if self._synced != {"nodes", "bound_pods"}:
            return None
        if not self._broken:
            return 0.0
        return max(0.0, time.monotonic() - min(self._broken.values()))

    def figures(self) -> Figures | None:
        return None if self.age_s() is None else self.book.figures()

    def _calls(self, kind: str) -> tuple[list[Any], dict[str, Any]]:
        if kind == "nodes":
            return [self.core.list_node_without_preload_content], {}
        selector = {"field_selector": OCCUPYING}
        if not self.partial:
            return [self.core.list_pod_for_all_namespaces_without_preload_content], selector
        per_namespace = self.core.list_namespaced_pod_without_preload_content
        return [partial(per_namespace, ns) for ns in self.namespaces], selector

    async def _run(self, kind: str) -> None:
        decoder: Any = NODES if kind == "nodes" else USAGE_PODS
        restarts = metrics.AGENT_WATCH_RESTARTS.labels(cluster=self.cluster_id, kind=kind)
        delay = RETRY_S
        while True:
            try:
                calls, kwargs = self._calls(kind)
                versions, fresh = [], []
                for call in calls:
                    items, version = await kube.list_objects(call, decoder, **kwargs)
                    fresh.extend(items)
                    versions.append((call, version))
                    del items
                if kind == "nodes":
                    self.book.set_nodes(fresh)
                    self.nodes_synced.set()
                else:
                    self.book.set_pods(fresh)
                del fresh
                self._synced.add(kind)
                self._broken.pop(kind, None)
                delay = RETRY_S  # listed: the next failure starts the backoff again
                await asyncio.gather(
                    *(self._follow(kind, call, v, decoder, kwargs) for call, v in versions)
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._broken.setdefault(kind, time.monotonic())
                restarts.inc()
                if self._narrows(kind, e):
                    continue
                level = logging.WARNING if isinstance(e, kube.RefusedError) else logging.INFO
                log.log(level, "%s watch restarts in %.0f s: %s", kind, delay, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)

    def _narrows(self, kind: str, e: Exception) -> bool:
        """A refused cluster-wide pod read, for an agent limited to namespaces: read those."""
        refused = isinstance(e, kube.RefusedError) and e.status == 403
        if kind != "bound_pods" or self.partial or not self.namespaces or not refused:
            return False
        log.warning(
            "reading every namespace's pods is refused (%s): free resources count the pods of "
            "%s only (reported as partial)",
            e,
            ", ".join(self.namespaces),
        )
        self.partial = True
        return True

    async def _follow(
        self, kind: str, call: Any, version: str, decoder: Any, kwargs: dict[str, Any]
    ) -> None:
        while True:
            async for event, obj in kube.watch_objects(call, decoder, version, **kwargs):
                if isinstance(obj, dict):  # ERROR, e.g. 410: list again
                    raise RuntimeError(f"watch {kind}: {obj.get('message')}")
                version = obj.metadata.resource_version or version
                if event == "BOOKMARK":
                    continue
                if isinstance(obj, NodeRecord):
                    if event == "DELETED":
                        self.book.node_gone(obj)
                    else:
                        self.book.node_changed(obj)
                elif event == "DELETED":
                    self.book.pod_gone(obj)
                else:
                    self.book.pod_changed(obj)
