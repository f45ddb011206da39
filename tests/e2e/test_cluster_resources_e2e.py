"""What a cluster has free, end to end: the agent watches the test cluster's node and every pod
bound to it (whoever made it), and the cluster API shows the figures its heartbeats carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s
GI = 1 << 30
# The test kubelet's node (kjs.testing.kubelet): allocatable as its command line gives it.
NODE_CPU_MILLIS, NODE_MEMORY = 8000, 32 * GI
HEARTBEAT_S = 1.0
WATCH_LATENCY = dt.timedelta(seconds=0.5)  # a change to the agent's watch event, at most


@pytest.fixture(params=["all namespaces", "limited to another namespace"])
def kjs_up(
    request: pytest.FixtureRequest, k8s_clusters: list[Cluster], tmp_path: Path
) -> Iterator[TestClient[Any]]:
    """An agent for every namespace, or one limited to a namespace the test's pods are not in:
    pods of every namespace use the nodes, and both count them."""
    cluster = k8s_clusters[0]
    namespaces = [] if request.param == "all namespaces" else ["kjs-elsewhere"]
    agent = {"heartbeat_s": HEARTBEAT_S, "namespaces": namespaces}
    app = kjs_up_app(tmp_path, cluster.id, cluster.kubeconfig, agent=agent)
    with TestClient(app) as client:
        yield client


def resources(client: TestClient[Any], cluster_id: str) -> dict[str, Any] | None:
    response = client.get(f"/api/v1/clusters/{cluster_id}")
    figures: dict[str, Any] | None = (
        response.json()["resources"] if response.status_code == 200 else None
    )
    return figures


def foreign_pod(name: str, cpu: str, memory: str) -> dict[str, Any]:
    """A pod kjs did not make (no kjs label, no Job): the test kubelet binds and runs it."""
    return {
        "metadata": {"name": name, "labels": {"app": "not-kjs"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "600"],
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ],
        },
    }


def test_free_resources_follow_foreign_pods_and_cordons_within_a_heartbeat(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    before = wait_until(
        lambda: resources(kjs_up, cluster.id), timeout=30, what="the first resource figures"
    )
    node = cluster.core.read_node(cluster.node)
    assert before["allocatable"] == {
        "cpu_millis": NODE_CPU_MILLIS,
        "memory_bytes": NODE_MEMORY,
        "pods": int(node.status.allocatable["pods"]),
    }
    assert before["partial"] is False
    at = dt.datetime.fromisoformat(before["at"])
    assert abs((dt.datetime.now(dt.UTC) - at).total_seconds()) < 10

    def free() -> dict[str, int]:
        figures = resources(kjs_up, cluster.id)
        assert figures is not None
        result: dict[str, int] = figures["free"]
        return result

    def becomes(expected: dict[str, int], what: str) -> None:
        """The first heartbeat sent after the change (plus a moment for its watch event to
        arrive) shows `expected` free: the figures follow within one heartbeat."""
        changed = dt.datetime.now(dt.UTC) + WATCH_LATENCY
        cluster_json = wait_until(
            lambda: (
                (c := kjs_up.get(f"/api/v1/clusters/{cluster.id}").json())["last_heartbeat"]
                and dt.datetime.fromisoformat(c["last_heartbeat"]) >= changed
                and c
            ),
            timeout=HEARTBEAT_S + 5,
            what=f"a heartbeat after the change ({what})",
        )
        assert cluster_json["resources"]["free"] == expected, what

    idle = free()
    cluster.core.create_namespaced_pod(k8s_namespace, foreign_pod("foreign", "1500m", "3Gi"))
    wait_until(
        lambda: cluster.core.read_namespaced_pod("foreign", k8s_namespace).spec.node_name,
        timeout=30,
        what="the test kubelet to bind the pod",
    )
    used = {
        "cpu_millis": idle["cpu_millis"] - 1500,
        "memory_bytes": idle["memory_bytes"] - 3 * GI,
        "pods": idle["pods"] - 1,
    }
    becomes(used, "the foreign pod's requests to be taken from free")
    largest = resources(kjs_up, cluster.id)["largest_free_node"]  # type: ignore[index]
    assert largest == used  # one node: the largest free node is all of it

    cluster.core.delete_namespaced_pod("foreign", k8s_namespace, grace_period_seconds=0)
    becomes(idle, "the deleted pod's requests to be free again")

    cluster.core.patch_node(cluster.node, {"spec": {"unschedulable": True}})
    try:
        becomes({"cpu_millis": 0, "memory_bytes": 0, "pods": 0}, "the cordoned node leaves")
        assert resources(kjs_up, cluster.id)["allocatable"]["cpu_millis"] == 0  # type: ignore[index]
    finally:
        cluster.core.patch_node(cluster.node, {"spec": {"unschedulable": False}})
    becomes(idle, "the uncordoned node to count again")
