"""The original system's HTTP API on kjs (`/api/once_job/…`, `/api/cron_job/…`,
`/api/job_logs/…`): its request shapes, `{code, cause, error_msg, data}` envelope, states and
counters, and its labels on the Kubernetes objects. A built-in plugin, written as a third-party
one would be: it adds routes and a manifest hook, and uses kjs's services."""

from __future__ import annotations

from typing import Any

from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import JobView
from kjs.plugins.compat.translate import JOB_FROM


@hookimpl
def register_routes() -> list[Any]:
    from kjs.plugins.compat.routes import CronJobs, OnceJobs, job_logs_get, job_logs_post

    return [OnceJobs, CronJobs, job_logs_get, job_logs_post]


@hookimpl
def prepare_manifest(job: JobView, manifest: dict[str, Any]) -> None:
    """The original's `job_id` label (the id its clients know) beside its other labels."""
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    if labels.get("job_from") != JOB_FROM:
        return
    job_id = getattr(job, "cron_id", None) or job.id
    for meta in _metadatas(manifest):
        meta.setdefault("labels", {})["job_id"] = job_id


def _metadatas(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The metadata of the object and of every template inside it (Job or CronJob)."""
    found = [manifest["metadata"]]
    spec = manifest.get("spec", {})
    if "jobTemplate" in spec:
        found.append(spec["jobTemplate"].setdefault("metadata", {}))
        spec = spec["jobTemplate"].get("spec", {})
    if "template" in spec:
        found.append(spec["template"].setdefault("metadata", {}))
    return found
