"""Priority classes over the API (issue 19): listed read-only; a job's `priority_class` (its own,
else its queue's) resolved to the `priority` it is stored and shown with, at submit, batch, edit,
rerun and cron runs; an unknown class is a 400 naming `priority_class` everywhere a job is
written; a queue's place in line puts higher priorities first."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.scheduler.service import idempotency
from kjs.server import create_app
from kjs.testing.waiting import wait_until

JOB = {"name": "hello", "namespace": "ml", "image": "busybox"}
CRON = {**JOB, "schedule": "0 3 * * *"}
CLASSES = {
    "high": {"value": 1000},
    "low": {"value": -10, "preemptible": True, "description": "may wait"},
    "urgent": {"value": 5000},
}
QUEUES = {"gpu": {"priority_class": "high"}, "plain": {}}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"scheduling": {"priority_classes": CLASSES, "queues": QUEUES}}


def submit(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", json={**JOB, **fields})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def refused(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_the_classes_are_listed_highest_first(client: TestClient[Any]) -> None:
    listed = client.get("/api/v1/priority-classes")
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [
        {"name": "urgent", "value": 5000, "preemptible": False, "description": None},
        {"name": "high", "value": 1000, "preemptible": False, "description": None},
        {"name": "low", "value": -10, "preemptible": True, "description": "may wait"},
    ]
    # Configuration only: nothing defines or deletes one over the API.
    assert client.put("/api/v1/priority-classes/x", json={"value": 1}).status_code in (404, 405)


def test_a_job_gets_its_class_s_value_else_its_queue_s_else_0(client: TestClient[Any]) -> None:
    plain = submit(client)
    assert (plain["priority_class"], plain["priority"]) == (None, 0)
    by_queue = submit(client, queue="gpu")
    assert (by_queue["priority_class"], by_queue["priority"]) == (None, 1000)
    own = submit(client, queue="gpu", priority_class="low")
    assert (own["priority_class"], own["priority"]) == ("low", -10)
    # Stored, and read back as stored.
    read = client.get(f"/api/v1/jobs/{own['id']}").json()
    assert (read["priority_class"], read["priority"]) == ("low", -10)
    listed = {j["id"]: j["priority"] for j in client.get("/api/v1/jobs").json()["items"]}
    assert listed == {plain["id"]: 0, by_queue["id"]: 1000, own["id"]: -10}


def test_an_unknown_class_is_a_400_naming_the_field_wherever_a_job_is_written(
    client: TestClient[Any],
) -> None:
    job = submit(client)
    errors = refused(client.post("/api/v1/jobs", json={**JOB, "priority_class": "hihg"}))
    assert errors == {
        "priority_class": "unknown priority class 'hihg' (defined: high, low, urgent)"
    }
    assert "priority_class" in refused(
        client.post("/api/v1/jobs?dry_run=true", json={**JOB, "priority_class": "hihg"})
    )
    batch = {"items": [{"job": JOB}, {"job": {**JOB, "priority_class": "nope"}}]}
    assert list(refused(client.post("/api/v1/jobs:batch", json=batch))) == [
        "items[1].priority_class"
    ]
    stored = [j["id"] for j in client.get("/api/v1/jobs").json()["items"]]
    assert stored == [job["id"]]  # the batch stored nothing
    patched = client.patch(f"/api/v1/jobs/{job['id']}", json={"priority_class": "nope"})
    assert list(refused(patched)) == ["priority_class"]
    created = client.post("/api/v1/cronjobs", json={**CRON, "priority_class": "x"})
    assert list(refused(created)) == ["priority_class"]
    cron = client.post("/api/v1/cronjobs", json=CRON).json()
    patched = client.patch(f"/api/v1/cronjobs/{cron['id']}", json={"priority_class": "x"})
    assert list(refused(patched)) == ["priority_class"]
    # Both problems at once: each named.
    both = refused(
        client.post("/api/v1/jobs", json={**JOB, "queue": "nowhere", "priority_class": "x"})
    )
    assert set(both) == {"queue", "priority_class"}


def test_an_edit_resolves_the_priority_again(client: TestClient[Any]) -> None:
    job = submit(client, queue="gpu")
    raised = client.patch(f"/api/v1/jobs/{job['id']}", json={"priority_class": "urgent"})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["priority_class"], raised.json()["priority"]) == ("urgent", 5000)
    # Back to no class of its own, in a queue without one: 0.
    moved = client.patch(
        f"/api/v1/jobs/{job['id']}", json={"priority_class": None, "queue": "plain"}
    ).json()
    assert (moved["priority_class"], moved["priority"]) == (None, 0)
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["priority"] == 0


def test_the_place_in_line_puts_higher_priorities_first(client: TestClient[Any]) -> None:
    first, second = submit(client), submit(client)
    urgent = submit(client, priority_class="urgent")
    low = submit(client, priority_class="low")

    def position(job: dict[str, Any]) -> int:
        return int(client.get(f"/api/v1/jobs/{job['id']}").json()["queue_position"])

    assert [position(j) for j in (urgent, first, second, low)] == [1, 2, 3, 4]
    page = client.get("/api/v1/jobs", params={"state": "pending"}).json()["items"]
    assert {j["id"]: j["queue_position"] for j in page} == {
        urgent["id"]: 1,
        first["id"]: 2,
        second["id"]: 3,
        low["id"]: 4,
    }


def test_a_queue_s_class_must_be_defined(client: TestClient[Any]) -> None:
    errors = refused(client.put("/api/v1/queues/etl", json={"priority_class": "nope"}))
    assert errors == {
        "priority_class": "unknown priority class 'nope' (defined: high, low, urgent)"
    }
    created = client.put("/api/v1/queues/etl", json={"priority_class": "low"})
    assert created.status_code == 201, created.text
    assert submit(client, queue="etl")["priority"] == -10  # an API queue's default applies too


def test_a_cron_job_s_runs_take_its_class(client: TestClient[Any]) -> None:
    cron = client.post(
        "/api/v1/cronjobs",
        json={**CRON, "mode": "managed", "schedule": "@every 1s", "priority_class": "low"},
    )
    assert cron.status_code == 201, cron.text
    assert cron.json()["priority_class"] == "low"
    cron_id = cron.json()["id"]
    (run, *_) = wait_until(
        lambda: client.get(f"/api/v1/cronjobs/{cron_id}/runs").json()["items"],
        timeout=15,
        what="a run",
    )
    assert (run["priority_class"], run["priority"]) == ("low", -10)
    triggered = client.post(f"/api/v1/cronjobs/{cron_id}/trigger")
    assert triggered.status_code == 201 and triggered.json()["priority"] == -10
    in_gpu = client.post("/api/v1/cronjobs", json={**CRON, "queue": "gpu"}).json()
    run = client.post(f"/api/v1/cronjobs/{in_gpu['id']}/trigger").json()
    assert (run["priority_class"], run["priority"]) == (None, 1000)  # its queue's


def test_a_new_value_applies_to_jobs_written_after_it(tmp_path: Path) -> None:
    def server(value: int) -> TestClient[Any]:
        classes = {"high": {"value": value}}
        overrides = {"data_dir": str(tmp_path), "scheduling": {"priority_classes": classes}}
        return TestClient(create_app(load(environ={}, overrides=overrides)))

    with server(1000) as client:
        job = submit(client, priority_class="high")
        other = submit(client, priority_class="high")
    with server(2000) as client:
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["priority"] == 1000  # as written
        assert submit(client, priority_class="high")["priority"] == 2000
        edited = client.patch(f"/api/v1/jobs/{job['id']}", json={"labels": {"a": "b"}}).json()
        assert edited["priority"] == 2000
        client.delete(f"/api/v1/jobs/{other['id']}")
        rerun = client.post(f"/api/v1/jobs/{other['id']}/rerun")
        assert rerun.status_code == 201 and rerun.json()["priority"] == 2000
    # A class gone from the configuration: the job keeps its priority; a rerun gets 0.
    overrides = {"data_dir": str(tmp_path)}
    with TestClient(create_app(load(environ={}, overrides=overrides))) as client:
        assert client.get(f"/api/v1/jobs/{other['id']}").json()["priority"] == 2000
        client.delete(f"/api/v1/jobs/{other['id']}")
        assert client.post(f"/api/v1/jobs/{other['id']}/rerun").json()["priority"] == 0


def test_an_idempotency_key_of_before_priority_classes_still_replays() -> None:
    """The request digest of a job without a class is the one it had before classes."""
    spec = msgspec.convert({**JOB, "queue": "gpu"}, JobSpec)
    before = msgspec.json.encode(spec).replace(b',"priority_class":null', b"")
    assert idempotency("k", "p", spec).request == hashlib.sha256(before).hexdigest()
    classed = msgspec.structs.replace(spec, priority_class="high")
    assert idempotency("k", "p", classed).request != idempotency("k", "p", spec).request
