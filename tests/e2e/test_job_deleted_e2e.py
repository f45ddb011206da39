"""A Kubernetes Job deleted outside kjs: the kjs job fails (`JobDeleted`) instead of staying
`running` for ever — seen by the watching agent, or found by the server's reconcile when no agent
watched. The agent's own deletes (a cancel, a rerun's old attempt) never produce it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.core import messages
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.e2e.test_agent_e2e import final, submit
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s
AGENT = {"resync_s": 2}


class StatusSpy:
    """Every status event the agent publishes, read on a channel of its own."""

    def __init__(self, client: TestClient[Any]) -> None:
        self.events: list[messages.StatusEvent] = []
        queue = client.app.state.components.queue
        client.blocking_portal.call(queue.subscribe, messages.STATUS_TOPIC, "spy", self._got)

    async def _got(self, delivery: Any) -> bool:
        event = messages.decode(delivery.body)
        if isinstance(event, messages.StatusEvent):
            self.events.append(event)
        return True

    def deleted(self, job_id: str) -> list[messages.StatusEvent]:
        return [e for e in self.events if e.job_id == job_id and e.reason == "JobDeleted"]


def up(cluster: Cluster, data_dir: Path, **settings: Any) -> TestClient[Any]:
    app = kjs_up_app(data_dir, cluster.id, cluster.kubeconfig, agent=AGENT, **settings)
    return TestClient(app)


def ready(client: TestClient[Any], cluster: Cluster) -> None:
    wait_until(
        lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
        timeout=15,
        what="the agent's first heartbeat",
    )


@pytest.fixture
def cluster(k8s_clusters: list[Cluster]) -> Cluster:
    return k8s_clusters[0]


@pytest.fixture
def kjs_up(cluster: Cluster, tmp_path: Path) -> Iterator[TestClient[Any]]:
    with up(cluster, tmp_path) as client:
        ready(client, cluster)
        yield client


def running(client: TestClient[Any], job_id: str, attempt: int = 1) -> dict[str, Any]:
    job: dict[str, Any] = wait_until(
        lambda: (
            (j := client.get(f"/api/v1/jobs/{job_id}").json())["state"] == "running"
            and j["attempt"] == attempt
            and j
        ),
        timeout=30,
        what=f"job {job_id} attempt {attempt} to run",
    )
    return job


def delete_as_admin(cluster: Cluster, namespace: str, name: str) -> None:
    cluster.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")


def test_a_job_deleted_by_the_admin_while_running_fails_with_job_deleted(
    kjs_up: TestClient[Any], cluster: Cluster, k8s_namespace: str
) -> None:
    job = running(kjs_up, submit(kjs_up, k8s_namespace, "sleep 300", name="doomed")["id"])
    delete_as_admin(cluster, k8s_namespace, job["k8s_name"])
    done = final(kjs_up, job["id"], timeout=15)
    assert (done["state"], done["reason"]) == ("failed", "JobDeleted")
    assert done["message"] == (
        f"the Kubernetes Job {k8s_namespace}/{job['k8s_name']} was deleted outside kjs "
        "before it was seen finishing (last seen: running)"
    )
    events = kjs_up.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    assert [(e["state"], e["reason"]) for e in events][-2:] == [
        ("running", None),
        ("failed", "JobDeleted"),
    ]


def test_the_agents_own_deletes_are_not_job_deleted(
    kjs_up: TestClient[Any], cluster: Cluster, k8s_namespace: str
) -> None:
    spy = StatusSpy(kjs_up)
    cancelled = running(kjs_up, submit(kjs_up, k8s_namespace, "sleep 300", name="cancel")["id"])
    rerun = running(kjs_up, submit(kjs_up, k8s_namespace, "sleep 300", name="rerun")["id"])
    marker = running(kjs_up, submit(kjs_up, k8s_namespace, "sleep 300", name="marker")["id"])

    assert kjs_up.delete(f"/api/v1/jobs/{cancelled['id']}").status_code == 202
    assert final(kjs_up, cancelled["id"], timeout=15)["state"] == "cancelled"
    assert kjs_up.post(f"/api/v1/jobs/{rerun['id']}/rerun").status_code == 201
    second = running(kjs_up, rerun["id"], attempt=2)
    for name in (cancelled["k8s_name"], rerun["k8s_name"]):
        wait_until(
            lambda n=name: cluster.job_gone(k8s_namespace, n),
            timeout=15,
            what=f"the agent to delete {name}",
        )
    # A barrier: the agent sees the Jobs leave in order, so once it has reported the marker
    # deleted it has dealt with the two Jobs it deleted itself.
    delete_as_admin(cluster, k8s_namespace, marker["k8s_name"])
    wait_until(lambda: spy.deleted(marker["id"]), timeout=15, what="the marker's JobDeleted")
    assert final(kjs_up, marker["id"], timeout=15)["reason"] == "JobDeleted"

    assert not spy.deleted(cancelled["id"]) and not spy.deleted(rerun["id"])
    for job_id in (cancelled["id"], rerun["id"]):
        events = kjs_up.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
        assert all(e["reason"] != "JobDeleted" for e in events)
    assert kjs_up.get(f"/api/v1/jobs/{rerun['id']}").json()["state"] == "running"
    assert not cluster.job_gone(k8s_namespace, second["k8s_name"])


def test_a_job_deleted_while_no_agent_watched_is_found_by_the_reconcile(
    cluster: Cluster, k8s_namespace: str, tmp_path: Path
) -> None:
    with up(cluster, tmp_path) as client:
        ready(client, cluster)
        job = running(client, submit(client, k8s_namespace, "sleep 300", name="orphan")["id"])
    # kjs is down (server and agent): nobody sees the delete.
    delete_as_admin(cluster, k8s_namespace, job["k8s_name"])
    wait_until(
        lambda: cluster.job_gone(k8s_namespace, job["k8s_name"]),
        timeout=15,
        what="the Job to be deleted",
    )
    with up(cluster, tmp_path, dispatch={"reconcile_s": 2}) as client:
        done = final(client, job["id"], timeout=30)
        events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    assert (done["state"], done["reason"]) == ("failed", "JobDeleted")
    assert done["message"] == (
        f"the Kubernetes Job {k8s_namespace}/{job['k8s_name']} is not on cluster {cluster.id}: "
        "deleted outside kjs (its TTL or a user) while no agent watched; it was not seen finishing"
    )
    assert [e["state"] for e in events][-2:] == ["running", "failed"]
