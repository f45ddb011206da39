"""Fair share on a real cluster: queues a and b with weights 1:3, 100 jobs each asking 1 CPU,
on the test cluster's 8-CPU node. While both have jobs waiting, a runs about a quarter of the
running jobs (2 of 8), although all of a's jobs were submitted first; once b has nothing left, a
alone uses everything."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.e2e.test_queue_limits_e2e import kjs_up_with_queues

pytestmark = pytest.mark.k8s
QUEUES = {"a": {"weight": 1}, "b": {"weight": 3}}
JOBS = 100
RUN_S = 4  # each job's run: slots turn over, and fair share picks who gets each freed one
SETTLE_S = 30.0  # the share is measured after this long (the "after the first 30 s")
MEASURE_S = 25.0  # ... for this long: b (6 slots, 1.5 jobs/s) still has work at the end


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    yield from kjs_up_with_queues(k8s_clusters[0], tmp_path, QUEUES)


def submit_all(client: TestClient[Any], ns: str, queue: str) -> list[str]:
    job = {
        "namespace": ns,
        "image": "busybox",
        "command": ["sh", "-c", f"sleep {RUN_S}"],
        "queue": queue,
        "resources": {"requests": {"cpu": "1", "memory": "64Mi"}},
    }
    items = [{"job": {**job, "name": f"{queue}-{i}"}} for i in range(JOBS)]
    response = client.post("/api/v1/jobs:batch", json={"items": items})
    assert response.status_code == 201, response.text
    return [j["id"] for j in response.json()["items"]]


def counts(client: TestClient[Any], state: str) -> Counter[str]:
    """Jobs in `state` per queue (the test's 200 jobs fit one page)."""
    found: Counter[str] = Counter()
    cursor = None
    while True:
        params: dict[str, Any] = {"state": state, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/jobs", params=params).json()
        found.update(j["queue"] for j in page["items"])
        if not (cursor := page.get("next_cursor")):
            return found


def test_weights_1_to_3_give_a_a_quarter_of_the_cluster_and_alone_it_all(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    started = time.monotonic()
    a = submit_all(kjs_up, k8s_namespace, "a")  # first: oldest-first would give a every slot
    b = submit_all(kjs_up, k8s_namespace, "b")

    samples: list[tuple[int, int]] = []  # (a's running jobs, all running jobs)
    while time.monotonic() - started < SETTLE_S + MEASURE_S:
        running, pending = counts(kjs_up, "running"), counts(kjs_up, "pending")
        if time.monotonic() - started >= SETTLE_S:
            assert pending["a"] and pending["b"], f"a queue ran out of work: {pending}"
            samples.append((running["a"], running["a"] + running["b"]))
        time.sleep(0.5)  # a sample every half second: the measure is time-averaged
    # a's part of the job-seconds run (the time-averaged running jobs of a over those of both):
    # a moment when a wave of b's jobs has just ended and 1 job of a runs alone weighs 1 job,
    # not as much as a moment with 8 running.
    share = sum(a for a, _ in samples) / max(sum(total for _, total in samples), 1)
    assert len(samples) >= 20, samples
    print(f"a's time-averaged share of running jobs: {share:.3f} ({len(samples)} samples)")
    assert 0.15 <= share <= 0.35, f"a's share of running jobs {share:.2f} over {samples}"

    # b ends (its waiting jobs cancelled): a alone fills the node.
    for job_id in b:
        kjs_up.delete(f"/api/v1/jobs/{job_id}")
    seen: list[int] = []

    def a_fills_the_node() -> bool:
        seen.append(counts(kjs_up, "running")["a"] + counts(kjs_up, "created")["a"])
        return seen[-1] >= 8

    cluster = k8s_clusters[0]
    try:
        wait_until(a_fills_the_node, timeout=60, what="a alone to hold every CPU of the node")
    except AssertionError as e:
        states = {
            s: counts(kjs_up, s)
            for s in (
                "pending",
                "dispatched",
                "created",
                "running",
                "cancelling",
                "cancelled",
                "succeeded",
            )
        }
        pend = kjs_up.get("/api/v1/jobs", params={"state": "pending", "limit": 1}).json()
        raise AssertionError(
            f"{e}; held: {seen[-20:]}; states {states}; cluster "
            f"{kjs_up.get(f'/api/v1/clusters/{cluster.id}').json()}; a pending: {pend}"
        ) from None

    for job_id in a:
        kjs_up.delete(f"/api/v1/jobs/{job_id}")
    wait_until(  # the next test of the session measures the node's free figures
        lambda: all(
            p.status.phase in ("Succeeded", "Failed")
            for p in cluster.core.list_namespaced_pod(k8s_namespace).items
        ),
        timeout=60,
        what="the test's pods to be gone or finished",
    )
