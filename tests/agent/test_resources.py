"""The agent's resource book: what a cluster has free, counted as kube-scheduler counts it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kjs.agent.resources import NODES, USAGE_PODS, Amounts, NodeRecord, ResourceBook, UsagePod
from kjs.agent.resources import pod_requests as requests_of

GI = 1 << 30


def node(
    name: str,
    cpu: str = "8",
    memory: str = "32Gi",
    pods: str = "110",
    *,
    ready: str = "True",
    unschedulable: bool = False,
) -> NodeRecord:
    body = {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "capacity": {"cpu": "9", "memory": "40Gi", "pods": "200"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "1"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready},
            ],
            "nodeInfo": {"kubeletVersion": "v1.33"},
        },
    }
    return NODES.record.decode(json.dumps(body))


def container(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {
        "name": "c",
        "image": "busybox",
        "resources": {"requests": requests, "limits": {"cpu": "64"}},
        **extra,
    }


def pod(
    uid: str,
    node_name: str | None = "n1",
    containers: list[dict[str, Any]] | None = None,
    *,
    phase: str = "Running",
    **spec: Any,
) -> UsagePod:
    body = {
        "metadata": {"name": uid, "namespace": "team", "uid": uid, "labels": {"a": "b"}},
        "spec": {
            **({"nodeName": node_name} if node_name else {}),
            "containers": containers if containers is not None else [container("1", "1Gi")],
            **spec,
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "ready": True}]},
    }
    return USAGE_PODS.record.decode(json.dumps(body))


def test_a_pods_request_is_counted_as_kube_scheduler_counts_it() -> None:
    spec = pod("p", containers=[container("500m", "1Gi"), container("250m")]).spec
    assert spec is not None and requests_of(spec) == (750, GI)
    # The largest init container raises it: init containers run one at a time, before the rest.
    spec = pod("p", containers=[container("1")], initContainers=[container("2", "64Mi")]).spec
    assert spec is not None and requests_of(spec) == (2000, 64 << 20)
    # A sidecar (a restartable init container) runs beside the containers, and beside the init
    # containers after it; the pod overhead comes on top.
    spec = pod(
        "p",
        containers=[container("1", "1Gi")],
        initContainers=[
            container("100m", "100Mi", restartPolicy="Always"),
            container("2", "10Mi"),
        ],
        overhead={"cpu": "10m", "memory": "1Mi"},
    ).spec
    assert spec is not None and requests_of(spec) == (2100 + 10, GI + (100 << 20) + (1 << 20))
    # A pod-level request replaces the containers' (and init containers') figure for its
    # resource.
    spec = pod(
        "p",
        containers=[container("1", "1Gi")],
        initContainers=[container("4")],
        resources={"requests": {"cpu": "3"}},
    ).spec
    assert spec is not None and requests_of(spec) == (3000, GI)
    # No request: nothing (kube-scheduler's fit check counts no default).
    spec = pod("p", containers=[{"name": "c", "image": "busybox"}]).spec
    assert spec is not None and requests_of(spec) == (0, 0)


def test_free_is_allocatable_less_the_requests_of_every_pod_bound_to_a_node() -> None:
    book = ResourceBook()
    book.set_nodes([node("n1"), node("n2", cpu="4", memory="8Gi", pods="10")])
    book.set_pods([pod("a", "n1"), pod("b", "n2", [container("3", "6Gi")])])
    figures = book.figures()
    assert figures.allocatable == Amounts(12_000, 40 * GI, 120)
    assert figures.free == Amounts(12_000 - 4000, 40 * GI - 7 * GI, 118)
    assert figures.largest_free_node == Amounts(7000, 31 * GI, 109)
    assert figures.nodes == 2
    # A pod that changes (resized, rebound) is counted once, with its new figures.
    book.pod_changed(pod("a", "n1", [container("2", "2Gi")]))
    assert book.figures().free.cpu_millis == 12_000 - 5000
    # Ended or deleted: its requests are free again; unbound pods use no node.
    book.pod_changed(pod("a", "n1", phase="Succeeded"))
    book.pod_gone(pod("b", "n2"))
    book.pod_changed(pod("c", None))
    assert book.figures().free == Amounts(12_000, 40 * GI, 120)
    assert book.pod_count == 0


def test_only_ready_schedulable_nodes_count_and_no_node_goes_below_zero() -> None:
    book = ResourceBook()
    book.set_nodes([node("n1", cpu="2"), node("n2", unschedulable=True), node("n3", ready="False")])
    book.set_pods([pod("a", "n1", [container("3")]), pod("b", "n2"), pod("c", "gone-node")])
    figures = book.figures()
    assert figures.nodes == 1
    assert figures.allocatable == Amounts(2000, 32 * GI, 110)
    assert figures.free == Amounts(0, 32 * GI, 109)  # over-committed on CPU: 0, not -1000
    book.node_changed(node("n2"))  # uncordoned
    assert book.figures().free.cpu_millis == 8000 - 1000
    book.node_gone(node("n2"))
    assert book.figures().allocatable.cpu_millis == 2000


def test_the_book_keeps_no_more_than_each_pods_node_and_requests() -> None:
    book = ResourceBook()
    book.set_pods([pod(str(i), "n1") for i in range(3)])
    # What each pod costs in memory: a small tuple, the node's name shared between them.
    kept = list(book._pods.values())
    assert len({id(node_name) for node_name, _, _ in kept}) == 1
    assert all(len(entry) == 3 for entry in kept)


def test_a_watch_that_keeps_failing_lists_again_less_and_less_often_up_to_a_minute(
    monkeypatch: Any,
) -> None:
    """A refused read (403) is not re-listed every second: 1, 2, 4 … 60 s; a list that works
    starts the count again."""
    import asyncio

    from kjs.agent import kube, resources

    outcomes = [kube.RefusedError("forbidden", 403)] * 8 + ["listed", RuntimeError("boom")]
    waits: list[float] = []

    async def list_objects(*_: Any, **__: Any) -> tuple[list[Any], str]:
        outcome = outcomes.pop(0) if outcomes else kube.RefusedError("forbidden", 403)
        if isinstance(outcome, Exception):
            raise outcome
        return [], "1"

    async def watch_objects(*_: Any, **__: Any) -> Any:
        raise RuntimeError("watch broke")
        yield  # an async generator

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 11:
            raise asyncio.CancelledError

    class Core:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: None

    monkeypatch.setattr(kube, "list_objects", list_objects)
    monkeypatch.setattr(kube, "watch_objects", watch_objects)
    monkeypatch.setattr(resources.asyncio, "sleep", sleep)
    watch = resources.ResourceWatch(Core(), "c1", [])
    with pytest.raises(asyncio.CancelledError):  # (the test's own way out of the loop)
        asyncio.run(watch._run("nodes"))
    # 8 refusals, a list then its watch breaking (from 1 s again), a failed list, a refusal.
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 1, 2, 4]
