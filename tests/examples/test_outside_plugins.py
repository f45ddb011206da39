"""The example plugins of `examples/`, installed like any outside plugin (`.ci/run` pip-installs
them): found through their entry points, configured from their own sections."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from kjs.agent.run import running_agent
from kjs.cli import main
from kjs.core import messages
from kjs.core.config import load
from kjs.server import create_app
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, occupy, wait_state

INSTALL = "pip install -e examples/kjs-filelogs -e examples/kjs-placement-hints"


@pytest.fixture(autouse=True)
def hints_left_as_found(tmp_path: Path) -> Iterator[None]:
    """The installed plugin is one object per process: what a test configures ends with it."""
    yield
    from kjs_placement_hints import plugin

    plugin.configure(load(environ={}, overrides={"data_dir": str(tmp_path)}))


def test_kjs_plugins_lists_them_from_their_distributions() -> None:
    for distribution in ("kjs-filelogs", "kjs-placement-hints"):
        try:
            importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{distribution} is not installed: {INSTALL}")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in result.output.splitlines()}
    assert rows["filelogs"] == ["kjs-filelogs", "log_sink:files"]
    assert rows["placement_hints"] == ["kjs-placement-hints", "(hooks only)"]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    """A server on SQLite and the memory queue with these overrides, and two fake agents: c1
    empty, c2 nearly full, so the balancer sends every job to c1."""
    clients: list[TestClient[Any]] = []

    def make(**overrides: Any) -> tuple[TestClient[Any], FakeAgent, FakeAgent]:
        settings = load(environ={}, overrides={"data_dir": str(tmp_path), **overrides})
        client = TestClient(create_app(settings)).__enter__()
        clients.append(client)
        c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
        c1.heartbeat(capacity=10)
        c2.heartbeat(capacity=10)
        occupy(client, "c2", 8)
        return client, c1, c2

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def submit(client: TestClient[Any], namespace: str) -> dict[str, Any]:
    body = {"name": "hinted", "namespace": namespace, "image": "busybox"}
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def dispatch_of(agent: FakeAgent, job_id: str) -> messages.Dispatch:
    """The job's dispatch as the agent received it (the relay publishes it after the state is
    stored: it may still be on its way)."""
    found = wait_until(
        lambda: [d for d in agent.dispatches() if d.job_id == job_id],
        timeout=10,
        what=f"{agent.cluster_id} to receive job {job_id}",
    )
    (dispatch,) = found
    return dispatch


def pod_spec(agent: FakeAgent, job_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = dispatch_of(agent, job_id).manifest["spec"]["template"]["spec"]
    return spec


def test_placement_hints_do_nothing_without_their_section(make_client: Any) -> None:
    client, c1, _c2 = make_client()
    job = submit(client, "batch")
    assert wait_state(client, job["id"], "dispatched")["cluster_id"] == "c1"  # the balancer's
    assert "priorityClassName" not in pod_spec(c1, job["id"])


def test_placement_hints_route_and_mark_pods_once_enabled(make_client: Any) -> None:
    client, c1, c2 = make_client(
        placement_hints={
            "enabled": True,
            "prefer": {"batch": "c2"},
            "priority_class": "batch-low",
            "labels": {"team": "data"},
        }
    )
    routed, other = submit(client, "batch"), submit(client, "web")
    assert wait_state(client, routed["id"], "dispatched")["cluster_id"] == "c2"
    assert wait_state(client, other["id"], "dispatched")["cluster_id"] == "c1"
    assert pod_spec(c2, routed["id"])["priorityClassName"] == "batch-low"
    assert pod_spec(c1, other["id"])["priorityClassName"] == "batch-low"
    template = dispatch_of(c2, routed["id"]).manifest["spec"]["template"]
    assert template["metadata"]["labels"]["team"] == "data"


@pytest.mark.k8s
async def test_an_agent_started_on_its_own_configures_the_plugins_it_builds(
    k8s_clusters: list[Cluster], tmp_path: Path
) -> None:
    from kjs_placement_hints import plugin  # the object its entry point registers

    assert not plugin.settings.enabled
    cluster = k8s_clusters[0]
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path),
            "election": "single",
            "placement_hints": {"enabled": True, "priority_class": "agent-side"},
        },
    )
    async with running_agent(settings, cluster.id, kubeconfig=cluster.kubeconfig):
        assert plugin.settings.enabled and plugin.settings.priority_class == "agent-side"
