"""The Kubernetes objects kjs sends to clusters, after `prepare_manifest` plugins.

One path for Jobs and CronJobs: render the object, let plugins edit it, then put back what
tracking relies on. kjs's labels (and `kjs.io/` annotations) are restored on every level
whose labels Kubernetes copies onto what the agent watches: the object, and its templates (a
CronJob's Jobs take the job template's labels, their pods the pod template's), and the
object's name and namespace are forced back, since the server fences and deletes by them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from kjs.core import manifest as manifests
from kjs.core.models import CronSpec, JobSpec
from kjs.core.plugins import Plugins
from kjs.core.protocols import JobView
from kjs.core.records import CronRecord, JobRecord

# Where a Job's and a CronJob's metadata sit (object, job template, pod template).
JOB_LEVELS = (("metadata",), ("spec", "template", "metadata"))
CRONJOB_LEVELS = (
    ("metadata",),
    ("spec", "jobTemplate", "metadata"),
    ("spec", "jobTemplate", "spec", "template", "metadata"),
)
_CRON_ONLY = {
    "schedule",
    "time_zone",
    "mode",
    "suspend",
    "concurrency_policy",
    "start_at",
    "starting_deadline_seconds",
}


def job_spec_of(spec: CronSpec) -> JobSpec:
    """The job template of a cron job."""
    fields = {k: v for k, v in msgspec.to_builtins(spec).items() if k not in _CRON_ONLY}
    return msgspec.convert(fields, JobSpec)


def cron_as_job(cron: CronRecord) -> JobRecord:
    """A native cron job as plugins and the balancer see it: a job whose spec is its template."""
    return JobRecord(
        id=cron.id,
        spec=job_spec_of(cron.spec),
        attempt=cron.attempt,
        cluster_id=cron.cluster_id,
        k8s_name=cron.k8s_name,
        created_at=cron.created_at,
        updated_at=cron.updated_at,
    )


def render_for_dispatch(job: JobRecord, plugins: Plugins) -> dict[str, Any]:
    """The Kubernetes Job for the job's current attempt, after `prepare_manifest` plugins."""
    return _after_plugins(
        lambda: manifests.render_job(
            job.spec, job_id=job.id, attempt=job.attempt, cron_id=job.cron_id
        ),
        JOB_LEVELS,
        job,
        plugins,
        name=job.k8s_name,
        namespace=job.spec.namespace,
    )


def render_cronjob_for_dispatch(cron: CronRecord, plugins: Plugins) -> dict[str, Any]:
    """The Kubernetes CronJob for a native cron job's current attempt, after `prepare_manifest`
    plugins (which see the cron job as a job: `cron_as_job`)."""
    return _after_plugins(
        lambda: manifests.render_cronjob(cron.spec, cron_id=cron.id, attempt=cron.attempt),
        CRONJOB_LEVELS,
        cron_as_job(cron),
        plugins,
        name=cron.k8s_name,
        namespace=cron.spec.namespace,
    )


def _after_plugins(
    render: Callable[[], dict[str, Any]],
    levels: tuple[tuple[str, ...], ...],
    job: JobView,
    plugins: Plugins,
    *,
    name: str,
    namespace: str,
) -> dict[str, Any]:
    manifest = render()
    owned = [_system(_at(manifest, level)) for level in levels]
    plugins.prepare_manifest(job, manifest)
    # Plugins may add, never take away or change, what tracking relies on: kjs's labels are
    # exactly what kjs rendered (an added `kjs.io/job-id` would give every run of a CronJob
    # the same id), its annotations are put back.
    for level, (labels, notes) in zip(levels, owned, strict=True):
        meta = _at(manifest, level)
        kept = {k: v for k, v in (meta.get("labels") or {}).items() if not _owned(k)}
        meta["labels"] = {**kept, **labels}
        if notes:
            meta["annotations"] = {**(meta.get("annotations") or {}), **notes}
    manifest["metadata"]["name"] = name
    manifest["metadata"]["namespace"] = namespace
    return manifest


def _owned(key: str) -> bool:
    return key.startswith(manifests.RESERVED_LABEL_PREFIXES) or key in manifests.RESERVED_LABELS


def _system(meta: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """kjs's own labels and annotations on one level, as rendered."""
    return (
        {k: v for k, v in (meta.get("labels") or {}).items() if _owned(k)},
        {k: v for k, v in (meta.get("annotations") or {}).items() if _owned(k)},
    )


def _at(manifest: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The dict at `path`, created if a plugin removed it (or set it to null)."""
    node = manifest
    for key in path:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    return node
