"""Tokens: scopes, namespace allow-lists, open mode and its safe default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import check_open_mode, hash_token
from kjs.core.config import load
from kjs.server import create_app

JOB = {"name": "hello", "namespace": "ops", "image": "busybox"}
TOKENS = [
    {"name": "reader", "sha256": hash_token("r-secret"), "scopes": ["read"]},
    {
        "name": "ops-team",
        "sha256": hash_token("s-secret"),
        "scopes": ["submit"],
        "namespaces": ["ops"],
    },
    {"name": "root", "sha256": hash_token("a-secret"), "scopes": ["admin"]},
]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"auth": {"tokens": TOKENS}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_or_a_wrong_token_is_401(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    wrong = client.get("/api/v1/jobs", headers=bearer("guess"))
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid token"
    assert wrong.headers["www-authenticate"] == "Bearer"


def test_scopes_and_namespaces(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/jobs", headers=bearer("r-secret")).status_code == 200
    refused = client.post("/api/v1/jobs", json=JOB, headers=bearer("r-secret"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "token 'reader' lacks the 'submit' scope"
    created = client.post("/api/v1/jobs", json=JOB, headers=bearer("s-secret"))
    assert created.status_code == 201
    elsewhere = client.post(
        "/api/v1/jobs", json={**JOB, "namespace": "prod"}, headers=bearer("s-secret")
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["detail"] == "token 'ops-team' may not use namespace 'prod'"
    # admin implies submit and read; cordoning needs admin
    assert (
        client.post(
            "/api/v1/jobs", json={**JOB, "namespace": "prod"}, headers=bearer("a-secret")
        ).status_code
        == 201
    )
    assert client.post("/api/v1/clusters/c1/cordon", headers=bearer("s-secret")).status_code == 403
    # a namespace-bound token lists only its namespaces
    listed = client.get("/api/v1/jobs", headers=bearer("s-secret")).json()["items"]
    assert {j["namespace"] for j in listed} == {"ops"}
    assert len(client.get("/api/v1/jobs", headers=bearer("a-secret")).json()["items"]) == 2


def test_health_metrics_and_schema_stay_open(client: TestClient[Any]) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_open_mode_is_refused_off_loopback_unless_insecure() -> None:
    check_open_mode(load(environ={}, overrides={"host": "127.0.0.1"}))
    with pytest.raises(SystemExit, match=r"refusing to listen on 0\.0\.0\.0 without API tokens"):
        check_open_mode(load(environ={}, overrides={"host": "0.0.0.0"}))
    check_open_mode(load(environ={}, overrides={"host": "0.0.0.0", "insecure": True}))
    check_open_mode(load(environ={}, overrides={"host": "0.0.0.0", "auth": {"tokens": TOKENS}}))


SCOPED_TOKENS = [
    {"name": "team-a", "sha256": hash_token("a"), "scopes": ["submit"], "namespaces": ["team-a"]},
    {"name": "team-b", "sha256": hash_token("b"), "scopes": ["submit"], "namespaces": ["team-b"]},
    {"name": "root", "sha256": hash_token("root"), "scopes": ["admin"]},
    {"name": "ns-admin", "sha256": hash_token("n"), "scopes": ["admin"], "namespaces": ["x"]},
]


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(
        environ={}, overrides={"data_dir": str(tmp_path), "auth": {"tokens": SCOPED_TOKENS}}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_idempotency_keys_are_scoped_per_principal_and_namespace(
    scoped: TestClient[Any],
) -> None:
    def submit(token: str, namespace: str, **fields: Any) -> Any:
        job = {"name": "nightly", "namespace": namespace, "image": "busybox", **fields}
        return scoped.post(
            "/api/v1/jobs", json=job, headers={**bearer(token), "Idempotency-Key": "same-key"}
        )

    theirs = submit("b", "team-b", env={"DB_PASSWORD": "hunter2"})
    assert theirs.status_code == 201
    # Another team's replay of that key is its own job: it never sees team-b's.
    mine = submit("a", "team-a")
    assert mine.status_code == 201, mine.text
    assert mine.json()["id"] != theirs.json()["id"] and "hunter2" not in mine.text
    refused = submit("a", "team-b", env={"DB_PASSWORD": "hunter2"})
    assert refused.status_code == 403 and "hunter2" not in refused.text
    # The same principal, another namespace; another principal, the same namespace: new jobs.
    root_a, root_b = submit("root", "team-a"), submit("root", "team-b")
    assert (root_a.status_code, root_b.status_code) == (201, 201)
    ids = {r.json()["id"] for r in (theirs, mine, root_a, root_b)}
    assert len(ids) == 4
    # Each one's replay is its own first job.
    again = submit("b", "team-b", env={"DB_PASSWORD": "hunter2"})
    assert (again.status_code, again.json()["id"]) == (200, theirs.json()["id"])
    assert submit("root", "team-a").json()["id"] == root_a.json()["id"]


def test_cluster_wide_changes_need_a_token_not_limited_to_namespaces(
    scoped: TestClient[Any],
) -> None:
    refused = scoped.post("/api/v1/clusters/c1/cordon", headers=bearer("n"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "token 'ns-admin' is limited to namespaces and may not act on every namespace"
    )
    assert scoped.get("/api/v1/clusters", headers=bearer("n")).status_code == 200
    assert scoped.post("/api/v1/clusters/c1/cordon", headers=bearer("root")).status_code == 404
