"""Queue limits and cluster resources on a real cluster: a queue at `max_running` keeps its next
job pending (saying why) while another queue's jobs run; a job bigger than what the node has free
— a pod kjs did not make holds part of it — waits (`NoCapacity`) until that pod is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.e2e.test_cluster_resources_e2e import foreign_pod
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s
QUEUES = {"team-a": {"limits": {"max_running": 1}}, "team-b": {}}


def kjs_up_with_queues(
    cluster: Cluster, data_dir: Path, queues: dict[str, Any], **overrides: Any
) -> Iterator[TestClient[Any]]:
    """`kjs up` on the test cluster with these queues (and settings), once its agent reports
    resources."""
    scheduling = {"queues": queues, **overrides.pop("scheduling", {})}
    app = kjs_up_app(
        data_dir,
        cluster.id,
        cluster.kubeconfig,
        agent={"heartbeat_s": 1.0},
        scheduling=scheduling,
        **overrides,
    )
    with TestClient(app) as client:
        wait_until(
            lambda: (
                (c := client.get(f"/api/v1/clusters/{cluster.id}")).status_code == 200
                and c.json()["resources"]
            ),
            timeout=30,
            what="the agent's first heartbeat with resources",
        )
        wait_for_an_idle_node(client, cluster)
        yield client


def wait_for_an_idle_node(client: TestClient[Any], cluster: Cluster) -> None:
    """Wait until no pod holds CPU on the node: these tests fill it and count what runs, and an
    earlier test's pods (in a namespace still being deleted) may take a while to go."""

    def idle() -> bool:
        figures = client.get(f"/api/v1/clusters/{cluster.id}").json()["resources"]
        return (
            bool(figures) and figures["free"]["cpu_millis"] == figures["allocatable"]["cpu_millis"]
        )

    try:
        wait_until(idle, timeout=90, what="the node's CPU to be free of earlier tests' pods")
    except AssertionError as e:
        holding = [
            f"{p.metadata.namespace}/{p.metadata.name} ({p.status.phase})"
            for p in cluster.core.list_pod_for_all_namespaces().items
            if p.status.phase not in ("Succeeded", "Failed")
        ]
        raise AssertionError(f"{e}; pods not finished: {holding}") from None


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    yield from kjs_up_with_queues(k8s_clusters[0], tmp_path, QUEUES)


def submit(client: TestClient[Any], ns: str, name: str, **fields: Any) -> str:
    body = {
        "name": name,
        "namespace": ns,
        "image": "busybox",
        "command": ["sh", "-c", "sleep 300"],
        **fields,
    }
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def job(client: TestClient[Any], job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
    return found


def reaches(client: TestClient[Any], job_id: str, state: str, timeout: float = 30) -> None:
    seen: list[dict[str, Any]] = []

    def there() -> bool:
        seen[:] = [job(client, job_id)]
        return bool(seen[0]["state"] == state)

    try:
        wait_until(there, timeout=timeout, what=f"job {job_id} to be {state}")
    except AssertionError as e:  # say where it stopped, and why (its reason)
        last = {k: seen[0].get(k) for k in ("state", "reason", "message", "cluster_id")}
        raise AssertionError(f"{e}; the job: {last}") from None


def cancel_all(client: TestClient[Any], cluster: Cluster, ns: str, *job_ids: str) -> None:
    """Cancel the test's jobs and wait for their pods to be gone: the next test of the session
    measures the node's free figures."""
    for job_id in job_ids:
        client.delete(f"/api/v1/jobs/{job_id}")
    for job_id in job_ids:
        reaches(client, job_id, "cancelled")
    wait_until(
        lambda: not cluster.core.list_namespaced_pod(ns).items,
        timeout=30,
        what="the test's pods to be gone",
    )


def test_a_queue_at_max_running_waits_while_another_queue_runs(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    a1 = submit(kjs_up, k8s_namespace, "a1", queue="team-a")
    reaches(kjs_up, a1, "running")
    a2 = submit(kjs_up, k8s_namespace, "a2", queue="team-a")
    b1 = submit(kjs_up, k8s_namespace, "b1", queue="team-b")
    b2 = submit(kjs_up, k8s_namespace, "b2", queue="team-b")
    reaches(kjs_up, b1, "running")
    reaches(kjs_up, b2, "running")
    waiting = wait_until(
        lambda: (j := job(kjs_up, a2))["reason"] == "QueueLimitReached" and j,
        timeout=10,
        what="a2 to say why it waits",
    )
    assert waiting["state"] == "pending"
    assert waiting["message"] == "queue team-a is at max_running 1 (1 running)"

    assert kjs_up.delete(f"/api/v1/jobs/{a1}").status_code == 202  # a1 ends: a2's turn
    reaches(kjs_up, a1, "cancelled")
    reaches(kjs_up, a2, "running")
    assert job(kjs_up, a2)["reason"] != "QueueLimitReached"
    cancel_all(kjs_up, k8s_clusters[0], k8s_namespace, a2, b1, b2)


def test_a_job_waits_for_cpu_a_foreign_pod_holds_and_runs_once_it_is_gone(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.core.create_namespaced_pod(k8s_namespace, foreign_pod("foreign", "3", "1Gi"))
    wait_until(  # the agent's figures count it (8 CPU on the node, 3 of them held)
        lambda: (
            kjs_up.get(f"/api/v1/clusters/{cluster.id}").json()["resources"]["free"]["cpu_millis"]
            <= 5000
        ),
        timeout=30,
        what="the foreign pod's request in the cluster's free figures",
    )
    big = submit(
        kjs_up, k8s_namespace, "big", resources={"requests": {"cpu": "6", "memory": "1Gi"}}
    )
    waiting = wait_until(
        lambda: (j := job(kjs_up, big))["reason"] == "NoCapacity" and j,
        timeout=10,
        what="the big job to say it has no room",
    )
    assert waiting["state"] == "pending"
    assert waiting["message"].startswith("needs 6 CPU, 1Gi memory; ")
    assert f"{cluster.id} has " in waiting["message"]

    cluster.core.delete_namespaced_pod("foreign", k8s_namespace, grace_period_seconds=0)
    reaches(kjs_up, big, "running")
    placed = job(kjs_up, big)
    assert placed["cluster_id"] == cluster.id and placed["reason"] != "NoCapacity"
    cancel_all(kjs_up, cluster, k8s_namespace, big)
