"""Tokens: scopes, namespace allow-lists, open mode and its safe default."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import check_open_mode, hash_token
from kjs.core.config import load

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
