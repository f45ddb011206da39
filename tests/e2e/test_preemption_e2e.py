"""Preemption on a real cluster: the test node's 8 CPU held by eight low-priority, preemptible
1-CPU jobs, a high-priority 2-CPU job makes room by preempting the two started last — they wait
again as attempt 2 (`Preempted`), with no webhook for the attempt they lost — and runs; once it
is cancelled, the two run again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.deployment import WEBHOOK_SECRET, WebhookReceiver
from tests.e2e.test_queue_limits_e2e import cancel_all, job, kjs_up_with_queues, reaches

pytestmark = pytest.mark.k8s
CLASSES = {"batch-low": {"value": -100, "preemptible": True}, "urgent": {"value": 100}}
NODE_CPUS = 8  # the test kubelet's node (kjs.testing.kubelet)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.down()


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    yield from kjs_up_with_queues(
        k8s_clusters[0],
        tmp_path,
        {},
        scheduling={"priority_classes": CLASSES},
        webhooks={"secret": WEBHOOK_SECRET, "allow_private": True},
    )


def submit(client: TestClient[Any], ns: str, name: str, cls: str, cpu: str, url: str) -> str:
    body = {
        "name": name,
        "namespace": ns,
        "image": "busybox",
        "command": ["sh", "-c", "sleep 600"],
        "priority_class": cls,
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
        "callback_url": url,
    }
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def events(client: TestClient[Any], job_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    return found


def test_a_high_priority_job_preempts_the_latest_started_low_ones_and_they_run_again(
    kjs_up: TestClient[Any],
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    receiver: WebhookReceiver,
) -> None:
    low = []
    for i in range(NODE_CPUS):  # one after the other: their start order is known
        low.append(submit(kjs_up, k8s_namespace, f"low-{i}", "batch-low", "1", receiver.url))
        reaches(kjs_up, low[-1], "running")
    started = sorted(low, key=lambda j: job(kjs_up, j)["started_at"])
    latest = set(started[-2:])
    assert len({job(kjs_up, j)["started_at"] for j in low}) == NODE_CPUS  # no tie to break

    urgent = submit(kjs_up, k8s_namespace, "urgent", "urgent", "2", receiver.url)
    reaches(kjs_up, urgent, "running", timeout=60)
    victims = {j for j in low if job(kjs_up, j)["attempt"] == 2}
    assert victims == latest  # exactly the two started last
    for victim in victims:
        found = job(kjs_up, victim)
        assert found["state"] == "pending"  # no room until the urgent job is gone
        told = [(e["attempt"], e["state"], e["reason"]) for e in events(kjs_up, victim)]
        assert (1, "cancelling", "Preempted") in told and (2, "pending", "Preempted") in told
    for other in set(low) - victims:
        assert (job(kjs_up, other)["state"], job(kjs_up, other)["attempt"]) == ("running", 1)
    assert job(kjs_up, urgent)["cluster_id"] == k8s_clusters[0].id

    # Room again: the victims run again, as attempt 2.
    assert kjs_up.delete(f"/api/v1/jobs/{urgent}").status_code == 202
    reaches(kjs_up, urgent, "cancelled")
    for victim in victims:
        reaches(kjs_up, victim, "running", timeout=60)
        assert job(kjs_up, victim)["attempt"] == 2
    # The urgent job's end is announced; nothing was for the victims' preempted attempts.
    wait_until(
        lambda: any(d.job_id == urgent for d in receiver.deliveries),
        timeout=30,
        what="the urgent job's webhook",
    )
    assert [(d.job_id, d.event) for d in receiver.deliveries] == [(urgent, "job.cancelled")]
    cancel_all(kjs_up, k8s_clusters[0], k8s_namespace, *low)
