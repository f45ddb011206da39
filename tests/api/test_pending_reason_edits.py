"""A pending job's reason after an edit or a new attempt says what a submit would: waiting for
its run_at when that is ahead, else nothing until placement considers it again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.scheduler import placement
from tests.api.conftest import FakeAgent, occupy

JOBS = "/api/v1/jobs"


def tomorrow() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()


def reason(client: TestClient[Any], job_id: str) -> tuple[str | None, str | None]:
    job = client.get(f"{JOBS}/{job_id}").json()
    return job["reason"], job["message"]


def test_an_edit_of_a_pending_job_replaces_the_reason_it_waited_for(
    client: TestClient[Any],
) -> None:
    body = {"name": "w", "namespace": "ml", "image": "busybox"}
    job_id = client.post(JOBS, json=body).json()["id"]
    store = client.app.state.components.store
    store.update_job(  # as placement left it
        job_id, lambda j: msgspec.structs.replace(j, reason="NoCapacity", message="c1 is full")
    )
    at = tomorrow()
    answer = client.patch(f"{JOBS}/{job_id}", json={"run_at": at})
    assert answer.status_code == 200, answer.text
    said, message = reason(client, job_id)
    assert said == "WaitingForRunAt" and message is not None and "waiting for run_at" in message
    assert client.patch(f"{JOBS}/{job_id}", json={"run_at": None}).status_code == 200
    assert reason(client, job_id) == (None, None)  # due: the next pass says why, if it waits


def test_a_new_attempt_due_later_waits_for_its_run_at(client: TestClient[Any]) -> None:
    (running,) = occupy(client, "c1")
    answer = client.patch(f"{JOBS}/{running.id}", json={"run_at": tomorrow()})
    assert answer.status_code == 200, answer.text
    job = client.get(f"{JOBS}/{running.id}").json()
    assert (job["state"], job["attempt"], job["reason"]) == ("pending", 2, "WaitingForRunAt")


def _submit(client: TestClient[Any], cluster: str, name: str = "w") -> str:
    body = {"name": name, "namespace": "ml", "image": "busybox", "cluster": cluster}
    answer = client.post(JOBS, json=body)
    assert answer.status_code == 201, answer.text
    job_id: str = answer.json()["id"]
    return job_id


def test_an_edited_job_says_why_it_waits_at_once_or_at_the_next_pass(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Newcomers of a key are found by created_at from its last write on: no margin, so that the
    # job edited into c2's key below is older than that write (as it would be after a while).
    monkeypatch.setattr(placement, "JOIN_MARGIN", dt.timedelta(0))
    for cluster, capacity in (("c1", 1), ("c2", 1), ("c3", 5)):
        FakeAgent(client, cluster).heartbeat(capacity=capacity)
    occupy(client, "c1")
    occupy(client, "c2")
    dispatcher = client.app.state.jobs.dispatcher
    job_id = _submit(client, "c1")
    for _ in range(2):
        _submit(client, "c2", "other")
    client.blocking_portal.call(dispatcher.dispatch_due)
    said, message = reason(client, job_id)
    assert said == "NoCapacity" and message is not None and "c1" in message

    # Edited, still waiting for c1: why it waits holds, at once.
    answer = client.patch(f"{JOBS}/{job_id}", json={"args": ["--verbose"]})
    assert answer.status_code == 200, answer.text
    assert reason(client, job_id) == (said, message)
    assert answer.json()["reason"] == said

    # Edited into c2's key (which said why already, before this job joined): the next pass
    # says why, not a refresh half a minute later.
    answer = client.patch(f"{JOBS}/{job_id}", json={"cluster": "c2"})
    assert answer.status_code == 200, answer.text
    client.blocking_portal.call(dispatcher.dispatch_due)
    said, message = reason(client, job_id)
    assert said == "NoCapacity" and message is not None and "c2" in message
