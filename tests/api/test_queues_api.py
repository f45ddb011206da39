"""Queues over the API (issue 18): defined in the configuration (read-only) or with PUT, listed
by anyone who may read, and checked at every submit: an unknown queue, or one that does not take
the job's namespace, is a 400 naming `queue`; a queue the token may not use is a 403."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core.models import JobSpec
from kjs.scheduler.service import idempotency
from tests.api.conftest import FakeAgent, wait_state

Q = "/api/v1/queues"
JOB = {"name": "hello", "namespace": "ml", "image": "busybox"}
CRON = {**JOB, "schedule": "0 3 * * *"}
TOKENS = [
    {"name": "root", "sha256": hash_token("root"), "scopes": ["admin"]},
    {"name": "ns-admin", "sha256": hash_token("ns"), "scopes": ["admin"], "namespaces": ["ml"]},
    {"name": "reader", "sha256": hash_token("read"), "scopes": ["read"]},
    {
        "name": "gpu-only",
        "sha256": hash_token("gpu"),
        "scopes": ["submit"],
        "queues": ["gpu"],
    },
]
CONFIGURED = {
    "batch": {
        "weight": 2,
        "limits": {"max_running": 10, "max_cpu": 8, "per_cluster": {"max_memory": "16Gi"}},
        "namespaces": ["ml", "etl"],
        "priority_class": "low",
    }
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROOT = auth("root")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "auth": {"tokens": TOKENS},
        "scheduling": {"queues": CONFIGURED, "priority_classes": {"low": {"value": -10}}},
    }


def problem_fields(response: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def test_the_configuration_s_queues_and_default_are_listed_read_only(
    client: TestClient[Any],
) -> None:
    listed = client.get(Q, headers=auth("read"))
    assert listed.status_code == 200, listed.text
    queues = {q["name"]: q for q in listed.json()["items"]}
    assert list(queues) == ["batch", "default"]
    batch = queues["batch"]
    assert batch["source"] == "config" and batch["weight"] == 2
    assert batch["limits"]["max_cpu"] == "8"  # a TOML number, taken as the quantity it reads as
    assert batch["limits"]["per_cluster"]["max_memory"] == "16Gi"
    assert batch["namespaces"] == ["ml", "etl"] and batch["priority_class"] == "low"
    assert queues["default"]["limits"]["max_running"] is None
    assert client.get(f"{Q}/default", headers=auth("read")).json()["weight"] == 1
    for name in ("batch", "default"):
        replaced = client.put(f"{Q}/{name}", json={"weight": 3}, headers=ROOT)
        assert replaced.status_code == 409 and "[scheduling.queues" in replaced.text
        deleted = client.delete(f"{Q}/{name}", headers=ROOT)
        assert deleted.status_code == 409 and "configuration" in deleted.text


def test_a_queue_is_created_replaced_read_and_deleted(client: TestClient[Any]) -> None:
    body = {"weight": 0.5, "limits": {"max_running": 2, "max_cpu": "500m"}, "namespaces": ["ml"]}
    created = client.put(f"{Q}/gpu", json=body, headers=ROOT)
    assert created.status_code == 201, created.text
    gpu = created.json()
    assert gpu["name"] == "gpu" and gpu["source"] == "api" and gpu["weight"] == 0.5
    assert gpu["limits"]["max_cpu"] == "500m" and gpu["created_at"] is not None
    replaced = client.put(f"{Q}/gpu", json={"name": "gpu", "weight": 4}, headers=ROOT)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["weight"] == 4 and replaced.json()["namespaces"] == []
    assert replaced.json()["created_at"] == gpu["created_at"]
    assert client.get(f"{Q}/gpu", headers=auth("read")).json() == replaced.json()
    names = [q["name"] for q in client.get(Q, headers=auth("read")).json()["items"]]
    assert names == ["batch", "default", "gpu"]
    assert client.delete(f"{Q}/gpu", headers=ROOT).status_code == 204
    assert client.get(f"{Q}/gpu", headers=ROOT).status_code == 404
    assert client.delete(f"{Q}/gpu", headers=ROOT).status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("gpu", {"weight": 0}, "weight"),
        ("gpu", {"weight": "heavy"}, "weight"),
        ("gpu", {"limits": {"max_cpu": "8 cores"}}, "limits.max_cpu"),
        ("gpu", {"limits": {"max_memory": "-1Gi"}}, "limits.max_memory"),
        ("gpu", {"limits": {"max_running": -1}}, "limits.max_running"),
        ("gpu", {"limits": {"per_cluster": {"max_cpu": "lots"}}}, "limits.per_cluster.max_cpu"),
        ("gpu", {"limits": {"max_gpus": 1}}, "limits.max_gpus"),
        ("gpu", {"namespaces": ["Not_A_Namespace"]}, "namespaces[0]"),
        ("gpu", {"priority_class": "High Priority"}, "priority_class"),
        ("gpu", {"name": "cpu"}, "name"),
        ("GPU", {}, "name"),
        ("gpu", [], "$"),
    ],
)
def test_a_bad_definition_is_a_400_naming_its_field(
    client: TestClient[Any], name: str, body: Any, field: str
) -> None:
    response = client.put(f"{Q}/{name}", json=body, headers=ROOT)
    assert response.status_code == 400, response.text
    assert field in problem_fields(response), response.text
    assert client.get(f"{Q}/{name}", headers=ROOT).status_code == 404


def test_who_may_read_define_and_delete_queues(client: TestClient[Any]) -> None:
    assert client.get(Q).status_code == 401
    for token in ("read", "gpu"):
        assert client.put(f"{Q}/x", json={}, headers=auth(token)).status_code == 403
        assert client.delete(f"{Q}/batch", headers=auth(token)).status_code == 403
        assert client.get(Q, headers=auth(token)).status_code == 200  # every queue, to all
    # Admin, but limited to a namespace: a queue concerns every namespace's jobs.
    refused = client.put(f"{Q}/x", json={}, headers=auth("ns"))
    assert refused.status_code == 403 and "every namespace" in refused.text


def test_an_unknown_queue_or_one_that_does_not_take_the_namespace_is_a_400(
    client: TestClient[Any],
) -> None:
    unknown = client.post("/api/v1/jobs", json={**JOB, "queue": "nope"}, headers=ROOT)
    assert unknown.status_code == 400
    assert "unknown queue 'nope' (known: batch, default)" in problem_fields(unknown)["queue"]
    elsewhere = {**JOB, "namespace": "web", "queue": "batch"}
    refused = client.post("/api/v1/jobs", json=elsewhere, headers=ROOT)
    assert refused.status_code == 400
    assert "takes jobs of namespaces etl, ml only" in problem_fields(refused)["queue"]
    bad_name = client.post("/api/v1/jobs", json={**JOB, "queue": "Bad Queue"}, headers=ROOT)
    assert bad_name.status_code == 400 and "queue" in problem_fields(bad_name)
    batch = client.post(
        "/api/v1/jobs:batch",
        json={"items": [{"job": JOB}, {"job": {**JOB, "queue": "nope"}}]},
        headers=ROOT,
    )
    assert batch.status_code == 400 and list(problem_fields(batch)) == ["items[1].queue"]
    cron = client.post("/api/v1/cronjobs", json={**CRON, "queue": "nope"}, headers=ROOT)
    assert cron.status_code == 400 and "queue" in problem_fields(cron)
    job = client.post("/api/v1/jobs", json=JOB, headers=ROOT).json()
    assert job["queue"] == "default"
    moved = client.patch(f"/api/v1/jobs/{job['id']}", json={"queue": "nope"}, headers=ROOT)
    assert moved.status_code == 400 and "queue" in problem_fields(moved)
    into_batch = client.patch(f"/api/v1/jobs/{job['id']}", json={"queue": "batch"}, headers=ROOT)
    assert into_batch.status_code == 200 and into_batch.json()["queue"] == "batch"


def test_a_token_submits_only_to_its_queues(client: TestClient[Any]) -> None:
    client.put(f"{Q}/gpu", json={}, headers=ROOT)
    token = auth("gpu")
    me = client.get("/api/v1/whoami", headers=token).json()
    assert me["queues"] == ["gpu"]
    assert client.get("/api/v1/whoami", headers=ROOT).json()["queues"] == []
    job = client.post("/api/v1/jobs", json={**JOB, "queue": "gpu"}, headers=token)
    assert job.status_code == 201, job.text
    for refused in (
        client.post("/api/v1/jobs", json=JOB, headers=token),  # `default`, by default
        client.post(
            "/api/v1/jobs:batch",
            json={"items": [{"job": {**JOB, "queue": "gpu"}}, {"job": JOB}]},
            headers=token,
        ),
        client.patch(f"/api/v1/jobs/{job.json()['id']}", json={"queue": "batch"}, headers=token),
        client.post("/api/v1/cronjobs", json=CRON, headers=token),
    ):
        assert refused.status_code == 403, refused.text
        assert "may not use queue" in refused.json()["detail"], refused.text
    cron = client.post("/api/v1/cronjobs", json={**CRON, "queue": "gpu"}, headers=token)
    assert cron.status_code == 201 and cron.json()["queue"] == "gpu"


def test_a_token_acts_on_jobs_and_cron_jobs_only_in_its_queues(client: TestClient[Any]) -> None:
    """Rerun, trigger, resume and edit use the queue the job or cron job is in: a token limited
    to `gpu` cannot run anything in `batch` through them, nor edit a `batch` job into `gpu`."""
    client.put(f"{Q}/gpu", json={}, headers=ROOT)
    token = auth("gpu")
    job = client.post("/api/v1/jobs", json={**JOB, "queue": "batch"}, headers=ROOT).json()
    cron = client.post("/api/v1/cronjobs", json={**CRON, "queue": "batch"}, headers=ROOT).json()
    assert client.post(f"/api/v1/cronjobs/{cron['id']}/suspend", headers=ROOT).status_code == 200
    for refused in (
        client.post(f"/api/v1/jobs/{job['id']}/rerun", headers=token),
        client.patch(f"/api/v1/jobs/{job['id']}", json={"queue": "gpu"}, headers=token),
        client.patch(f"/api/v1/jobs/{job['id']}", json={"args": ["x"]}, headers=token),
        client.post(f"/api/v1/cronjobs/{cron['id']}/trigger", headers=token),
        client.post(f"/api/v1/cronjobs/{cron['id']}/resume", headers=token),
        client.patch(f"/api/v1/cronjobs/{cron['id']}", json={"queue": "gpu"}, headers=token),
    ):
        assert refused.status_code == 403, refused.text
        assert "may not use queue 'batch'" in refused.json()["detail"], refused.text
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=ROOT).json()["queue"] == "batch"
    assert client.get(f"/api/v1/cronjobs/{cron['id']}", headers=ROOT).json()["suspend"] is True
    runs = client.get(f"/api/v1/cronjobs/{cron['id']}/runs", headers=ROOT).json()["items"]
    assert runs == []
    # In its own queue the same token may.
    mine = client.post("/api/v1/cronjobs", json={**CRON, "queue": "gpu"}, headers=token).json()
    run = client.post(f"/api/v1/cronjobs/{mine['id']}/trigger", headers=token)
    assert run.status_code == 201 and run.json()["queue"] == "gpu"
    edited = client.patch(f"/api/v1/jobs/{run.json()['id']}", json={"args": ["y"]}, headers=token)
    assert edited.status_code == 200, edited.text


def test_a_queue_a_cron_job_names_is_not_deleted(client: TestClient[Any]) -> None:
    client.put(f"{Q}/etl", json={}, headers=ROOT)
    cron = client.post("/api/v1/cronjobs", json={**CRON, "queue": "etl"}, headers=ROOT).json()
    refused = client.delete(f"{Q}/etl", headers=ROOT)
    assert refused.status_code == 409, refused.text
    assert "0 unfinished job(s) and 1 cron job(s)" in refused.text
    assert client.delete(f"/api/v1/cronjobs/{cron['id']}", headers=ROOT).status_code < 300
    assert client.delete(f"{Q}/etl", headers=ROOT).status_code == 204


@pytest.mark.parametrize(
    ("resources", "field", "says"),
    [
        ({"requests": {"memory": "8Ei"}}, "resources.requests.memory", "at most 1Pi"),
        ({"limits": {"cpu": "1e60"}}, "resources.limits.cpu", "at most 1125899906842624m"),
        ({"requests": {"cpu": "1e400"}}, "resources.requests.cpu", "out of range"),
    ],
)
def test_an_amount_beyond_the_bound_is_a_400_naming_the_field(
    client: TestClient[Any], resources: dict[str, Any], field: str, says: str
) -> None:
    refused = client.post("/api/v1/jobs", json={**JOB, "resources": resources}, headers=ROOT)
    assert refused.status_code == 400, refused.text
    assert says in problem_fields(refused)[field]
    limit = client.put(f"{Q}/big", json={"limits": {"max_memory": "8Ei"}}, headers=ROOT)
    assert limit.status_code == 400 and "at most 1Pi" in problem_fields(limit)["limits.max_memory"]


def test_the_largest_jobs_still_list_their_queue_s_usage(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    client.headers.update(ROOT)  # the stand-in agent's reads, too
    agent.heartbeat(capacity=10)
    largest = {"requests": {"cpu": "1125899906842624m", "memory": "1Pi"}}
    for i in range(3):
        job = {**JOB, "name": f"big{i}", "queue": "batch", "parallelism": 2**31 - 1}
        created = client.post("/api/v1/jobs", json={**job, "resources": largest}, headers=ROOT)
        assert created.status_code == 201, created.text
    listed = client.get(Q, headers=ROOT)
    assert listed.status_code == 200, listed.text
    (batch,) = [q for q in listed.json()["items"] if q["name"] == "batch"]
    assert batch["usage"]["pending"] == 3, batch  # summed in SQL, past int64 unclamped
    # Placement still runs (the queue's usage is read on every pass: `batch` has limits).
    small = client.post("/api/v1/jobs", json={**JOB, "name": "small"}, headers=ROOT).json()
    wait_state(client, small["id"], "dispatched")


def test_a_queue_with_unfinished_jobs_is_deleted_once_they_are_final(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    client.headers.update(ROOT)  # the stand-in agent's reads, too
    agent.heartbeat(capacity=1)  # room for the first job only: the second stays pending
    client.put(f"{Q}/gpu", json={}, headers=ROOT)
    jobs = [
        client.post("/api/v1/jobs", json={**JOB, "name": f"j{i}", "queue": "gpu"}, headers=ROOT)
        for i in range(2)
    ]
    first, second = (j.json() for j in jobs)
    wait_state(client, first["id"], "dispatched")
    agent.status(first, "running")
    wait_state(client, first["id"], "running")
    refused = client.delete(f"{Q}/gpu", headers=ROOT)
    assert refused.status_code == 409 and "2 unfinished job(s)" in refused.text
    assert client.get(f"{Q}/gpu", headers=ROOT).status_code == 200
    cancelled = client.delete(f"/api/v1/jobs/{second['id']}", headers=ROOT)
    assert cancelled.json()["state"] == "cancelled"  # never left the server
    assert "1 unfinished job(s)" in client.delete(f"{Q}/gpu", headers=ROOT).text
    agent.status(first, "succeeded")
    wait_state(client, first["id"], "succeeded")
    assert client.delete(f"{Q}/gpu", headers=ROOT).status_code == 204


def test_a_cron_job_s_runs_are_in_its_queue(client: TestClient[Any]) -> None:
    cron = client.post(
        "/api/v1/cronjobs", json={**CRON, "mode": "managed", "queue": "batch"}, headers=ROOT
    ).json()
    run = client.post(f"/api/v1/cronjobs/{cron['id']}/trigger", headers=ROOT)
    assert run.status_code == 201 and run.json()["queue"] == "batch"


def test_an_idempotency_key_of_before_queues_still_replays() -> None:
    """The request digest of a job in `default` is the one it had before jobs had a queue."""
    spec = msgspec.convert(JOB, JobSpec)
    before = msgspec.json.encode(spec).replace(b',"queue":"default","priority_class":null', b"")
    assert idempotency("k", "p", spec).request == hashlib.sha256(before).hexdigest()
    elsewhere = msgspec.structs.replace(spec, queue="batch")
    assert idempotency("k", "p", elsewhere).request != idempotency("k", "p", spec).request
