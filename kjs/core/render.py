"""The Kubernetes objects kjs sends to clusters, after `prepare_manifest` plugins."""

from __future__ import annotations

from typing import Any

from kjs.core import manifest as manifests
from kjs.core.plugins import Plugins
from kjs.core.records import JobRecord


def render_for_dispatch(job: JobRecord, plugins: Plugins) -> dict[str, Any]:
    """The Kubernetes Job for the job's current attempt, after `prepare_manifest` plugins."""
    manifest = manifests.render_job(
        job.spec, job_id=job.id, attempt=job.attempt, cron_id=job.cron_id
    )
    labels = dict(manifest["metadata"]["labels"])
    plugins.prepare_manifest(job, manifest)
    # Plugins may add, never take away or change, what tracking relies on.
    system = {
        k: v for k, v in labels.items() if k.startswith("kjs.io/") or k == manifests.MANAGED_BY
    }
    manifest["metadata"].setdefault("labels", {}).update(system)
    template = manifest["spec"]["template"].setdefault("metadata", {})
    template.setdefault("labels", {}).update(system)
    manifest["metadata"]["name"] = job.k8s_name
    manifest["metadata"]["namespace"] = job.spec.namespace
    return manifest
