"""A log sink other than the store's (`log_sink = "memory"`) is the only path to logs: the final
state waits for the chunks the sink has, the API reads them from it, retention removes them
through it."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core import messages
from kjs.core.components import Components
from kjs.scheduler.retention import Retention
from tests.api.conftest import FakeAgent, wait_state

JOB = {"name": "hello", "namespace": "ops", "image": "busybox", "command": ["echo", "hi"]}
LINES = [b"line 1\n", b"line 2\n"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # A final state whose logs were missing would wait 30 s: far longer than the tests wait.
    return {"log_sink": "memory", "logs": {"final_wait_s": 30}}


def dispatched(client: TestClient[Any], agent: FakeAgent) -> dict[str, Any]:
    agent.heartbeat()
    response = client.post("/api/v1/jobs", json=JOB)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    wait_state(client, job["id"], "dispatched")
    return job


def chunk(job: dict[str, Any], seq: int) -> messages.LogChunk:
    return messages.LogChunk(
        job_id=job["id"], attempt=1, pod="p1", container="main", seq=seq, data=LINES[seq]
    )


def succeed_with_logs(client: TestClient[Any], agent: FakeAgent) -> tuple[dict[str, Any], float]:
    """A job whose final status names its two log chunks, sent before the second chunk; the
    job as it ends, and how long after the last message it took."""
    job = dispatched(client, agent)
    agent.send(chunk(job, 0))
    agent.status(
        job,
        "succeeded",
        pod="p1",
        exit_codes={"p1": {"main": 0}},
        last_log_seq={"p1/main": 1},
        log_bytes={"p1/main": sum(map(len, LINES))},
    )
    # Held back: its last chunk has not arrived.
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "dispatched"
    agent.send(chunk(job, 1))
    sent = time.monotonic()
    done = wait_state(client, job["id"], "succeeded", timeout=5)
    return done, time.monotonic() - sent


def test_a_final_state_needs_only_its_chunks_in_the_sink_not_final_wait_s(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    done, took = succeed_with_logs(client, agent)
    assert took < 3, f"succeeded {took:.1f} s after its last chunk"
    assert "log incomplete" not in (done["message"] or "")
    logs = client.get(f"/api/v1/jobs/{done['id']}/logs")
    assert logs.status_code == 200 and logs.text == "==> p1/main <==\nline 1\nline 2\n"
    followed = client.get(f"/api/v1/jobs/{done['id']}/logs?follow=true")
    assert followed.text == logs.text


def test_a_cut_log_says_so_from_the_sink(client: TestClient[Any], agent: FakeAgent) -> None:
    job = dispatched(client, agent)
    agent.send(msgspec.structs.replace(chunk(job, 0), truncated=True))
    agent.status(job, "succeeded", last_log_seq={"p1/main": 0}, log_bytes={"p1/main": 7})
    wait_state(client, job["id"], "succeeded", timeout=5)
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert logs.startswith("==> p1/main <==\nline 1\n[kjs: the log of p1/main was cut at ")


def test_retention_removes_the_logs_of_old_jobs_through_the_sink(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    done, _ = succeed_with_logs(client, agent)
    components: Components = client.app.state.components
    sink = components.log_sink
    portal = client.blocking_portal
    assert portal.call(sink.chunk_counts, done["id"], 1) == {("p1", "main"): (2, 14)}
    settings = components.settings
    # Keep nothing: everything that exists now is older than the retention.
    keep_nothing = msgspec.structs.replace(
        settings, logs=msgspec.structs.replace(settings.logs, retention_days=0)
    )
    portal.call(Retention(dataclasses.replace(components, settings=keep_nothing)).run)
    assert client.get(f"/api/v1/jobs/{done['id']}").status_code == 404
    assert portal.call(sink.read, done["id"]) == []
