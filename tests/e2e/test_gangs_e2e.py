"""A gang on a real cluster: 4 jobs of 2 CPU on the test cluster's 8-CPU node, while another job
holds 1 CPU: none of them is placed (7 CPU free would take three), and the gang says what it
needs. Once the other job is gone, all four are dispatched together, in one pass, to the one
cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.e2e.test_queue_limits_e2e import kjs_up_with_queues, submit

pytestmark = pytest.mark.k8s


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    yield from kjs_up_with_queues(k8s_clusters[0], tmp_path, {})


def job(client: TestClient[Any], job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
    return found


def test_a_gang_of_four_waits_for_room_for_all_then_goes_in_one_pass(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    holder = submit(
        kjs_up, k8s_namespace, "holder", resources={"requests": {"cpu": "1", "memory": "64Mi"}}
    )
    wait_until(lambda: job(kjs_up, holder)["state"] == "running", timeout=60, what="holder runs")
    spec = {
        "namespace": k8s_namespace,
        "image": "busybox",
        "command": ["sh", "-c", "sleep 5"],
        "resources": {"requests": {"cpu": "2", "memory": "64Mi"}},
        "gang": "g1",
        "gang_size": 4,
    }
    items = [{"job": {**spec, "name": f"member-{i}"}} for i in range(4)]
    response = kjs_up.post("/api/v1/jobs:batch", json={"items": items})
    assert response.status_code == 201, response.text
    members = [j["id"] for j in response.json()["items"]]

    def told() -> dict[str, Any] | None:
        first = job(kjs_up, members[0])
        return first if first["reason"] == "NoCapacity" else None

    first = wait_until(told, timeout=30, what="the gang to be told why it waits")
    assert first["message"].startswith("gang g1 (4 jobs) needs 8 CPU"), first["message"]
    assert [job(kjs_up, m)["state"] for m in members] == ["pending"] * 4

    kjs_up.delete(f"/api/v1/jobs/{holder}")  # its CPU comes free: the gang fits now
    wait_until(
        lambda: all(job(kjs_up, m)["state"] != "pending" for m in members),
        timeout=90,
        what="the gang to be placed",
    )
    placed = [job(kjs_up, m) for m in members]
    assert {j["cluster_id"] for j in placed} == {cluster.id}
    assert len({j["dispatched_at"] for j in placed}) == 1  # one pass, one transaction
    wait_until(
        lambda: all(job(kjs_up, m)["state"] == "succeeded" for m in members),
        timeout=90,
        what="the gang's jobs to run and succeed",
    )
