"""Where a job stands (issue 18): a pending, due job's `queue_position` in `GET /jobs/{id}` and
in list pages, counted among its queue's due pending jobs, oldest first; and each queue's
`usage` in `GET /queues`. No cluster here: every job stays pending unless the test places it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar.testing import TestClient

from kjs.core.models import JobSpec
from kjs.core.states import JobState
from tests.api.conftest import occupy

JOBS = "/api/v1/jobs"


def submit(client: TestClient[Any], name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "namespace": "ml", "image": "busybox", **fields}
    answer = client.post(JOBS, json=body)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()
    return job


def position(client: TestClient[Any], job: dict[str, Any]) -> int | None:
    value: int | None = client.get(f"{JOBS}/{job['id']}").json()["queue_position"]
    return value


def test_pending_jobs_count_their_place_in_their_own_queue(client: TestClient[Any]) -> None:
    assert client.put("/api/v1/queues/gpu", json={}).status_code == 201
    first, second = submit(client, "a", queue="gpu"), submit(client, "b", queue="gpu")
    other = submit(client, "c")  # default: a line of its own
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    later = submit(client, "d", queue="gpu", run_at=tomorrow)  # not due: no place
    third = submit(client, "e", queue="gpu")
    assert [position(client, j) for j in (first, second, other, later, third)] == [1, 2, 1, None, 3]
    # A list page has them all, counted at once.
    page = client.get(JOBS, params={"state": "pending"}).json()["items"]
    assert {j["name"]: j["queue_position"] for j in page} == {
        "a": 1,
        "b": 2,
        "c": 1,
        "d": None,
        "e": 3,
    }
    # The first leaves the line (cancelled): the others move up; a final job has no place.
    assert client.delete(f"{JOBS}/{first['id']}").status_code in (200, 202)
    assert [position(client, j) for j in (first, second, third)] == [None, 1, 2]


def test_a_placed_job_has_no_place_in_line(client: TestClient[Any]) -> None:
    (running,) = occupy(client, "c1")
    waiting = submit(client, "w")
    assert position(client, {"id": running.id}) is None
    assert position(client, waiting) == 1  # the running one is not ahead of it


def test_each_queue_says_what_its_jobs_hold_now(client: TestClient[Any]) -> None:
    assert client.put("/api/v1/queues/gpu", json={}).status_code == 201
    store, service = client.app.state.components.store, client.app.state.jobs
    heavy = msgspec.convert(
        {
            "name": "heavy",
            "namespace": "ml",
            "image": "busybox",
            "queue": "gpu",
            "parallelism": 2,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        },
        JobSpec,
    )
    for state in (JobState.RUNNING, JobState.DISPATCHED, JobState.LOST, JobState.SUCCEEDED):
        record = msgspec.structs.replace(service.new_record(heavy), state=state, cluster_id="c1")
        store.create_job(record)
    submit(client, "waits", queue="gpu")
    submit(client, "plain")
    queues = {q["name"]: q for q in client.get("/api/v1/queues").json()["items"]}
    # Running counts every placed, unfinished job (lost too: its pods may run); each asks
    # 2 pods x (500m, 1Gi). The finished one counts for nothing.
    assert queues["gpu"]["usage"] == {
        "pending": 1,
        "running": 3,
        "cpu_millis": 3 * 1000,
        "memory_bytes": 3 * (2 << 30),
    }
    assert queues["default"]["usage"] == {
        "pending": 1,
        "running": 0,
        "cpu_millis": 0,
        "memory_bytes": 0,
    }
    assert client.get("/api/v1/queues/gpu").json()["usage"]["running"] == 3
    assert client.put("/api/v1/queues/empty", json={}).status_code == 201
    assert client.get("/api/v1/queues/empty").json()["usage"]["pending"] == 0


def test_a_job_due_later_gets_its_place_when_due(client: TestClient[Any]) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    job = submit(client, "soon", run_at=soon)
    assert position(client, job) is None
    store = client.app.state.components.store
    # Its time comes (the run_at moved back, as if an hour passed).
    store.update_job(job["id"], lambda j: msgspec.structs.replace(j, run_at=None))
    assert position(client, job) == 1
