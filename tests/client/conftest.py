"""Servers for the SDK's tests: a `kjs server` on a real socket (SQLite, the in-memory queue,
no agent: jobs stay pending), one open and one with API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from kjs.client import Client, Job
from kjs.core import messages
from kjs.core.config import load
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.live import LiveServer, live_server

NAMESPACE = "sdk"
TOKENS = {"reader": "r-secret", "ops-team": "s-secret", "root": "a-secret"}


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One open server for the whole run: each test tells its jobs apart by a label."""
    data_dir = tmp_path_factory.mktemp("sdk-server")
    classes = {"high": {"value": 1000}, "low": {"value": -10, "preemptible": True}}
    overrides = {"data_dir": str(data_dir), "scheduling": {"priority_classes": classes}}
    with live_server(create_app(load(environ={}, overrides=overrides))) as live:
        yield live


@pytest.fixture(scope="package")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with tokens: a reader, a submitter limited to namespace `sdk`, an admin."""
    tokens = [
        {"name": "reader", "sha256": sha256(TOKENS["reader"]), "scopes": ["read"]},
        {
            "name": "ops-team",
            "sha256": sha256(TOKENS["ops-team"]),
            "scopes": ["submit"],
            "namespaces": [NAMESPACE],
        },
        {"name": "root", "sha256": sha256(TOKENS["root"]), "scopes": ["admin"]},
    ]
    data_dir = tmp_path_factory.mktemp("sdk-auth-server")
    settings = load(environ={}, overrides={"data_dir": str(data_dir), "auth": {"tokens": tokens}})
    with live_server(create_app(settings)) as live:
        yield live


@pytest.fixture
def kjs(server: LiveServer) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


@pytest.fixture
def tag() -> str:
    """A label value of this test's own: `labels={"test": tag}` selects only its jobs."""
    return secrets.token_hex(4)


def job(name: str = "hello", tag: str | None = None, **fields: Any) -> dict[str, Any]:
    """A job as `POST /jobs` takes it, labelled with the test's tag."""
    labels = {"test": tag} if tag else {}
    return {"name": name, "namespace": NAMESPACE, "image": "busybox", "labels": labels, **fields}


def as_submitted(read: Job, submitted: Job) -> Job:
    """A job as read, less what came after its submit's answer: what placement says of it
    (`reason`, `message`) and its place in its queue (counted when read, not at submit)."""
    return msgspec.structs.replace(
        read, queue_position=None, reason=submitted.reason, message=submitted.message
    )


def heartbeat(server: LiveServer, cluster_id: str) -> None:
    """A cluster's agent says it is alive (through the server's own queue); returns once the
    server has recorded it. Its capacity is 0, so it takes no work: the server's jobs stay
    pending, whatever the order of the tests."""
    at = dt.datetime.now(dt.UTC)
    beat = messages.Heartbeat(cluster_id=cluster_id, at=at, capacity=0, version="v1.36.3")
    queue = server.app.state.components.queue
    server.call(queue.publish(messages.HEARTBEAT_TOPIC, messages.encode(beat)))

    def recorded() -> bool:
        answer = server.get(f"/api/v1/clusters/{cluster_id}")
        seen = answer.json().get("last_heartbeat") if answer.status_code == 200 else None
        return seen is not None and dt.datetime.fromisoformat(seen) >= at

    wait_until(recorded, timeout=10, what=f"the heartbeat of {cluster_id}")
