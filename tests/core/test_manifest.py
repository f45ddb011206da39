"""Rendering a job spec into Kubernetes objects: every field lands where it should."""

from __future__ import annotations

import msgspec

from kjs.core.manifest import k8s_name, render_cronjob, render_job
from kjs.core.models import CronSpec, JobSpec

JOB_ID = "0f8c2a4e-1b7d-4c39-9a51-6e2f0d3b8c71"


def spec(**fields: object) -> JobSpec:
    body = {"name": "backup", "namespace": "ops", "image": "alpine:3.20", **fields}
    return msgspec.convert(body, JobSpec)


def test_a_minimal_job() -> None:
    job = render_job(spec(), job_id=JOB_ID)
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "backup-0f8c2a4e"
    assert job["metadata"]["namespace"] == "ops"
    assert job["spec"] == {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": 600,
        "template": {
            "metadata": {
                "labels": job["metadata"]["labels"],
                "annotations": {"kjs.io/log-collect": "on_failure"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "backup", "image": "alpine:3.20"}],
            },
        },
    }
    # No deadline unless asked for (the original defaulted it to the request timeout, D14).
    assert "activeDeadlineSeconds" not in job["spec"]


def test_every_field() -> None:
    job = render_job(
        spec(
            command=["sh", "-c"],
            args=["echo $(GREETING)"],
            env={
                "GREETING": "hi",
                "PASSWORD": {"secret": {"name": "db", "key": "pw"}},
                "MODE": {"config_map": {"name": "cfg", "key": "mode", "optional": True}},
            },
            env_from=[{"secret": "extra"}, {"config_map": "more", "prefix": "X_"}],
            resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
            labels={"team": "data"},
            annotations={"owner": "ana"},
            parallelism=3,
            completions=6,
            completion_mode="Indexed",
            backoff_limit=2,
            active_deadline_seconds=3600,
            ttl_seconds_after_finished=60,
            restart_policy="OnFailure",
            image_pull_policy="IfNotPresent",
            image_pull_secrets=["regcred"],
            service_account="runner",
            node_selector={"disk": "ssd"},
            tolerations=[
                {
                    "key": "gpu",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "toleration_seconds": 30,
                }
            ],
            security_context={"runAsNonRoot": True, "runAsUser": 1000},
            log_collect="always",
        ),
        job_id=JOB_ID,
        attempt=3,
    )
    assert job["metadata"]["name"] == "backup-0f8c2a4e-a3"
    s = job["spec"]
    assert (s["parallelism"], s["completions"], s["completionMode"], s["backoffLimit"]) == (
        3,
        6,
        "Indexed",
        2,
    )
    assert (s["activeDeadlineSeconds"], s["ttlSecondsAfterFinished"]) == (3600, 60)
    pod = s["template"]["spec"]
    # restart_policy and completion_mode each go where they belong (the original mixed them, D15).
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["serviceAccountName"] == "runner"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == [
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    ]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
    (container,) = pod["containers"]
    assert container["command"] == ["sh", "-c"]
    assert container["args"] == ["echo $(GREETING)"]  # args are args, not a label (D15)
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["env"] == [
        {"name": "GREETING", "value": "hi"},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        {
            "name": "MODE",
            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode", "optional": True}},
        },
    ]
    assert container["envFrom"] == [
        {"secretRef": {"name": "extra"}},
        {"configMapRef": {"name": "more"}, "prefix": "X_"},
    ]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert job["metadata"]["annotations"] == {"owner": "ana", "kjs.io/log-collect": "always"}
    assert s["template"]["metadata"]["annotations"] == job["metadata"]["annotations"]


def test_system_labels_are_on_job_and_pods_and_cannot_be_overridden() -> None:
    job = render_job(
        spec(labels={"team": "data", "kjs.io/job-id": "forged"}), job_id=JOB_ID, attempt=2
    )
    expected = {
        "team": "data",
        "app.kubernetes.io/managed-by": "kjs",
        "kjs.io/job-id": JOB_ID,
        "kjs.io/job-name": "backup",
        "kjs.io/kind": "once",
        "kjs.io/attempt": "2",
    }
    assert job["metadata"]["labels"] == expected
    assert job["spec"]["template"]["metadata"]["labels"] == expected


def test_a_managed_cron_run_is_a_job_labelled_with_its_cron() -> None:
    job = render_job(spec(), job_id=JOB_ID, cron_id="c0ffee00-0000-4000-8000-000000000000")
    assert job["metadata"]["labels"]["kjs.io/kind"] == "cron"
    assert job["metadata"]["labels"]["kjs.io/cron-id"] == "c0ffee00-0000-4000-8000-000000000000"


def test_a_native_cronjob() -> None:
    cron = msgspec.convert(
        {
            "name": "nightly",
            "namespace": "ops",
            "image": "alpine",
            "schedule": "0 3 * * *",
            "time_zone": "Europe/Berlin",
            "concurrency_policy": "Forbid",
            "starting_deadline_seconds": 300,
        },
        CronSpec,
    )
    obj = render_cronjob(cron, cron_id=JOB_ID)
    assert obj["kind"] == "CronJob"
    assert obj["metadata"]["name"] == "nightly-0f8c2a4e"
    s = obj["spec"]
    assert (s["schedule"], s["timeZone"], s["concurrencyPolicy"], s["suspend"]) == (
        "0 3 * * *",
        "Europe/Berlin",
        "Forbid",
        False,
    )
    assert s["startingDeadlineSeconds"] == 300
    labels = s["jobTemplate"]["metadata"]["labels"]
    assert labels["kjs.io/cron-id"] == JOB_ID and labels["kjs.io/kind"] == "cron"
    assert "kjs.io/job-id" not in labels  # each run gets its own id when it is seen
    assert s["jobTemplate"]["spec"]["template"]["metadata"]["labels"] == labels


def test_names_are_cut_to_fit_kubernetes_limits() -> None:
    long = "a" * 63
    assert k8s_name(long, JOB_ID) == "a" * 54 + "-0f8c2a4e"
    assert len(k8s_name(long, JOB_ID, attempt=12)) == 63
    assert len(k8s_name(long, JOB_ID, cron=True)) == 52
    # A cut that would end in '-' is trimmed so the result stays a DNS label.
    assert k8s_name("x" * 53 + "-yyyy", JOB_ID) == "x" * 53 + "-0f8c2a4e"
