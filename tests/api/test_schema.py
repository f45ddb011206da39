"""The OpenAPI schema is a contract: typed bodies and answers, problem details on every error
status, the bearer scheme on every route that needs a token (test_schema_fuzz.py holds the
server to it)."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.api.errors import PROBLEM
from kjs.core import models
from kjs.plugins.compat.envelope import INVALID_PARAMETER
from tests.compat_plugin import COMPAT, needs_compat

METHODS = ("get", "post", "put", "patch", "delete")
BODIES = {
    ("post", "/api/v1/jobs"): "JobSpec",
    ("post", "/api/v1/jobs:batch"): "JobBatchRequest",
    ("patch", "/api/v1/jobs/{job_id}"): "JobSpecChanges",
    ("post", "/api/v1/cronjobs"): "CronSpec",
    ("patch", "/api/v1/cronjobs/{cron_id}"): "CronSpecChanges",
    ("put", "/api/v1/queues/{name}"): "QueueDefinition",
}
OPEN = {"/healthz", "/readyz"}


@pytest.fixture
def schema(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in schema["paths"].items()
        for method in METHODS
        if method in item
    ]


def resolve(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def test_the_bearer_scheme_is_declared(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }


def test_every_route_but_health_needs_the_bearer_token_and_says_401_and_403(
    schema: dict[str, Any],
) -> None:
    ops = operations(schema)
    assert len(ops) >= (40 if COMPAT else 25)  # /api/v1, health and the compatibility routes
    for method, path, op in ops:
        if path in OPEN:
            assert "security" not in op, (method, path)
            assert not {"401", "403"} & set(op["responses"]), (method, path)
        else:
            assert op.get("security") == [{"bearer": []}], (method, path)
            assert {"401", "403", "503"} <= set(op["responses"]), (method, path)


def test_the_metrics_and_schema_routes_are_not_operations(schema: dict[str, Any]) -> None:
    assert not [p for p in schema["paths"] if p.startswith(("/metrics", "/schema"))]


def test_request_bodies_are_typed(schema: dict[str, Any]) -> None:
    with_body = {
        (method, path): op["requestBody"]
        for method, path, op in operations(schema)
        if "requestBody" in op
    }
    for (method, path), component in BODIES.items():
        assert with_body[method, path]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{component}"
        }
    for (method, path), body in with_body.items():
        ref = body["content"]["application/json"]["schema"]["$ref"]
        if path.startswith("/api/v1"):
            assert (method, path) in BODIES, (method, path)
        else:  # the compatibility routes' POST forms
            assert ref == "#/components/schemas/CompatRequest", (method, path)


def test_the_edit_bodies_take_any_field_of_the_spec_and_none_is_required(
    schema: dict[str, Any],
) -> None:
    for spec, changes in (("JobSpec", "JobSpecChanges"), ("CronSpec", "CronSpecChanges")):
        components = schema["components"]["schemas"]
        assert set(components[changes]["properties"]) == set(components[spec]["properties"])
        assert not components[changes].get("required")
        assert set(components[spec]["required"]) >= {"name", "namespace", "image"}


def test_every_error_is_a_problem(schema: dict[str, Any]) -> None:
    problem = resolve(schema, "#/components/schemas/Problem")
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    assert problem["required"] == ["detail", "status", "title", "type"]
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)


def test_answers_are_typed(schema: dict[str, Any]) -> None:
    def success(method: str, path: str, status: str = "200") -> Any:
        op = schema["paths"][path][method]
        return op["responses"][status]["content"]["application/json"]["schema"]

    assert success("post", "/api/v1/jobs", "201") == {"$ref": "#/components/schemas/Job"}
    assert success("get", "/api/v1/jobs") == {"$ref": "#/components/schemas/JobPage"}
    assert success("post", "/api/v1/jobs:batch", "201") == {"$ref": "#/components/schemas/JobBatch"}
    assert success("delete", "/api/v1/jobs/{job_id}", "202") == {"$ref": "#/components/schemas/Job"}
    assert success("get", "/api/v1/cronjobs/{cron_id}") == {"$ref": "#/components/schemas/Cron"}
    assert success("get", "/api/v1/clusters") == {"$ref": "#/components/schemas/ClusterList"}
    assert success("get", "/readyz") == {"$ref": "#/components/schemas/Ready"}
    logs = schema["paths"]["/api/v1/jobs/{job_id}/logs"]["get"]["responses"]["200"]
    assert logs["content"] == {"text/plain": {"schema": {"type": "string"}}}
    for method, path, op in operations(schema):
        if not path.startswith("/api/v1") and path not in OPEN:
            assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/CompatEnvelope"
            }, (method, path)


def _descriptions(kind: type[msgspec.Struct]) -> dict[str, str]:
    found = {}
    for name, hint in typing.get_type_hints(kind, include_extras=True).items():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, msgspec.Meta) and meta.description:
                found[name] = meta.description
    return found


@pytest.mark.parametrize("kind", [models.JobSpec, models.CronSpec, models.Job, models.Cron])
def test_the_models_field_descriptions_are_in_the_schema(
    schema: dict[str, Any], kind: type[msgspec.Struct]
) -> None:
    described = _descriptions(kind)
    assert described["name"] == "DNS-1123 label, at most 63 characters."
    properties = schema["components"]["schemas"][kind.__name__]["properties"]
    assert {name: properties[name].get("description") for name in described} == described


def test_the_batch_body_is_documented_with_its_limits(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    items = components["JobBatchRequest"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    assert items["items"] == {"$ref": "#/components/schemas/JobBatchItem"}
    item = components["JobBatchItem"]
    assert item["properties"]["job"]["allOf"] == [{"$ref": "#/components/schemas/JobSpec"}]
    assert item["required"] == ["job"]
    responses = schema["paths"]["/api/v1/jobs:batch"]["post"]["responses"]
    assert set(responses) >= {"201", "400", "401", "403", "408", "409", "413", "503"}
    assert "16 MiB" in responses["413"]["description"]
    assert "1 MiB" in schema["paths"]["/api/v1/jobs"]["post"]["responses"]["413"]["description"]


def test_the_problem_a_client_gets_is_the_documented_one(client: TestClient[Any]) -> None:
    bad = client.post(
        "/api/v1/jobs", json={"name": "Hello!", "namespace": "default", "image": "busybox"}
    )
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    body = bad.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["errors"][0]["field"] == "name"
    missing = client.get("/api/v1/jobs/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert set(missing.json()) == {"type", "title", "status", "detail"}  # no `errors`


@needs_compat
def test_a_compatibility_failure_is_the_documented_envelope(client: TestClient[Any]) -> None:
    answer = client.post("/api/once_job/describe", json={"job_id": "nope"})
    assert answer.status_code == 200
    assert answer.json() == {
        "code": INVALID_PARAMETER,
        "cause": "sql: no rows in result set",
        "error_msg": "",
        "data": None,
    }
