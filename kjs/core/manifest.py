"""Job spec -> Kubernetes `batch/v1` Job or CronJob (CONTRACT §3-§4). Pure functions.

None of the original's generation defects: the deadline is only set when asked for (D14), and
`restart_policy` / `completion_mode` go where they belong, with their values validated (D15).
"""

from __future__ import annotations

from typing import Any

from kjs.core.models import CronSpec, EnvSource, JobSpec

MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_ID = "kjs.io/job-id"
JOB_NAME = "kjs.io/job-name"
KIND = "kjs.io/kind"
ATTEMPT = "kjs.io/attempt"
CRON_ID = "kjs.io/cron-id"
LOG_COLLECT = "kjs.io/log-collect"  # annotation: lets an agent resume log collection after restart
RESERVED_LABEL_PREFIXES = ("kjs.io/",)
RESERVED_LABELS = (MANAGED_BY,)

JOB_NAME_LIMIT = 63
CRONJOB_NAME_LIMIT = 52  # the CronJob controller appends an 11-character suffix to its Jobs


def k8s_name(name: str, object_id: str, attempt: int = 1, *, cron: bool = False) -> str:
    """The Kubernetes object name: the name cut to fit, `-`, 8 hex digits of the id, `-a<n>`."""
    suffix = "-" + object_id.replace("-", "")[:8] + (f"-a{attempt}" if attempt > 1 else "")
    limit = CRONJOB_NAME_LIMIT if cron else JOB_NAME_LIMIT
    return name[: limit - len(suffix)].rstrip("-") + suffix


def _env(spec: JobSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, value in spec.env.items():
        if isinstance(value, EnvSource):
            ref, kind = (
                (value.secret, "secretKeyRef")
                if value.secret
                else (value.config_map, "configMapKeyRef")
            )
            assert ref is not None  # validation requires exactly one
            source: dict[str, Any] = {"name": ref.name, "key": ref.key}
            if ref.optional:
                source["optional"] = True
            out.append({"name": name, "valueFrom": {kind: source}})
        else:
            out.append({"name": name, "value": value})
    return out


def _env_from(spec: JobSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for source in spec.env_from:
        entry: dict[str, Any] = (
            {"secretRef": {"name": source.secret}}
            if source.secret
            else {"configMapRef": {"name": source.config_map}}
        )
        if source.prefix:
            entry["prefix"] = source.prefix
        out.append(entry)
    return out


def _resources(spec: JobSpec) -> dict[str, Any]:
    if spec.resources is None:
        return {}
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        quantities = getattr(spec.resources, part)
        if quantities is not None:
            values = {k: v for k in ("cpu", "memory") if (v := getattr(quantities, k)) is not None}
            if values:
                out[part] = values
    return out


def _container(spec: JobSpec) -> dict[str, Any]:
    container: dict[str, Any] = {"name": spec.name, "image": spec.image}
    optional = {
        "command": spec.command,
        "args": spec.args,
        "env": _env(spec),
        "envFrom": _env_from(spec),
        "resources": _resources(spec),
        "imagePullPolicy": spec.image_pull_policy,
    }
    container.update({k: v for k, v in optional.items() if v})
    return container


def _pod_spec(spec: JobSpec) -> dict[str, Any]:
    pod: dict[str, Any] = {"restartPolicy": spec.restart_policy, "containers": [_container(spec)]}
    tolerations = [
        {
            k: v
            for k, v in {
                "key": t.key,
                "operator": t.operator,
                "value": t.value,
                "effect": t.effect,
                "tolerationSeconds": t.toleration_seconds,
            }.items()
            if v is not None
        }
        for t in spec.tolerations
    ]
    optional = {
        "serviceAccountName": spec.service_account,
        "imagePullSecrets": [{"name": s} for s in spec.image_pull_secrets],
        "nodeSelector": spec.node_selector,
        "tolerations": tolerations,
        "securityContext": spec.security_context,
    }
    pod.update({k: v for k, v in optional.items() if v})
    return pod


def system_labels(
    *, job_id: str | None, name: str, kind: str, attempt: int, cron_id: str | None = None
) -> dict[str, str]:
    """The labels kjs puts on every object it creates; user labels never override them."""
    labels = {MANAGED_BY: "kjs", JOB_NAME: name, KIND: kind, ATTEMPT: str(attempt)}
    if job_id is not None:
        labels[JOB_ID] = job_id
    if cron_id is not None:
        labels[CRON_ID] = cron_id
    return labels


def _job_spec(spec: JobSpec, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    job: dict[str, Any] = {"backoffLimit": spec.backoff_limit}
    optional = {
        "parallelism": spec.parallelism,
        "completions": spec.completions,
        "completionMode": spec.completion_mode,
        "activeDeadlineSeconds": spec.active_deadline_seconds,
        "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
    }
    job.update({k: v for k, v in optional.items() if v is not None})
    template_meta: dict[str, Any] = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    job["template"] = {"metadata": template_meta, "spec": _pod_spec(spec)}
    return job


def _metadata(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}


def render_job(
    spec: JobSpec,
    *,
    job_id: str,
    attempt: int = 1,
    cron_id: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `batch/v1` Job for one attempt of a job (or one run of a managed cron job)."""
    labels = {
        **spec.labels,
        **(extra_labels or {}),
        **system_labels(
            job_id=job_id,
            name=spec.name,
            kind="cron" if cron_id else "once",
            attempt=attempt,
            cron_id=cron_id,
        ),
    }
    annotations = {**spec.annotations, LOG_COLLECT: spec.log_collect}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(
            k8s_name(spec.name, job_id, attempt), spec.namespace, labels, annotations
        ),
        "spec": _job_spec(spec, labels, annotations),
    }


def render_cronjob(
    spec: CronSpec, *, cron_id: str, attempt: int = 1, extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The `batch/v1` CronJob of a native-mode cron job; its runs carry `kjs.io/cron-id`."""
    labels = {
        **spec.labels,
        **(extra_labels or {}),
        **system_labels(job_id=None, name=spec.name, kind="cron", attempt=attempt, cron_id=cron_id),
    }
    annotations = {**spec.annotations, LOG_COLLECT: spec.log_collect}
    cron: dict[str, Any] = {
        "schedule": spec.schedule,
        "suspend": spec.suspend,
        "concurrencyPolicy": spec.concurrency_policy,
        "jobTemplate": {
            "metadata": {"labels": labels, "annotations": annotations},
            "spec": _job_spec(spec, labels, annotations),
        },
    }
    if spec.time_zone:
        cron["timeZone"] = spec.time_zone
    if spec.starting_deadline_seconds is not None:
        cron["startingDeadlineSeconds"] = spec.starting_deadline_seconds
    name = k8s_name(spec.name, cron_id, attempt, cron=True)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(name, spec.namespace, labels, annotations),
        "spec": cron,
    }
