"""Native cron jobs on real clusters: a new route moves the CronJob (and deletes the old one),
and a `prepare_manifest` plugin that strips labels cannot hide its runs from kjs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.agent.run import running_agent
from kjs.core import manifest as manifests
from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.server import create_app
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s


def wait_heartbeats(client: TestClient[Any], *clusters: Cluster) -> None:
    for cluster in clusters:
        wait_until(
            lambda c=cluster: client.get(f"/api/v1/clusters/{c.id}").status_code == 200,
            timeout=30,
            what=f"{cluster.id}'s first heartbeat",
        )


@pytest.fixture
def two_clusters(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    """`kjs up` with an agent for each of the first two test clusters."""
    first, second = k8s_clusters[:2]
    app = kjs_up_app(
        tmp_path, first.id, first.kubeconfig, more_clusters={second.id: second.kubeconfig}
    )
    with TestClient(app) as client:
        wait_heartbeats(client, first, second)
        yield client


def cronjobs(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The CronJobs in the namespace, by name."""
    return {c.metadata.name: c for c in cluster.batch.list_namespaced_cron_job(namespace).items}


def create_cron(client: TestClient[Any], namespace: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "every-minute",
        "namespace": namespace,
        "image": "busybox",
        "command": ["sh", "-c", "echo tick"],
        "schedule": "*/1 * * * *",
        **fields,
    }
    response = client.post("/api/v1/cronjobs", json=body)
    assert response.status_code == 201, response.text
    cron: dict[str, Any] = response.json()
    return cron


def kjs_labels(labels: dict[str, str] | None) -> dict[str, str]:
    return {
        k: v
        for k, v in (labels or {}).items()
        if k.startswith("kjs.io/") or k == "app.kubernetes.io/managed-by"
    }


def test_a_new_route_moves_the_cronjob_to_the_other_cluster(
    two_clusters: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    client, (first, second) = two_clusters, k8s_clusters[:2]
    cron = create_cron(client, k8s_namespace, cluster=first.id)
    old = cron["k8s_name"]
    wait_until(
        lambda: old in cronjobs(first, k8s_namespace),
        timeout=30,
        what=f"the CronJob on {first.id}",
    )
    wait_until(
        lambda: client.get(f"/api/v1/cronjobs/{cron['id']}").json()["state"] == "created",
        timeout=15,
        what="the server to hear it was created",
    )

    response = client.patch(f"/api/v1/cronjobs/{cron['id']}", json={"cluster": second.id})
    assert response.status_code == 200, response.text
    new = response.json()["k8s_name"]
    assert new != old
    moved = wait_until(
        lambda: cronjobs(second, k8s_namespace).get(new),
        timeout=30,
        what=f"the CronJob on {second.id}",
    )
    expected = manifests.system_labels(
        job_id=None, name="every-minute", kind="cron", attempt=2, cron_id=cron["id"]
    )
    assert kjs_labels(moved.metadata.labels) == expected
    assert kjs_labels(moved.spec.job_template.metadata.labels) == expected
    assert kjs_labels(moved.spec.job_template.spec.template.metadata.labels) == expected
    wait_until(
        lambda: not cronjobs(first, k8s_namespace),
        timeout=30,
        what=f"the old CronJob to be deleted from {first.id}",
    )
    done = wait_until(
        lambda: (
            (c := client.get(f"/api/v1/cronjobs/{cron['id']}").json())["state"] == "created" and c
        ),
        timeout=15,
        what="the server to hear the new CronJob was created",
    )
    assert (done["attempt"], done["cluster_id"]) == (2, second.id)
    assert list(cronjobs(second, k8s_namespace)) == [new]


class StripLabels:
    """A careless plugin: removes every label of the CronJob and of its templates."""

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        spec = manifest["spec"]
        metas = [manifest["metadata"]]
        if "jobTemplate" in spec:
            metas.append(spec["jobTemplate"]["metadata"])
            spec = spec["jobTemplate"]["spec"]
        metas.append(spec["template"]["metadata"])
        for meta in metas:
            meta["labels"] = {"stripped": "yes"}


@pytest.mark.slow
def test_a_plugin_stripping_labels_does_not_hide_a_native_cron_jobs_runs(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    settings = load(
        environ={},
        overrides={"data_dir": str(tmp_path), "election": "single", "agent": {"heartbeat_s": 1.0}},
    )

    def agent(components: Any) -> Any:
        return running_agent(
            settings,
            cluster.id,
            kubeconfig=cluster.kubeconfig,
            queue=components.queue,
            plugins=components.plugins,
        )

    plugins = Plugins(autoload=False, extra=[StripLabels()])
    with TestClient(create_app(settings, plugins=plugins, companions=[agent])) as client:
        wait_heartbeats(client, cluster)
        cron = create_cron(client, k8s_namespace)
        created = wait_until(
            lambda: cronjobs(cluster, k8s_namespace).get(cron["k8s_name"]),
            timeout=30,
            what="the CronJob",
        )
        assert created.metadata.labels["stripped"] == "yes"  # the plugin's edit stays
        # The first tick is at most a minute away; its run is recorded and followed to the end.
        runs = wait_until(
            lambda: [
                r
                for r in client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"]
                if r["state"] == "succeeded"
            ],
            timeout=150,
            what="a run of the CronJob to succeed",
        )
        assert runs[0]["cron_id"] == cron["id"] and runs[0]["cluster_id"] == cluster.id
