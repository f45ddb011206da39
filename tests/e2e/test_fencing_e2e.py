"""Every new attempt fences the previous one, on real clusters: a running job updated with a route
to another cluster leaves nothing behind on the first one — its Job and its process are gone —
also when the first cluster's agent was stopped during the update and comes back later."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.deployment import Deployment
from tests.e2e.test_distributed import clusters, deploy, job, wait_clusters  # noqa: F401

pytestmark = [pytest.mark.k8s, pytest.mark.nsq, pytest.mark.mysql]


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def running_long_job(
    d: Deployment, namespace: str, cluster_id: str, pids: Path
) -> tuple[dict[str, Any], int]:
    """A job that runs for minutes on `cluster_id` (the test kubelet runs its container as a
    local process: it writes its pid); the job and that pid once it runs."""
    script = f"echo $$ >> {pids}; exec sleep 300"
    body = job(namespace, "fenced", ["sh", "-c", script], cluster=cluster_id)
    response = d.api("POST", "/jobs", json=body)
    assert response.status_code == 201, response.text
    submitted = response.json()
    wait_until(
        lambda: d.api("GET", f"/jobs/{submitted['id']}").json()["state"] == "running",
        timeout=60,
        what="the job to run on the first cluster",
    )
    wait_until(lambda: pids.read_text().strip(), timeout=10, what="its process to start")
    return submitted, int(pids.read_text().split()[0])


def moved_and_running(d: Deployment, job_id: str, cluster_id: str) -> bool:
    now = d.api("GET", f"/jobs/{job_id}").json()
    return bool(
        now["attempt"] == 2 and now["cluster_id"] == cluster_id and now["state"] == "running"
    )


@pytest.mark.parametrize("first_agent", ["running", "stopped during the update"])
def test_a_running_job_routed_elsewhere_leaves_nothing_on_its_first_cluster(
    deploy: Any,  # noqa: F811
    clusters: list[Cluster],  # noqa: F811
    k8s_namespace: str,
    tmp_path: Path,
    first_agent: str,
) -> None:
    d: Deployment = deploy({"KJS_AGENT__RESYNC_S": "5"})
    d.start_replica()
    first, second = clusters[0], clusters[1]
    agent = d.start_agent(first.id, 4)
    d.start_agent(second.id, 4)
    wait_clusters(d, 2)
    pids = tmp_path / "pids.txt"
    pids.touch()
    submitted, pid = running_long_job(d, k8s_namespace, first.id, pids)

    stopped = first_agent != "running"
    if stopped:
        assert agent.kill(signal.SIGTERM) == 0  # its pods run on without it
    response = d.api("PATCH", f"/jobs/{submitted['id']}", json={"cluster": second.id})
    assert response.status_code == 200, response.text
    wait_until(
        lambda: moved_and_running(d, submitted["id"], second.id),
        timeout=60,
        what="attempt 2 to run on the second cluster",
    )
    if stopped:
        # Nobody on the first cluster heard the fence: attempt 1 still runs there, until its
        # agent is back and learns of it (the waiting cancel, or its own report answered).
        assert not first.job_gone(k8s_namespace, submitted["k8s_name"])
        assert not process_gone(pid)
        d.start_agent(first.id, 4)
    wait_until(
        lambda: first.job_gone(k8s_namespace, submitted["k8s_name"]),
        timeout=60,
        what="attempt 1's Job to be deleted from the first cluster",
    )
    wait_until(lambda: process_gone(pid), timeout=60, what="attempt 1's process to end")
    now = d.api("GET", f"/jobs/{submitted['id']}").json()
    assert (now["state"], now["attempt"], now["cluster_id"]) == ("running", 2, second.id)
    events = d.api("GET", f"/jobs/{submitted['id']}/events").json()["items"]
    assert all(e["attempt"] == 2 for e in events if e["state"] in ("cancelled", "failed"))
    d.api("DELETE", f"/jobs/{submitted['id']}")
