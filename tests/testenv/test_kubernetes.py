"""The Kubernetes tier of the test environment: real apiserver and controllers, our kubelet."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until

pytestmark = pytest.mark.k8s


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    restart_policy = spec.pop("restart_policy", "Never")
    template_spec = {
        "restartPolicy": restart_policy,
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}],
    }
    template_spec.update(spec.pop("pod", {}))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": template_spec}, **spec},
    }


def condition(cluster: Cluster, ns: str, name: str) -> str | None:
    """The Job's terminal condition type (Complete or Failed), if it has one."""
    status = cluster.batch.read_namespaced_job_status(name, ns).status
    for c in status.conditions or []:
        if c.type in ("Complete", "Failed") and c.status == "True":
            return str(c.type)
    return None


def ended(cluster: Cluster, ns: str, name: str, *, timeout: float, what: str) -> str:
    """The Job's terminal condition type, once it has one."""
    return wait_until(lambda: condition(cluster, ns, name), timeout=timeout, what=what)


def job_pods(cluster: Cluster, ns: str, name: str) -> list[Any]:
    pods = cluster.core.list_namespaced_pod(ns, label_selector=f"job-name={name}").items
    return sorted(pods, key=lambda p: p.metadata.creation_timestamp)


def pod_gone(cluster: Cluster, ns: str, name: str) -> bool:
    try:
        cluster.core.read_namespaced_pod(name, ns)
    except ApiException as e:
        return e.status == 404
    return False


def processes_running(pattern: str) -> bool:
    """Whether a process whose command line contains `pattern` still runs on this machine."""
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def test_a_job_completes_on_each_cluster_and_its_output_comes_back(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    assert len(k8s_clusters) >= 2
    for n, cluster in enumerate(k8s_clusters, start=1):
        cluster.batch.create_namespaced_job(k8s_namespace, job("hello", f"echo hello-{n}"))
    for n, cluster in enumerate(k8s_clusters, start=1):
        done = wait_until(
            lambda c=cluster: condition(c, k8s_namespace, "hello"),
            timeout=60,
            what=f"job on {cluster.id} to finish",
        )
        assert done == "Complete"
        (pod,) = job_pods(cluster, k8s_namespace, "hello")
        assert pod.spec.node_name == cluster.node
        log = cluster.core.read_namespaced_pod_log(pod.metadata.name, k8s_namespace)
        assert log == f"hello-{n}\n"


def test_a_failing_job_retries_then_fails_with_the_real_exit_code(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.batch.create_namespaced_job(k8s_namespace, job("boom", "exit 3", backoffLimit=1))
    # The job controller waits 10 s before the second pod.
    done = ended(cluster, k8s_namespace, "boom", timeout=90, what="job to fail")
    assert done == "Failed"
    pods = job_pods(cluster, k8s_namespace, "boom")
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Failed"
        terminated = pod.status.container_statuses[0].state.terminated
        assert terminated.exit_code == 3
        assert terminated.reason == "Error"
        assert terminated.started_at <= terminated.finished_at
    assert cluster.batch.read_namespaced_job_status("boom", k8s_namespace).status.failed == 2


def test_a_pod_deleted_while_running_is_gone_within_its_grace_period(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[-1]
    # A duration no other test uses: their pods (other namespaces, still being torn down)
    # are not this one's process.
    cluster.batch.create_namespaced_job(k8s_namespace, job("sleeper", "sleep 317"))
    pod = wait_until(
        lambda: next(
            (p for p in job_pods(cluster, k8s_namespace, "sleeper") if p.status.phase == "Running"),
            None,
        ),
        timeout=30,
        what="pod to run",
    )
    grace = 10
    deleted_at = time.monotonic()
    cluster.core.delete_namespaced_pod(pod.metadata.name, k8s_namespace, grace_period_seconds=grace)

    wait_until(
        lambda: pod_gone(cluster, k8s_namespace, pod.metadata.name),
        timeout=grace + 20,
        what="deleted pod to disappear",
    )
    assert time.monotonic() - deleted_at < grace
    assert not processes_running("sleep 317")
    assert (
        ended(cluster, k8s_namespace, "sleeper", timeout=30, what="job to record the lost pod")
        == "Failed"
    )
    assert cluster.batch.read_namespaced_job_status("sleeper", k8s_namespace).status.failed == 1


def test_sigterm_ignored_means_sigkill_after_the_grace_period(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    termed = tmp_path / "got-term"
    script = f"trap 'touch {termed}' TERM; while true; do sleep 0.1; done"
    cluster.batch.create_namespaced_job(k8s_namespace, job("stubborn", script))
    pod = wait_until(
        lambda: next(
            (
                p
                for p in job_pods(cluster, k8s_namespace, "stubborn")
                if p.status.phase == "Running"
            ),
            None,
        ),
        timeout=30,
        what="pod to run",
    )
    deleted_at = time.monotonic()
    cluster.core.delete_namespaced_pod(pod.metadata.name, k8s_namespace, grace_period_seconds=2)
    wait_until(
        lambda: pod_gone(cluster, k8s_namespace, pod.metadata.name),
        timeout=20,
        what="pod to be killed and removed",
    )
    assert time.monotonic() - deleted_at >= 2  # it ignored SIGTERM, so it lived out the grace
    assert termed.exists()
    assert not processes_running(str(termed))
    assert cluster.batch.read_namespaced_job_status("stubborn", k8s_namespace).status.failed == 1


def test_ttl_after_finished_removes_the_job_and_its_pods(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.batch.create_namespaced_job(
        k8s_namespace, job("brief", "echo bye", ttlSecondsAfterFinished=5)
    )
    ended(cluster, k8s_namespace, "brief", timeout=60, what="job done")
    assert job_pods(cluster, k8s_namespace, "brief")

    def job_and_pods_gone() -> bool:
        jobs = cluster.batch.list_namespaced_job(k8s_namespace).items
        return not jobs and not job_pods(cluster, k8s_namespace, "brief")

    wait_until(job_and_pods_gone, timeout=60, what="TTL controller and GC to remove job and pods")


def test_on_failure_restarts_are_counted_and_the_previous_log_is_kept(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    marker = tmp_path / "ran-once"
    script = f"if [ -e {marker} ]; then echo second; else touch {marker}; echo first; exit 1; fi"
    cluster.batch.create_namespaced_job(
        k8s_namespace, job("flaky", script, backoffLimit=2, restart_policy="OnFailure")
    )
    assert ended(cluster, k8s_namespace, "flaky", timeout=60, what="job done") == "Complete"
    (pod,) = job_pods(cluster, k8s_namespace, "flaky")
    assert pod.status.container_statuses[0].restart_count == 1
    name = pod.metadata.name
    assert cluster.core.read_namespaced_pod_log(name, k8s_namespace) == "second\n"
    assert cluster.core.read_namespaced_pod_log(name, k8s_namespace, previous=True) == "first\n"


def test_log_options_follow_tail_limit_and_timestamps(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    gate = tmp_path / "go-on"
    # Prints three lines, then waits for the test before printing the rest and exiting.
    script = (
        f"echo one; echo two; echo three >&2; while [ ! -e {gate} ]; do sleep 0.05; done; echo four"
    )
    cluster.batch.create_namespaced_job(k8s_namespace, job("talker", script))
    pod = wait_until(
        lambda: next(
            (p for p in job_pods(cluster, k8s_namespace, "talker") if p.status.phase == "Running"),
            None,
        ),
        timeout=30,
        what="pod to run",
    )
    name = pod.metadata.name
    wait_until(
        lambda: cluster.core.read_namespaced_pod_log(name, k8s_namespace).count("\n") == 3,
        timeout=10,
        what="first three lines",
    )
    stream = cluster.core.read_namespaced_pod_log(
        name, k8s_namespace, follow=True, _preload_content=False
    )
    received = b""
    while received.count(b"\n") < 3:
        received += stream.read1(1024) if hasattr(stream, "read1") else stream.read(1)
    assert received == b"one\ntwo\nthree\n"
    gate.touch()
    received += stream.read()  # ends when the container exits
    assert received == b"one\ntwo\nthree\nfour\n"

    assert (
        cluster.core.read_namespaced_pod_log(name, k8s_namespace, tail_lines=2) == "three\nfour\n"
    )
    assert cluster.core.read_namespaced_pod_log(name, k8s_namespace, limit_bytes=6) == "one\ntw"
    stamped = cluster.core.read_namespaced_pod_log(name, k8s_namespace, timestamps=True)
    lines = stamped.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three", "four"]
    assert all(line[:4].isdigit() and line.split(" ")[0].endswith("Z") for line in lines)


def test_environment_from_values_fields_secrets_and_config_maps(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.core.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}}
    )
    cluster.core.create_namespaced_config_map(
        k8s_namespace, {"metadata": {"name": "settings"}, "data": {"MODE": "fast"}}
    )
    pod_spec = {
        "containers": [
            {
                "name": "main",
                "image": "busybox",
                "command": ["sh", "-c", "echo $GREETING $POD_NS $PASSWORD $MODE $(GREETING)"],
                "env": [
                    {"name": "GREETING", "value": "hi"},
                    {
                        "name": "POD_NS",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                    },
                    {
                        "name": "PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                    },
                ],
                "envFrom": [{"configMapRef": {"name": "settings"}}],
            }
        ]
    }
    cluster.batch.create_namespaced_job(k8s_namespace, job("envy", "", pod=pod_spec))
    assert ended(cluster, k8s_namespace, "envy", timeout=60, what="job done") == "Complete"
    (pod,) = job_pods(cluster, k8s_namespace, "envy")
    log = cluster.core.read_namespaced_pod_log(pod.metadata.name, k8s_namespace)
    assert log == f"hi {k8s_namespace} s3cret fast hi\n"


def test_init_containers_run_first_and_in_order(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    trail = tmp_path / "trail"
    pod_spec = {
        "initContainers": [
            {
                "name": f"init{i}",
                "image": "busybox",
                "command": ["sh", "-c", f"echo init{i} >> {trail}"],
            }
            for i in (1, 2)
        ],
        "containers": [
            {
                "name": "main",
                "image": "busybox",
                "command": ["sh", "-c", f"echo main >> {trail}; cat {trail}"],
            }
        ],
    }
    cluster.batch.create_namespaced_job(k8s_namespace, job("ordered", "", pod=pod_spec))
    assert ended(cluster, k8s_namespace, "ordered", timeout=60, what="job done") == "Complete"
    (pod,) = job_pods(cluster, k8s_namespace, "ordered")
    log = cluster.core.read_namespaced_pod_log(pod.metadata.name, k8s_namespace, container="main")
    assert log == "init1\ninit2\nmain\n"
    assert [s.state.terminated.exit_code for s in pod.status.init_container_statuses] == [0, 0]


@pytest.mark.slow
def test_a_cronjob_spawns_a_job_within_a_minute(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[-1]
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "ticker"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job("", "echo tick")["spec"]}},
    }
    cluster.batch.create_namespaced_cron_job(k8s_namespace, cron)
    spawned = wait_until(
        lambda: [
            j
            for j in cluster.batch.list_namespaced_job(k8s_namespace).items
            if any(
                o.kind == "CronJob" and o.name == "ticker"
                for o in j.metadata.owner_references or []
            )
        ],
        timeout=70,
        interval=1.0,
        what="the CronJob's first Job",
    )
    name = spawned[0].metadata.name
    assert (
        ended(cluster, k8s_namespace, name, timeout=60, what="the spawned job to finish")
        == "Complete"
    )


def scheduled_condition(cluster: Cluster, ns: str, pod_name: str) -> Any:
    pod = cluster.core.read_namespaced_pod_status(pod_name, ns)
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def test_a_pod_whose_node_selector_matches_no_node_stays_pending_as_unschedulable(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.batch.create_namespaced_job(
        k8s_namespace, job("picky", "true", pod={"nodeSelector": {"disktype": "ssd"}})
    )
    (pod,) = wait_until(
        lambda: job_pods(cluster, k8s_namespace, "picky"), timeout=30, what="the job's pod"
    )
    condition_ = wait_until(
        lambda: scheduled_condition(cluster, k8s_namespace, pod.metadata.name),
        timeout=30,
        what="PodScheduled condition",
    )
    assert (condition_.status, condition_.reason) == ("False", "Unschedulable")
    assert condition_.message == (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )
    pod = cluster.core.read_namespaced_pod(pod.metadata.name, k8s_namespace)
    assert pod.spec.node_name is None and pod.status.phase == "Pending"


def test_a_pod_waits_for_room_on_the_node_then_runs(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    gate = tmp_path / "release"
    big = {"resources": {"requests": {"cpu": "5"}}}

    def hungry(name: str, script: str) -> dict[str, Any]:
        manifest = job(name, script)
        manifest["spec"]["template"]["spec"]["containers"][0].update(big)
        return manifest

    cluster.batch.create_namespaced_job(
        k8s_namespace, hungry("first", f"while [ ! -e {gate} ]; do sleep 0.05; done")
    )
    wait_until(
        lambda: any(p.status.phase == "Running" for p in job_pods(cluster, k8s_namespace, "first")),
        timeout=30,
        what="first pod to run",
    )
    cluster.batch.create_namespaced_job(k8s_namespace, hungry("second", "echo second"))
    (second,) = wait_until(
        lambda: job_pods(cluster, k8s_namespace, "second"), timeout=30, what="second pod"
    )
    waiting = wait_until(
        lambda: scheduled_condition(cluster, k8s_namespace, second.metadata.name),
        timeout=30,
        what="second pod to be found unschedulable",
    )
    assert waiting.message == "0/1 nodes are available: 1 Insufficient cpu."
    gate.touch()  # the first pod ends, and its 5 CPUs come free
    assert (
        ended(
            cluster,
            k8s_namespace,
            "second",
            timeout=60,
            what="second job to run once there is room",
        )
        == "Complete"
    )


def test_a_container_whose_secret_is_missing_never_starts_and_says_why(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    manifest = job("needs-secret", "echo $TOKEN")
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}
    ]
    cluster.batch.create_namespaced_job(k8s_namespace, manifest)

    def waiting_reason() -> Any:
        pods = job_pods(cluster, k8s_namespace, "needs-secret")
        statuses = (pods[0].status.container_statuses or []) if pods else []
        return statuses and statuses[0].state.waiting

    waiting = wait_until(waiting_reason, timeout=30, what="the container's waiting state")
    assert waiting.reason == "CreateContainerConfigError"
    assert waiting.message == 'secret "absent" not found'
    # Once the Secret exists, the kubelet's retry starts the container.
    cluster.core.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": "absent"}, "stringData": {"token": "t0k"}}
    )
    assert (
        ended(
            cluster,
            k8s_namespace,
            "needs-secret",
            timeout=30,
            what="job to run once the secret exists",
        )
        == "Complete"
    )
    (pod,) = job_pods(cluster, k8s_namespace, "needs-secret")
    assert cluster.core.read_namespaced_pod_log(pod.metadata.name, k8s_namespace) == "t0k\n"


def test_pods_churning_on_a_full_node_give_all_their_room_back(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    """Short pods waiting for each other's room end in bursts; every end schedules the waiting
    ones again, concurrently. Afterwards the whole node is free: a pod asking all of it runs."""
    cluster = k8s_clusters[0]
    churn = job("churn", "sleep 0.2", completions=60, parallelism=16)
    churn["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1"}}
    cluster.batch.create_namespaced_job(k8s_namespace, churn)
    ended(cluster, k8s_namespace, "churn", timeout=120, what="the churn to end")
    whole = job("whole", "echo whole")
    whole["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "8"}}
    cluster.batch.create_namespaced_job(k8s_namespace, whole)
    assert (
        ended(
            cluster,
            k8s_namespace,
            "whole",
            timeout=60,
            what="a pod asking the whole node to run after the churn",
        )
        == "Complete"
    )
