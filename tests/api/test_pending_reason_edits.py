"""A pending job's reason after an edit or a new attempt says what a submit would: waiting for
its run_at when that is ahead, else nothing until placement considers it again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar.testing import TestClient

from tests.api.conftest import occupy

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
