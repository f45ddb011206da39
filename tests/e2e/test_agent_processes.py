"""Agents as real processes (server and agents talk through the real NSQ): killed, restarted,
replaced by their standby — no job is lost, no final state or log is stored twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes.client.exceptions import ApiException

from kjs.testing.procs import free_port
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.processes import KjsProcess, Server, nsq_environment

pytestmark = [pytest.mark.k8s, pytest.mark.nsq]


@pytest.fixture
def env(nsq_env: dict[str, list[dict[str, str]]], k8s_namespace: str) -> dict[str, str]:
    return {
        **nsq_environment(nsq_env),
        "KJS_AGENT__LEASE_NAMESPACE": k8s_namespace,
        "KJS_AGENT__LEASE_S": "4",
        "KJS_AGENT__HEARTBEAT_S": "1",
        "KJS_AGENT__RESYNC_S": "5",
        "KJS_DISPATCH__ACK_TIMEOUT_S": "5",
    }


@pytest.fixture
def server(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    s = Server(tmp_path / "server", env)
    s.start()
    yield s
    s.stop()


class Agents:
    """Agent processes for one test cluster, sharing a Lease."""

    def __init__(
        self, cluster: Cluster, namespace: str, env: dict[str, str], tmp_path: Path, server: Server
    ) -> None:
        self.cluster, self.namespace, self.env, self.tmp_path = cluster, namespace, env, tmp_path
        self.server = server
        self.started: list[KjsProcess] = []

    def start(self) -> KjsProcess:
        n = len(self.started)
        agent = KjsProcess(
            [
                "agent",
                "--cluster-id",
                self.cluster.id,
                "--kubeconfig",
                self.cluster.kubeconfig,
                "--data-dir",
                str(self.tmp_path / f"agent{n}"),
                "--metrics-port",
                str(port := free_port()),
            ],
            self.env,
            self.tmp_path / f"agent{n}.log",
            ready=lambda p: True,
        )
        agent.metrics_url = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
        self.started.append(agent.start())
        return agent

    def holder(self) -> str | None:
        try:
            lease = self.cluster.coordination.read_namespaced_lease(
                f"kjs-agent-{self.cluster.id}", self.namespace
            )
        except ApiException as e:
            if e.status == 404:  # not created yet
                return None
            raise
        return str(lease.spec.holder_identity) if lease.spec.holder_identity else None

    def leader(self, other_than: KjsProcess | None = None) -> KjsProcess:
        def find() -> KjsProcess | None:
            holder = self.holder() or ""
            return next(
                (
                    a
                    for a in self.started
                    if a.proc
                    and a.proc.poll() is None
                    and f"-{a.pid}-" in holder
                    and a is not other_than
                ),
                None,
            )

        found: KjsProcess = wait_until(find, timeout=20, what="an agent to hold the Lease")
        return found


@pytest.fixture
def agents(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    env: dict[str, str],
    tmp_path: Path,
    server: Server,
) -> Iterator[Agents]:
    a = Agents(k8s_clusters[0], k8s_namespace, env, tmp_path, server)
    yield a
    for agent in a.started:
        agent.stop()


def submit(server: Server, namespace: str, name: str, script: str, **fields: Any) -> str:
    response = server.api(
        "POST",
        "/jobs",
        json={
            "name": name,
            "namespace": namespace,
            "image": "busybox",
            "command": ["sh", "-c", script],
            **fields,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def state(server: Server, job_id: str) -> str:
    return str(server.api("GET", f"/jobs/{job_id}").json()["state"])


def test_sigkill_the_agent_under_20_running_jobs_and_start_it_again(
    server: Server,
    agents: Agents,
    k8s_namespace: str,
) -> None:
    agents.start()
    wait_until(
        lambda: server.api("GET", f"/clusters/{agents.cluster.id}").status_code == 200,
        timeout=20,
        what="the agent's heartbeat",
    )
    ids = [
        submit(server, k8s_namespace, f"job-{i}", f"sleep 4; echo done-{i}", log_collect="always")
        for i in range(20)
    ]
    wait_until(
        lambda: sum(state(server, j) == "running" for j in ids) >= 10,
        timeout=60,
        what="most jobs running",
    )
    assert agents.started[0].kill() == -signal.SIGKILL
    time.sleep(6)  # the jobs finish while no agent watches (nothing to wait on: it is down)
    agents.start()
    wait_until(
        lambda: all(state(server, j) == "succeeded" for j in ids),
        timeout=120,
        interval=1.0,
        what="every job's true final state",
    )
    for i, job_id in enumerate(ids):
        events = server.api("GET", f"/jobs/{job_id}/events").json()["items"]
        assert [e["state"] for e in events].count("succeeded") == 1
        logs = server.api("GET", f"/jobs/{job_id}/logs").text
        assert logs.endswith(f"/job-{i} <==\ndone-{i}\n"), logs  # stored once, not twice


def test_the_standby_takes_over_a_killed_leader_and_at_once_a_stopped_one(
    server: Server,
    agents: Agents,
    k8s_namespace: str,
) -> None:
    agents.start()
    first = agents.leader()
    leading = f'kjs_agent_leader{{cluster="{agents.cluster.id}"}} 1.0'
    wait_until(
        lambda: leading in httpx.get(first.metrics_url).text,  # type: ignore[attr-defined]
        timeout=10,
        what="the leader's metrics to say so",
    )
    agents.start()
    job_id = submit(server, k8s_namespace, "long", "sleep 8; echo survived")
    wait_until(lambda: state(server, job_id) == "running", timeout=60, what="the job to run")
    first.kill()  # SIGKILL: the Lease is not released; the standby waits for it to expire
    second = agents.leader(other_than=first)
    assert second is not first
    wait_until(
        lambda: state(server, job_id) == "succeeded",
        timeout=60,
        what="the job to finish under the new leader",
    )
    agents.start()  # a new standby
    assert agents.leader() is second
    assert second.proc is not None
    stopped_at = time.monotonic()
    second.proc.send_signal(signal.SIGTERM)  # it releases the Lease on its way out
    third = agents.leader(other_than=second)
    took = time.monotonic() - stopped_at  # SIGTERM to the standby holding the Lease
    assert third is not second
    # Released, not left to expire: left alone, the Lease (4 s, renewed every 0.5 s) would
    # have kept the standby out for at least 3.5 s.
    assert took < 3.0, f"took {took:.2f} s"
    assert second.proc.wait(30) == 0
    job_id = submit(server, k8s_namespace, "after", "echo ok")
    wait_until(
        lambda: state(server, job_id) == "succeeded",
        timeout=60,
        what="a job under the third leader",
    )
