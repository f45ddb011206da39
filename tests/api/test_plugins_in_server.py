"""A third-party plugin, defined inline, steering placement and editing manifests in a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.testing import TestClient

from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent

seen_changes: list[tuple[str, str]] = []


class GpuPlugin:
    @hookimpl
    def select_cluster(self, job: Any, clusters: list[Any]) -> str | None:
        if job.spec.namespace != "gpu":
            return None
        return next((c.id for c in clusters if c.labels.get("gpu") == "yes"), None)

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        manifest["spec"]["template"]["spec"]["priorityClassName"] = "batch-high"
        manifest["metadata"]["labels"]["kjs.io/job-id"] = "tampered"  # restored by kjs

    @hookimpl
    def on_job_state_changed(self, job: Any, old_state: str, new_state: str) -> None:
        seen_changes.append((old_state, new_state))

    @hookimpl
    def register_routes(self) -> list[Any]:  # without `services`: written before it existed
        @get("/hello-plugin", sync_to_thread=False)
        def hello() -> dict[str, str]:
            return {"hello": "from a plugin"}

        return [hello]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[GpuPlugin()]))
    with TestClient(app) as test_client:
        yield test_client


def test_the_plugin_places_edits_listens_and_serves(client: TestClient[Any]) -> None:
    plain, gpu = FakeAgent(client, "plain"), FakeAgent(client, "gpu-1")
    plain.heartbeat(capacity=100)  # the least loaded: the balancer's pick
    gpu.heartbeat(capacity=10, running=5, labels={"gpu": "yes"})
    job = client.post(
        "/api/v1/jobs", json={"name": "train", "namespace": "gpu", "image": "trainer"}
    ).json()
    (dispatch,) = wait_until(gpu.dispatches, timeout=5, what="dispatch to the GPU cluster")
    assert plain.dispatches() == []
    spec = dispatch.manifest["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "batch-high"
    assert dispatch.manifest["metadata"]["labels"]["kjs.io/job-id"] == job["id"]
    assert ("pending", "dispatched") in seen_changes
    assert client.get("/hello-plugin").json() == {"hello": "from a plugin"}


def test_a_plugin_route_without_a_guard_still_passes_the_door(tmp_path: Path) -> None:
    from kjs.api.auth import hash_token

    tokens = [
        {"name": "reader", "sha256": hash_token("r"), "scopes": ["read"]},
    ]
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "auth": {"tokens": tokens}})
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[GpuPlugin()]))
    with TestClient(app) as client:
        assert client.get("/hello-plugin").status_code == 401
        wrong = client.get("/hello-plugin", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = client.get("/hello-plugin", headers={"Authorization": "Bearer r"})
        assert (ok.status_code, ok.json()) == (200, {"hello": "from a plugin"})
