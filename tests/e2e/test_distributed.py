"""The production shape in miniature: two server replicas on MariaDB, NSQ, an agent per cluster."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kjs.testing.procs import free_port
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.processes import KjsProcess, Server, nsq_environment

pytestmark = [pytest.mark.k8s, pytest.mark.nsq, pytest.mark.mysql]


@pytest.fixture
def database(mysql_env: dict[str, str]) -> Iterator[str]:
    name = f"kjs_dist_{secrets.token_hex(4)}"
    admin = sa.create_engine(mysql_env["admin_url"])
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    yield mysql_env["admin_url"] + name
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_two_replicas_and_two_agents_place_by_capacity_and_run_each_job_once(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    nsq_env: dict[str, list[dict[str, str]]],
    database: str,
    tmp_path: Path,
) -> None:
    env = {
        **nsq_environment(nsq_env),
        "KJS_STORE": "mysql",
        "KJS_MYSQL__URL": database,
        "KJS_AGENT__LEASE_NAMESPACE": k8s_namespace,
        "KJS_AGENT__HEARTBEAT_S": "1",
    }
    processes: list[KjsProcess] = []
    try:
        replicas = [Server(tmp_path / f"server{i}", env) for i in (1, 2)]
        for replica in replicas:  # one after the other: the first one migrates the database
            processes.append(replica.start())
        for cluster, capacity in zip(k8s_clusters[:2], (1, 2), strict=True):
            agent = KjsProcess(
                [
                    "agent",
                    "--cluster-id",
                    cluster.id,
                    "--kubeconfig",
                    cluster.kubeconfig,
                    "--data-dir",
                    str(tmp_path / f"agent-{cluster.id}"),
                    "--metrics-port",
                    str(free_port()),
                ],
                {**env, "KJS_AGENT__MAX_CONCURRENT_JOBS": str(capacity)},
                tmp_path / f"agent-{cluster.id}.log",
                ready=lambda p: True,
            )
            processes.append(agent.start())
        wait_until(
            lambda: len(replicas[0].api("GET", "/clusters").json()["items"]) == 2,
            timeout=30,
            what="both clusters to report",
        )
        ids = []
        for i in range(24):  # alternate replicas: any replica accepts, the leader places
            response = replicas[i % 2].api(
                "POST",
                "/jobs",
                json={
                    "name": f"d{i}",
                    "namespace": k8s_namespace,
                    "image": "busybox",
                    "command": ["sh", "-c", "sleep 2"],
                },
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        def all_succeeded() -> list[dict[str, object]] | None:
            found = [replicas[1].api("GET", f"/jobs/{job_id}").json() for job_id in ids]
            return found if all(j["state"] == "succeeded" for j in found) else None

        jobs = wait_until(all_succeeded, timeout=180, interval=1.0, what="all 24 jobs to succeed")
        for job in jobs:
            events = replicas[0].api("GET", f"/jobs/{job['id']}/events").json()["items"]
            assert [e["state"] for e in events].count("succeeded") == 1
            assert job["attempt"] == 1  # never moved, never run twice
        share = Counter(j["cluster_id"] for j in jobs)
        # Capacities 1 and 2: a third and two thirds of the work, within 10 points.
        assert abs(share[k8s_clusters[0].id] / 24 - 1 / 3) <= 0.10, share
        assert abs(share[k8s_clusters[1].id] / 24 - 2 / 3) <= 0.10, share
    finally:
        for process in reversed(processes):
            process.stop()
