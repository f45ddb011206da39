"""Logs that explain themselves, through the API on fakes of the agent: a follow of a running
default job asks its agent once to stream it, and an empty log says why (body and header)."""

from __future__ import annotations

import threading
from typing import Any

from litestar.testing import TestClient

from kjs.core import messages
from kjs.core.clock import now
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

JOB = {"name": "hello", "namespace": "ops", "image": "busybox", "command": ["echo", "hi"]}
SUCCEEDED = (
    'no logs kept: log_collect is "on_failure" and the job succeeded; '
    'submit with "log_collect": "always" to keep them'
)


def running(client: TestClient[Any], agent: FakeAgent, **spec: Any) -> dict[str, Any]:
    agent.heartbeat()
    job: dict[str, Any] = client.post("/api/v1/jobs", json={**JOB, **spec}).json()
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "running", pod="p1")
    return wait_state(client, job["id"], "running")


def test_a_follow_of_a_running_default_job_asks_its_agent_once_to_stream(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    job = running(client, agent)
    followed: dict[str, Any] = {}

    def follow() -> None:
        followed["response"] = client.get(f"/api/v1/jobs/{job['id']}/logs?follow=true")

    reader = threading.Thread(target=follow)
    reader.start()

    def asked() -> list[messages.Control]:
        return [c for c in agent.controls() if c.action == "stream_logs"]

    (ask,) = wait_until(asked, timeout=10, what="the agent to be asked to stream")
    assert (ask.job_id, ask.attempt, ask.namespace) == (job["id"], 1, "ops")
    assert ask.k8s_name == job["k8s_name"]
    # Its lines come as the agent sends them; the follow ends with the job.
    agent.send(
        messages.LogChunk(
            job_id=job["id"], attempt=1, pod="p1", container="hello", seq=0, data=b"hi\n"
        )
    )
    agent.status(job, "succeeded", last_log_seq={"p1/hello": 0}, log_bytes={"p1/hello": 3})
    reader.join(20)
    assert not reader.is_alive(), "the follow did not end within 20 s"
    response = followed["response"]
    assert response.text == "==> p1/hello <==\nhi\n"
    assert "x-kjs-logs-note" not in response.headers
    assert len(asked()) == 1  # once per follow, however long it polls


def test_an_empty_log_says_why_in_its_body_and_header(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    def note(job_id: str) -> str:
        response = client.get(f"/api/v1/jobs/{job_id}/logs")
        assert response.status_code == 200
        said: str = response.headers["x-kjs-logs-note"]
        assert response.text == f"[kjs: {said}]\n"
        return said

    pending = client.post("/api/v1/jobs", json=JOB).json()  # no cluster yet: stays pending
    assert note(pending["id"]) == "no logs yet: the job has not started (it is pending)"
    client.delete(f"/api/v1/jobs/{pending['id']}")
    assert note(pending["id"]) == "no logs: the job was cancelled before it started"

    job = running(client, agent)
    assert note(job["id"]).startswith('no logs yet: log_collect is "on_failure"')
    agent.status(job, "succeeded", exit_codes={"p1": {"hello": 0}})
    wait_state(client, job["id"], "succeeded")
    assert note(job["id"]) == SUCCEEDED
    followed = client.get(f"/api/v1/jobs/{job['id']}/logs?follow=true")
    assert followed.text == f"[kjs: {SUCCEEDED}]\n"
    assert followed.headers["x-kjs-logs-note"] == SUCCEEDED

    hushed = running(client, agent, log_collect="never")
    assert note(hushed["id"]).startswith('no logs kept: log_collect is "never"')
    # Following it brings nothing ever: it says so at once, and ends, while the job runs on.
    followed = client.get(f"/api/v1/jobs/{hushed['id']}/logs?follow=true", timeout=10)
    said = followed.headers["x-kjs-logs-note"]
    assert said.startswith('no logs kept: log_collect is "never"')
    assert followed.text == f"[kjs: {said}]\n"
    assert client.get(f"/api/v1/jobs/{hushed['id']}").json()["state"] == "running"


def test_follows_opened_one_after_another_ask_the_agent_once(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    job = running(client, agent)
    service = client.app.state.jobs
    record = client.blocking_portal.call(service.get, job["id"])
    for _ in range(5):  # what five follows of this attempt would ask, one after another
        client.blocking_portal.call(service.stream_logs, record)

    def asked() -> list[messages.Control]:
        return [c for c in agent.controls() if c.action == "stream_logs"]

    store = client.app.state.components.store

    def relayed() -> bool:  # every ask written is published: none waits in the outbox
        depth = store.outbox_depth(now())
        return depth.messages_due + depth.messages_waiting == 0 and bool(asked())

    wait_until(relayed, timeout=10, what="the outbox to be relayed")
    assert len(asked()) == 1


def test_a_filter_of_any_text_is_named_safely_in_the_note(client: TestClient[Any]) -> None:
    job = client.post("/api/v1/jobs", json=JOB).json()
    response = client.get(f"/api/v1/jobs/{job['id']}/logs", params={"pod": "é\r\nX-Evil: 1"})
    assert response.status_code == 200
    assert "x-evil" not in response.headers
    said = "no logs of pod=\\xe9\\r\\nX-Evil: 1 yet: the job has not started (it is pending)"
    assert response.headers["x-kjs-logs-note"] == said
    assert response.text == f"[kjs: {said}]\n"
