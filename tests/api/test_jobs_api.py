"""The jobs API end to end in one process: HTTP in, queue messages out, statuses back."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.core import messages
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, occupy, release, wait_state

JOB = {"name": "hello", "namespace": "ops", "image": "busybox", "command": ["echo", "hi"]}


def submit(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", json={**JOB, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_same_named_jobs_submitted_back_to_back_get_kubernetes_names_of_their_own(
    client: TestClient[Any],
) -> None:
    names = {submit(client)["k8s_name"] for _ in range(20)}
    assert len(names) == 20  # one Job each: the agent takes an existing name as done already


def test_a_submitted_job_is_pending_with_every_output_field(client: TestClient[Any]) -> None:
    job = submit(client)
    assert job["state"] == "pending" and job["attempt"] == 1
    assert job["k8s_name"] == f"hello-{job['id'][:8]}"
    for key in (
        "id",
        "cluster_id",
        "created_at",
        "updated_at",
        "dispatched_at",
        "started_at",
        "finished_at",
        "exit_codes",
        "reason",
        "message",
        "cron_id",
        "queue_position",
    ):
        assert key in job
    assert job["created_at"].endswith("Z")
    read = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert read["queue_position"] == 1  # counted when read (the submit's answer does not)
    # What placement says of it (no cluster here) may have come since.
    waiting = {"queue_position": None, "reason": job["reason"], "message": job["message"]}
    assert {**read, **waiting} == job


def test_bad_input_is_a_400_naming_the_field(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/jobs", json={**JOB, "name": "Hello_World"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and body["errors"][0]["field"] == "name"
    unknown = client.post("/api/v1/jobs", json={**JOB, "colour": "red"}).json()
    assert unknown["errors"] == [
        {"field": "colour", "message": "Object contains unknown field `colour`"}
    ]
    env = client.post("/api/v1/jobs", json={**JOB, "env": {"A": 1}}).json()
    assert env["errors"][0]["field"] == "env.A"
    broken = client.post("/api/v1/jobs", content=b"{not json")
    assert broken.status_code == 400 and broken.json()["errors"][0]["field"] == "$"


def test_a_body_over_one_mebibyte_is_refused_with_413(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/jobs", json={**JOB, "annotations": {"a": "x" * (1 << 20)}})
    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_an_idempotency_key_returns_the_first_job(client: TestClient[Any]) -> None:
    first = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "k1"})
    # The same request (however it is written: the canonical job counts) is the same job.
    reordered = dict(reversed(list({**JOB, "backoff_limit": 0}.items())))
    again = client.post("/api/v1/jobs", json=reordered, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(client.get("/api/v1/jobs").json()["items"]) == 1


def test_an_idempotency_key_with_another_request_is_a_409(client: TestClient[Any]) -> None:
    first = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "k1"})
    other = client.post(
        "/api/v1/jobs", json={**JOB, "name": "other"}, headers={"Idempotency-Key": "k1"}
    )
    assert other.status_code == 409, other.text
    assert other.json()["detail"] == (
        f"Idempotency-Key 'k1' was used for a different request (job {first.json()['id']})"
    )
    assert len(client.get("/api/v1/jobs").json()["items"]) == 1


def test_an_idempotency_key_over_255_characters_is_a_400(client: TestClient[Any]) -> None:
    longest = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "k" * 255})
    assert longest.status_code == 201
    too_long = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400, too_long.text
    assert too_long.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "at most 255 characters (got 256)"}
    ]
    assert len(client.get("/api/v1/jobs").json()["items"]) == 1


def test_dry_run_returns_the_manifest_and_stores_nothing(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/jobs?dry_run=true", json=JOB)
    assert response.status_code == 200
    manifest = response.json()["manifest"]
    assert manifest["kind"] == "Job"
    assert manifest["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert client.get("/api/v1/jobs").json()["items"] == []


def test_unknown_ids_and_paths_are_404_problems(client: TestClient[Any]) -> None:
    missing = client.get("/api/v1/jobs/nope")
    assert missing.status_code == 404 and missing.json()["detail"] == "job nope not found"
    assert client.get("/api/v1/nothing").status_code == 404
    assert (
        client.get("/api/v1/nothing").headers["content-type"].startswith("application/problem+json")
    )


def test_listing_filters_and_pages(client: TestClient[Any]) -> None:
    ids = [
        submit(client, name=f"j{i}", labels={"batch": "b" if i % 2 else "a"})["id"]
        for i in range(5)
    ]
    page = client.get("/api/v1/jobs?limit=2").json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    rest = client.get(f"/api/v1/jobs?limit=10&cursor={page['next_cursor']}").json()
    assert [j["id"] for j in rest["items"]] == ids[::-1][2:] and rest["next_cursor"] is None
    assert {j["name"] for j in client.get("/api/v1/jobs?label=batch=b").json()["items"]} == {
        "j1",
        "j3",
    }
    assert [j["name"] for j in client.get("/api/v1/jobs?name=j2").json()["items"]] == ["j2"]
    assert len(client.get("/api/v1/jobs?state=pending").json()["items"]) == 5
    assert client.get("/api/v1/jobs?limit=501").status_code == 400
    bad = client.get("/api/v1/jobs?cursor=zzz")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cursor"
    assert client.get("/api/v1/jobs?state=sleeping").status_code == 400


def test_an_unknown_route_is_rejected_at_submit(client: TestClient[Any], agent: FakeAgent) -> None:
    response = client.post("/api/v1/jobs", json={**JOB, "cluster": "mars"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "cluster", "message": "unknown cluster 'mars' (known: none yet)"}
    ]
    agent.heartbeat()
    assert client.post("/api/v1/jobs", json={**JOB, "cluster": "c1"}).status_code == 201


def test_a_job_is_dispatched_once_a_cluster_has_room(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat(capacity=1)
    busy = occupy(client, "c1")  # full
    job = submit(client)
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "pending"
    release(client, busy)
    dispatched = wait_state(client, job["id"], "dispatched")
    assert dispatched["cluster_id"] == "c1" and dispatched["dispatched_at"] is not None
    (dispatch,) = wait_until(agent.dispatches, timeout=5, what="the dispatch message")
    assert dispatch.job_id == job["id"] and dispatch.attempt == 1
    assert dispatch.manifest["metadata"]["name"] == job["k8s_name"]
    assert dispatch.manifest["metadata"]["labels"]["kjs.io/job-id"] == job["id"]


def test_statuses_drive_the_job_to_its_end_idempotently(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat()
    job = submit(client)
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "created")
    wait_state(client, job["id"], "created")
    agent.status(job, "created")  # duplicate
    agent.status(job, "running", pod="hello-x")
    wait_state(client, job["id"], "running")
    agent.status(job, "pending")  # stale
    agent.status(job, "succeeded", pod="hello-x", exit_codes={"hello-x": {"hello": 0}})
    agent.status(job, "failed", attempt=0)  # an older attempt's news
    agent.status(job, "running", pod="hello-x")  # late
    done = wait_state(client, job["id"], "succeeded")
    assert done["exit_codes"] == {"hello-x": {"hello": 0}}
    assert done["finished_at"] is not None and done["started_at"] is not None
    events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    assert [e["state"] for e in events] == [
        "pending",
        "dispatched",
        "created",
        "running",
        "succeeded",
    ]
    assert events[-1]["cluster_id"] == "c1" and events[-1]["exit_code"] == 0


def test_a_final_state_waits_for_its_logs(client: TestClient[Any], agent: FakeAgent) -> None:
    agent.heartbeat()
    job = submit(client)
    wait_state(client, job["id"], "dispatched")
    agent.status(
        job,
        "failed",
        pod="p1",
        exit_codes={"p1": {"hello": 3}},
        reason="BackoffLimitExceeded",
        last_log_seq={"p1/hello": 1},
    )
    agent.send(
        messages.LogChunk(
            job_id=job["id"], attempt=1, pod="p1", container="hello", seq=0, data=b"line 1\n"
        )
    )
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "dispatched"
    agent.send(
        messages.LogChunk(
            job_id=job["id"], attempt=1, pod="p1", container="hello", seq=1, data=b"line 2\n"
        )
    )
    failed = wait_state(client, job["id"], "failed")
    assert failed["reason"] == "BackoffLimitExceeded" and failed["exit_codes"]["p1"]["hello"] == 3
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs")
    assert logs.headers["content-type"].startswith("text/plain")
    assert logs.text == "==> p1/hello <==\nline 1\nline 2\n"


def test_cancel_a_pending_job_at_once_and_a_dispatched_one_through_its_agent(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    pending = submit(client)
    response = client.delete(f"/api/v1/jobs/{pending['id']}")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    agent.heartbeat()
    job = submit(client)
    wait_state(client, job["id"], "dispatched")
    response = client.delete(f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 202 and response.json()["state"] == "cancelling"
    (control,) = wait_until(agent.controls, timeout=5, what="the cancel message")
    assert (control.action, control.job_id, control.k8s_name) == (
        "cancel",
        job["id"],
        job["k8s_name"],
    )
    agent.status(job, "cancelled")
    wait_state(client, job["id"], "cancelled")


def test_patch_edits_a_pending_job_and_refuses_a_finished_one(client: TestClient[Any]) -> None:
    job = submit(client)
    edited = client.patch(f"/api/v1/jobs/{job['id']}", json={"args": ["-n"], "backoff_limit": 2})
    assert edited.status_code == 200
    assert edited.json()["args"] == ["-n"] and edited.json()["attempt"] == 1
    bad = client.patch(f"/api/v1/jobs/{job['id']}", json={"backoff_limit": -1})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "backoff_limit"
    client.delete(f"/api/v1/jobs/{job['id']}")
    assert client.patch(f"/api/v1/jobs/{job['id']}", json={"args": []}).status_code == 409


def test_rerun_starts_the_next_attempt(client: TestClient[Any], agent: FakeAgent) -> None:
    agent.heartbeat()
    job = submit(client)
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "failed")
    wait_state(client, job["id"], "failed")
    response = client.post(f"/api/v1/jobs/{job['id']}/rerun")
    assert response.status_code == 201
    again = response.json()
    assert again["attempt"] == 2 and again["k8s_name"].endswith("-a2")
    wait_state(client, job["id"], "dispatched")
    second = wait_until(
        lambda: [d for d in agent.dispatches() if d.attempt == 2],
        timeout=5,
        what="attempt 2 dispatched",
    )[0]
    assert second.replaces == job["k8s_name"]
    agent.status(job, "succeeded", attempt=1)  # the old attempt's news changes nothing
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "dispatched"


def test_health_readiness_metrics_and_schema_are_served(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    submit(client)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "kjs_requests_total" in metrics.text
    assert "kjs_jobs_submitted_total" in metrics.text
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/jobs" in schema["paths"]


def test_a_delayed_job_is_dispatched_at_its_run_at_not_before(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    import datetime as dt

    agent.heartbeat()
    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    job = submit(client, run_at=run_at.isoformat())
    assert job["run_at"] is not None
    (dispatch,) = wait_until(agent.dispatches, timeout=10, what="the delayed dispatch")
    dispatched = client.get(f"/api/v1/jobs/{job['id']}").json()
    dispatched_at = dt.datetime.fromisoformat(dispatched["dispatched_at"])
    assert run_at <= dispatched_at <= run_at + dt.timedelta(seconds=1)
    assert dispatch.job_id == job["id"]


def test_a_run_at_in_the_past_means_now(client: TestClient[Any], agent: FakeAgent) -> None:
    agent.heartbeat()
    job = submit(client, run_at="2020-01-01T00:00:00Z")
    assert job["run_at"] is None
    wait_state(client, job["id"], "dispatched")


def test_bad_query_parameters_are_400s_naming_the_parameter(client: TestClient[Any]) -> None:
    cases = {
        "/api/v1/jobs?limit=abc": "limit",
        "/api/v1/jobs?limit=0": "limit",
        "/api/v1/jobs?created_after=notadate": "created_after",
        "/api/v1/jobs?label=nokey": "label[0]",
        "/api/v1/jobs?state=zzz": "state",
        "/api/v1/jobs/x/logs?attempt=x": "attempt",
    }
    for path, field in cases.items():
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.json()["errors"][0]["field"] == field, path


def test_odd_bodies_are_400s_never_500s(client: TestClient[Any]) -> None:
    job = submit(client)
    for method, path, body in [
        ("POST", "/api/v1/jobs", b""),
        ("POST", "/api/v1/jobs", b"\xff\xfe"),
        ("POST", "/api/v1/jobs", b'{"name":"a","namespace":"b","image":"x","parallelism":1e99}'),
        ("POST", "/api/v1/jobs", b'{"name":"a","namespace":"b","image":"x","security_context":[]}'),
        ("PATCH", f"/api/v1/jobs/{job['id']}", b"[1]"),
        ("PATCH", f"/api/v1/jobs/{job['id']}", b"{bad"),
        ("POST", "/api/v1/cronjobs", b'{"name":"a","namespace":"b","image":"x"}'),
    ]:
        response = client.request(method, path, content=body)
        assert response.status_code == 400, (method, path, body, response.text)
        assert response.json()["errors"], (method, path)


def cursor_of(at: str, job_id: str = "x") -> str:
    return base64.urlsafe_b64encode(f"{at}|{job_id}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/jobs?created_after=2026-01-01T00:00:00", "created_after"),
        ("/api/v1/jobs?created_before=2026-01-01T00:00:00", "created_before"),
        ("/api/v1/jobs?created_after=0001-01-01T00:00:00%2B14:00", "created_after"),
        (f"/api/v1/jobs?cursor={cursor_of('2026-01-01T00:00:00')}", "cursor"),
        (f"/api/v1/cronjobs?cursor={cursor_of('2026-01-01T00:00:00')}", "cursor"),
        (f"/api/v1/jobs?cursor={cursor_of('0001-01-01T00:00:00+14:00')}", "cursor"),
    ],
)
def test_times_without_a_utc_offset_are_400s_naming_the_parameter(
    client: TestClient[Any], path: str, field: str
) -> None:
    submit(client)
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_time_filters_with_an_offset_are_instants(client: TestClient[Any]) -> None:
    job = submit(client)
    created = dt.datetime.fromisoformat(job["created_at"])
    before = (created - dt.timedelta(seconds=1)).astimezone(dt.timezone(dt.timedelta(hours=2)))
    listed = client.get("/api/v1/jobs", params={"created_after": before.isoformat()})
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]
    listed = client.get("/api/v1/jobs", params={"created_before": before.isoformat()})
    assert listed.json()["items"] == []


def test_an_attempt_out_of_range_is_a_400_before_the_log_starts(client: TestClient[Any]) -> None:
    job = submit(client)
    for attempt in (10**20, 2**31, 0):
        response = client.get(f"/api/v1/jobs/{job['id']}/logs?attempt={attempt}")
        assert response.status_code == 400, (attempt, response.text)
        assert response.json()["errors"][0]["field"] == "attempt"
    assert client.get(f"/api/v1/jobs/{job['id']}/logs?attempt=7").status_code == 200
