"""An original client's requests against `kjs up` on a real test cluster: routed and delayed
jobs, logs, delete with the cluster's confirmation, and the original's labels in Kubernetes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s


@pytest.fixture
def original(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    cluster = k8s_clusters[0]
    app = kjs_up_app(tmp_path, cluster.id, cluster.kubeconfig)
    with TestClient(app) as client:
        wait_until(
            lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
            timeout=15,
            what="the agent's first heartbeat",
        )
        yield client


def call(client: TestClient[Any], method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] in (0, 200), body
    return body["data"]


def state(client: TestClient[Any], job_id: str) -> int:
    return int(call(client, "GET", f"/api/once_job/describe/{job_id}")["job_state"])


def test_a_routed_job_runs_its_logs_stay_and_the_objects_carry_the_original_labels(
    original: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    created = call(
        original,
        "POST",
        "/api/once_job/create",
        json={
            "job_name": "hello-compat",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": "sh,-c,echo hello from the original API",
            "route": cluster.id,
            "metadata": {"log_collect": "true", "labels": '{"team": "data"}'},
        },
    )
    job_id = created["job_id"]
    wait_until(lambda: state(original, job_id) == 2, timeout=60, what="the job to succeed")
    (k8s_job,) = cluster.batch.list_namespaced_job(
        k8s_namespace, label_selector=f"job_id={job_id}"
    ).items
    labels = k8s_job.metadata.labels
    assert (labels["job_from"], labels["job_name"], labels["job_type"], labels["team"]) == (
        "k8s_job_scheduler",
        "hello-compat",
        "once",
        "data",
    )
    (row,) = wait_until(
        lambda: call(original, "GET", f"/api/job_logs/{job_id}"), timeout=10, what="the logs"
    )
    assert row["logs"] == "hello from the original API\n"


def test_a_delayed_job_waits_and_a_running_one_is_deleted_with_confirmation(
    original: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    at = int(time.time()) + 6
    body = {"namespace": k8s_namespace, "image": "busybox", "command": "sleep,60"}
    job_id = call(
        original,
        "POST",
        "/api/once_job/create",
        json={**body, "job_name": "later", "job_exec_time": at},
    )["job_id"]
    assert state(original, job_id) == -1
    wait_until(lambda: state(original, job_id) == 0, timeout=60, what="the delayed start")
    assert time.time() >= at
    deleted = call(original, "DELETE", f"/api/once_job/delete/{job_id}")
    assert deleted == f"delete once_job success job_id: {job_id}"
    assert state(original, job_id) == 3
    names = [
        j.metadata.name for j in k8s_clusters[0].batch.list_namespaced_job(k8s_namespace).items
    ]
    assert not [n for n in names if n.startswith("later")]  # gone from the cluster


def test_a_cron_job_is_created_in_the_cluster_and_deleted_with_confirmation(
    original: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cron_id = call(
        original,
        "POST",
        "/api/cron_job/create",
        json={
            "job_name": "nightly",
            "namespace": k8s_namespace,
            "image": "busybox",
            "command": "date",
            "schedule": "0 3 * * *",
        },
    )["job_id"]

    def cronjobs() -> list[Any]:
        items = cluster.batch.list_namespaced_cron_job(
            k8s_namespace, label_selector=f"job_id={cron_id}"
        ).items
        return list(items)

    (cronjob,) = wait_until(cronjobs, timeout=30, what="the CronJob")
    assert cronjob.spec.schedule == "0 3 * * *"
    assert cronjob.metadata.labels["job_type"] == "cron"
    deleted = call(original, "DELETE", f"/api/cron_job/delete/{cron_id}")
    assert deleted == f"delete cron_job success job_id: {cron_id}"
    assert cronjobs() == []  # confirmed: gone from the cluster before the answer
