"""A final state decided from a Job's pods stays; a condition that later says otherwise is
written down once (a ConditionMismatch event) and counted, never applied."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from prometheus_client import REGISTRY

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

JOB = {"name": "decided", "namespace": "ops", "image": "busybox"}


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def mismatches(client: TestClient[Any], job_id: str) -> list[dict[str, Any]]:
    events = client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    return [e for e in events if e["reason"] == "ConditionMismatch"]


def test_a_later_contradicting_condition_is_noted_once_and_changes_nothing(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat()
    job = client.post("/api/v1/jobs", json=JOB).json()
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "succeeded", reason="CompletionsReached")  # from its pod, at once
    wait_state(client, job["id"], "succeeded")
    before = counted("kjs_condition_mismatches_total")
    done_before = counted("kjs_queue_messages_total", topic="status", result="done")
    for _ in range(2):  # and again at the agent's next resync
        agent.status(job, "failed", reason="DeadlineExceeded", message="too late")
    wait_until(
        lambda: (
            counted("kjs_queue_messages_total", topic="status", result="done") >= done_before + 2
        ),
        timeout=10,
        what="both contradictions consumed",
    )
    noted = mismatches(client, job["id"])
    assert len(noted) == 1 and "DeadlineExceeded" in noted[0]["message"]
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"
    assert counted("kjs_condition_mismatches_total") == before + 1
    agent.status(job, "succeeded", reason="CompletionsReached")  # agreeing news: nothing
    assert len(mismatches(client, job["id"])) == 1
