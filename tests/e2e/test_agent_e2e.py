"""`kjs up` end to end: server + agent in one process against a real test cluster."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from kjs.core import messages
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s
ORDER = ["pending", "dispatched", "created", "running", "succeeded"]


def start(
    cluster: Cluster,
    tmp_path: Path,
    kubeconfig: str,
    logs: dict[str, Any] | None = None,
    **agent: Any,
) -> TestClient[Any]:
    logs = {"final_wait_s": 10.0, **(logs or {})}
    return TestClient(kjs_up_app(tmp_path, cluster.id, kubeconfig, agent=agent, logs=logs))


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[TestClient[Any]]:
    cluster = k8s_clusters[0]
    with start(cluster, tmp_path, cluster.kubeconfig) as client:
        wait_until(
            lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
            timeout=15,
            what="the agent's first heartbeat",
        )
        yield client


def submit(client: TestClient[Any], ns: str, script: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": fields.pop("name", "job"),
        "namespace": ns,
        "image": "busybox",
        "command": ["sh", "-c", script],
        **fields,
    }
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def final(client: TestClient[Any], job_id: str, timeout: float = 60) -> dict[str, Any]:
    job: dict[str, Any] = wait_until(
        lambda: (
            (j := client.get(f"/api/v1/jobs/{job_id}").json())["state"]
            in ("succeeded", "failed", "cancelled")
            and j
        ),
        timeout=timeout,
        what=f"job {job_id} to finish",
    )
    return job


def test_hello_runs_reports_every_state_once_and_keeps_its_log_after_the_pod_is_gone(
    kjs_up: TestClient[Any],
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
) -> None:
    job = submit(
        kjs_up,
        k8s_namespace,
        "echo hello",
        name="hello",
        log_collect="always",
        ttl_seconds_after_finished=3,
    )
    done = final(kjs_up, job["id"])
    assert done["state"] == "succeeded" and done["cluster_id"] == "c1"
    states = [e["state"] for e in kjs_up.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]]
    assert states[-1] == "succeeded" and len(states) == len(set(states))
    assert states == [s for s in ORDER if s in states]  # a subsequence, in order
    cluster = k8s_clusters[0]

    wait_until(
        lambda: cluster.job_gone(k8s_namespace, job["k8s_name"]),
        timeout=60,
        what="the TTL controller to delete the Job",
    )
    assert not cluster.core.list_namespaced_pod(k8s_namespace).items
    logs = kjs_up.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert logs.endswith("/hello <==\nhello\n")


def test_exit_3_with_one_retry_fails_with_both_pods_and_their_exit_codes(
    kjs_up: TestClient[Any],
    k8s_namespace: str,
) -> None:
    job = submit(kjs_up, k8s_namespace, "echo boom >&2; exit 3", name="boom", backoff_limit=1)
    done = final(kjs_up, job["id"], timeout=90)
    assert done["state"] == "failed" and done["reason"] == "BackoffLimitExceeded"
    assert len(done["exit_codes"]) == 2
    assert all(codes == {"boom": 3} for codes in done["exit_codes"].values())
    logs = kjs_up.get(f"/api/v1/jobs/{job['id']}/logs").text  # on_failure: collected
    assert logs.count("boom\n") == 2


def test_cancel_a_running_job(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    job = submit(kjs_up, k8s_namespace, "sleep 300", name="sleeper")
    wait_until(
        lambda: kjs_up.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running",
        timeout=30,
        what="the job to run",
    )
    assert kjs_up.delete(f"/api/v1/jobs/{job['id']}").status_code == 202
    assert final(kjs_up, job["id"], timeout=15)["state"] == "cancelled"
    cluster = k8s_clusters[0]
    wait_until(
        lambda: (
            not cluster.batch.list_namespaced_job(k8s_namespace).items
            and not cluster.core.list_namespaced_pod(k8s_namespace).items
        ),
        timeout=15,
        what="the Job and its pods to be gone",
    )


def test_a_pod_that_cannot_be_scheduled_says_why(
    kjs_up: TestClient[Any], k8s_namespace: str
) -> None:
    job = submit(kjs_up, k8s_namespace, "true", name="picky", node_selector={"disk": "ssd"})
    stuck = wait_until(
        lambda: (
            (j := kjs_up.get(f"/api/v1/jobs/{job['id']}").json())["reason"] == "Unschedulable" and j
        ),
        timeout=30,
        what="the unschedulable reason",
    )
    assert stuck["state"] == "created"
    assert "didn't match Pod's node affinity/selector" in stuck["message"]


def test_an_agent_that_may_not_create_jobs_reports_the_refusal(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    cluster = k8s_clusters[0]
    cluster.rbac.create_cluster_role(
        {
            "metadata": {"name": f"watcher-{k8s_namespace}"},
            "rules": [
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
                {
                    "apiGroups": [""],
                    "resources": ["pods", "pods/log"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        }
    )
    cluster.rbac.create_cluster_role_binding(
        {
            "metadata": {"name": f"watcher-{k8s_namespace}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"watcher-{k8s_namespace}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": k8s_namespace}],
        }
    )
    kubeconfig = str(cluster.service_account_kubeconfig(k8s_namespace, "agent"))
    try:
        with start(cluster, tmp_path, kubeconfig, max_concurrent_jobs=5) as client:
            wait_until(
                lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
                timeout=15,
                what="the agent's first heartbeat",
            )
            job = submit(client, k8s_namespace, "true", name="refused")
            done = final(client, job["id"], timeout=30)
    finally:
        cluster.rbac.delete_cluster_role_binding(f"watcher-{k8s_namespace}")
        cluster.rbac.delete_cluster_role(f"watcher-{k8s_namespace}")
    assert done["state"] == "failed" and done["reason"] == "Forbidden"
    assert 'cannot create resource "jobs"' in done["message"]


def test_follow_shows_lines_before_the_job_ends(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    import httpx

    from tests.live import live_kjs_up

    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as server:
        script = "for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done"
        job = server.post(
            "/api/v1/jobs",
            json={
                "name": "ticker",
                "namespace": k8s_namespace,
                "image": "busybox",
                "command": ["sh", "-c", script],
                "log_collect": "always",
            },
        ).json()
        wait_until(
            lambda: server.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running",
            timeout=30,
            what="the job to run",
        )
        text, state_at_first_line = "", None
        with httpx.stream(
            "GET", f"{server.url}/api/v1/jobs/{job['id']}/logs?follow=true", timeout=60
        ) as response:
            for piece in response.iter_text():
                text += piece
                if state_at_first_line is None and "line 1\n" in text:
                    state_at_first_line = server.get(f"/api/v1/jobs/{job['id']}").json()["state"]
        assert state_at_first_line == "running"
        header, _, body = text.partition("\n")
        assert header.startswith("==> ticker-") and header.endswith("/ticker <==")
        assert body == "".join(f"line {i}\n" for i in range(1, 7))  # each byte once
        assert server.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"


def test_a_delayed_job_is_created_in_kubernetes_at_its_run_at(
    kjs_up: TestClient[Any],
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
) -> None:
    import datetime as dt

    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
    job = submit(kjs_up, k8s_namespace, "true", name="later", run_at=run_at.isoformat())
    cluster = k8s_clusters[0]
    created = wait_until(
        lambda: cluster.batch.list_namespaced_job(k8s_namespace).items,
        timeout=20,
        what="the Kubernetes Job",
    )[0]
    at = created.metadata.creation_timestamp  # whole seconds, rounded down by the apiserver
    assert run_at.replace(microsecond=0) <= at <= run_at + dt.timedelta(seconds=2)
    assert final(kjs_up, job["id"])["state"] == "succeeded"


@pytest.mark.slow
def test_native_and_managed_cron_jobs_produce_runs_with_status_and_logs(
    kjs_up: TestClient[Any],
    k8s_namespace: str,
) -> None:
    crons = {}
    for mode in ("native", "managed"):
        response = kjs_up.post(
            "/api/v1/cronjobs",
            json={
                "name": f"tick-{mode}",
                "namespace": k8s_namespace,
                "image": "busybox",
                "command": ["sh", "-c", f"echo tick from {mode}"],
                "schedule": "* * * * *",
                "mode": mode,
                "log_collect": "always",
            },
        )
        assert response.status_code == 201, response.text
        crons[mode] = response.json()

    def finished_run(cron_id: str) -> dict[str, Any] | None:
        runs = kjs_up.get(f"/api/v1/cronjobs/{cron_id}/runs").json()["items"]
        return next((r for r in runs if r["state"] == "succeeded"), None)

    for mode, cron in crons.items():
        run = wait_until(
            lambda c=cron: finished_run(c["id"]),
            timeout=130,
            interval=1.0,
            what=f"a {mode} run to succeed",
        )
        assert run["cron_id"] == cron["id"]
        logs = kjs_up.get(f"/api/v1/jobs/{run['id']}/logs").text
        assert logs.endswith(f"tick from {mode}\n")
        counted = kjs_up.get(f"/api/v1/cronjobs/{cron['id']}").json()
        assert counted["runs_succeeded"] >= 1


def test_up_refuses_credentials_that_cannot_create_jobs(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from kjs.cli import main

    kubeconfig = k8s_clusters[0].service_account_kubeconfig(k8s_namespace, "nobody")
    result = CliRunner().invoke(
        main, ["up", "--kubeconfig", str(kubeconfig), "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 3
    assert result.output.strip() == "kjs: these credentials cannot create Jobs in all namespaces"


def test_namespaces_are_created_when_configured_and_logs_cut_at_the_cap(
    k8s_clusters: list[Cluster],
    tmp_path: Path,
) -> None:
    cluster = k8s_clusters[0]
    namespace = f"made-{uuid.uuid4().hex[:6]}"
    with start(
        cluster,
        tmp_path,
        cluster.kubeconfig,
        logs={"cap_bytes_per_container": 1000},
        create_namespaces=True,
    ) as client:
        wait_until(
            lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
            timeout=15,
            what="the agent's first heartbeat",
        )
        try:
            job = submit(
                client,
                namespace,
                "yes 0123456789abcdef | head -c 5000",
                name="chatty",
                log_collect="always",
            )
            assert final(client, job["id"])["state"] == "succeeded"
            logs = client.get(f"/api/v1/jobs/{job['id']}/logs").text
        finally:
            cluster.core.delete_namespace(namespace)
    header, _, rest = logs.partition("\n")
    assert header.endswith("/chatty <==")
    body, _, mark = rest.partition("[kjs: ")
    assert len(body) == 1000 and body.startswith("0123456789abcdef\n")
    assert mark.startswith("the log of ") and mark.endswith("/chatty was cut at 1000 bytes]\n")


def test_an_expired_copy_of_a_dispatch_creates_nothing_and_a_fresh_one_does(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    queue = kjs_up.app.state.components.queue
    labels = {"cluster": cluster.id, "reason": "expired"}

    def dropped() -> float:
        return REGISTRY.get_sample_value("kjs_agent_dispatches_dropped_total", labels) or 0.0

    def send(name: str, expires_in_s: float) -> None:
        manifest = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": k8s_namespace},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                    }
                }
            },
        }
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in_s)
        body = messages.encode(
            messages.Dispatch(
                job_id=str(uuid.uuid4()), attempt=1, manifest=manifest, expires_at=expires_at
            )
        )
        kjs_up.blocking_portal.call(queue.publish, messages.dispatch_topic(cluster.id), body)

    def exists(name: str) -> bool:
        names = cluster.batch.list_namespaced_job(k8s_namespace).items
        return name in {j.metadata.name for j in names}

    before = dropped()
    send("stale-copy", expires_in_s=-1)  # it waited in the broker past its expiry
    wait_until(lambda: dropped() == before + 1, timeout=10, what="the stale copy to be dropped")
    assert not exists("stale-copy")
    send("fresh-copy", expires_in_s=30)
    wait_until(lambda: exists("fresh-copy"), timeout=10, what="the fresh copy's Job")


def test_final_states_decided_from_pods_agree_with_the_jobs_conditions(
    kjs_up: TestClient[Any], k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    """The default Job (one pod, no deadline, no policy, restartPolicy Never) ends when its pods
    do, before the job controller's condition; the condition, when it comes, agrees."""
    mismatches = REGISTRY.get_sample_value("kjs_condition_mismatches_total") or 0.0
    ok = submit(kjs_up, k8s_namespace, "echo fine", name="fine")
    bad = submit(kjs_up, k8s_namespace, "exit 4", name="bad", backoff_limit=0)
    cluster = k8s_clusters[0]
    for job, state, condition in ((ok, "succeeded", "Complete"), (bad, "failed", "Failed")):
        done = final(kjs_up, job["id"], timeout=90)
        assert done["state"] == state

        def terminal_condition(name: str = job["k8s_name"]) -> list[str]:
            status = cluster.batch.read_namespaced_job(name, k8s_namespace).status
            return [c.type for c in status.conditions or [] if c.status == "True"]

        wait_until(
            lambda want=condition: want in terminal_condition(),  # type: ignore[misc]
            timeout=30,
            what=f"the job controller's {condition} condition",
        )
        events = kjs_up.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
        assert not [e for e in events if e["reason"] == "ConditionMismatch"]
    assert (REGISTRY.get_sample_value("kjs_condition_mismatches_total") or 0.0) == mismatches
