"""Bodies no JSON text may hold are the client's mistake: a 400 naming the body and the reason,
never a 500 (CONTRACT §6), whichever route read them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Request, post
from litestar.testing import TestClient

from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.server import create_app
from tests.compat_plugin import needs_compat

DEPTH = 50_000
JOB = b'{"name": "deep", "namespace": "ops", "image": "busybox"'
CRON = JOB + b', "schedule": "*/5 * * * *"'
DEEP_ARRAYS = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECTS = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
NESTS = "invalid JSON: the body nests arrays or objects more than 256 levels deep"
NOT_UTF8 = "invalid JSON: the body is not UTF-8 (byte 0xff at 10)"


def bodies(head: bytes) -> dict[str, tuple[bytes, str | None]]:
    """Hostile bodies for a route taking the object `head…}`, each with the message expected
    (None: the decoder stops at the first level, with a 400 naming what it found there, e.g.
    `$: Expected object, got array`)."""
    return {
        "arrays 50,000 deep": (DEEP_ARRAYS, None),
        "objects 50,000 deep": (DEEP_OBJECTS, None),
        "a field 50,000 deep": (head + b', "security_context": ' + DEEP_OBJECTS + b"}", NESTS),
        "arrays 50,000 deep in a field": (
            head + b', "security_context": {"a": ' + DEEP_ARRAYS + b"}}",
            NESTS,
        ),
        "invalid UTF-8": (
            b'{"name": "\xff\xfe", "namespace": "ops", "image": "busybox"}',
            NOT_UTF8,
        ),
    }


def assert_refused(response: Any, message: str | None) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    (error,) = problem["errors"]
    if message is not None:
        assert error == {"field": "$", "message": message}
        assert problem["detail"] == f"$: {message}"


@pytest.mark.parametrize(("body", "message"), bodies(JOB).values(), ids=bodies(JOB).keys())
def test_submitting_a_job(client: TestClient[Any], body: bytes, message: str | None) -> None:
    assert_refused(client.post("/api/v1/jobs", content=body), message)
    assert_refused(client.post("/api/v1/jobs?dry_run=true", content=body), message)


@pytest.mark.parametrize(("body", "message"), bodies(CRON).values(), ids=bodies(CRON).keys())
def test_creating_a_cron_job(client: TestClient[Any], body: bytes, message: str | None) -> None:
    assert_refused(client.post("/api/v1/cronjobs", content=body), message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"labels": ' + DEEP_OBJECTS + b"}", NESTS),
        (DEEP_ARRAYS, NESTS),
        (b'{"labels": {"\xff": "x"}}', "invalid JSON: the body is not UTF-8 (byte 0xff at 13)"),
    ],
    ids=["objects", "arrays", "invalid UTF-8"],
)
def test_editing_a_job(client: TestClient[Any], body: bytes, message: str) -> None:
    job = client.post("/api/v1/jobs", json={"name": "j", "namespace": "ops", "image": "busybox"})
    assert_refused(client.patch(f"/api/v1/jobs/{job.json()['id']}", content=body), message)


def test_submitting_a_batch_with_bytes_that_are_not_utf8_in_a_job(client: TestClient[Any]) -> None:
    # The items are read apart (each job as raw JSON): the body is checked whole, first.
    body = b'{"items": [{"job": {"name": "\xff", "namespace": "ops", "image": "busybox"}}]}'
    message = "invalid JSON: the body is not UTF-8 (byte 0xff at 29)"
    assert_refused(client.post("/api/v1/jobs:batch", content=body), message)


def test_an_unknown_map_value_beside_bytes_that_are_not_utf8(client: TestClient[Any]) -> None:
    # msgspec 0.23 finds the bad value first, 0.22 the bytes: a 400 either way, never a 500.
    body = b'{"name": "j", "namespace": "ops", "image": "busybox", "env": {"A": 5, "B": "\xff"}}'
    response = client.post("/api/v1/jobs", content=body)
    assert response.status_code == 400, response.text


def test_editing_a_cron_job_with_bytes_that_are_not_utf8(client: TestClient[Any]) -> None:
    cron = client.post("/api/v1/cronjobs", content=CRON + b"}")
    assert cron.status_code == 201, cron.text
    body = b'{"labels": {"\xff": "x"}}'
    message = "invalid JSON: the body is not UTF-8 (byte 0xff at 13)"
    assert_refused(client.patch(f"/api/v1/cronjobs/{cron.json()['id']}", content=body), message)


@pytest.mark.parametrize(
    "body",
    [DEEP_ARRAYS, DEEP_OBJECTS, b'{"job_name": "deep", "metadata": ' + DEEP_OBJECTS + b"}"],
    ids=["arrays", "objects", "a field"],
)
@needs_compat
def test_a_compat_route(client: TestClient[Any], body: bytes) -> None:
    assert_refused(client.post("/api/once_job/create", content=body), NESTS)


@needs_compat
def test_a_compat_route_answers_invalid_utf8_in_its_own_terms(client: TestClient[Any]) -> None:
    """The original's clients read `code` 103 (BodyDecodeError) for a body that is not JSON."""
    response = client.post("/api/once_job/create", content=b'{"job_name": "\xff"}')
    assert response.status_code == 200
    assert response.json()["code"] == 103
    assert "can't decode byte 0xff" in response.json()["cause"]


class Broken:
    """Routes whose own faults look like an unreadable body's: still ours, a 500."""

    @hookimpl
    def register_routes(self) -> list[Any]:
        @post("/broken/decode", status_code=200)
        async def decode(request: Request[Any, Any, Any]) -> str:
            await request.body()
            return b"stored \xff".decode()

        def down(n: int) -> int:
            return down(n + 1)

        @post("/broken/recurse", status_code=200)
        async def recurse(request: Request[Any, Any, Any]) -> int:
            await request.body()
            return down(0)

        return [decode, recurse]


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[Broken()]))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/broken/decode", "/broken/recurse"])
def test_the_same_errors_on_a_good_body_are_the_servers(broken: TestClient[Any], path: str) -> None:
    response = broken.post(path, json={"fine": [1, 2, 3]})
    assert response.status_code == 500
    assert response.json()["detail"] == "unexpected server error; it has been logged"
