"""One render path for Jobs and CronJobs: `prepare_manifest` plugins edit the object, kjs puts
back what tracking relies on (its labels on every level, the object's name and namespace)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from kjs.core import manifest as manifests
from kjs.core.hookspecs import hookimpl
from kjs.core.models import CronSpec, JobSpec
from kjs.core.plugins import Plugins
from kjs.core.records import CronRecord, JobRecord
from kjs.core.render import (
    CRONJOB_LEVELS,
    JOB_LEVELS,
    render_cronjob_for_dispatch,
    render_for_dispatch,
)

JOB_ID = "0f8c2a4e-1b7d-4c39-9a51-6e2f0d3b8c71"
CRON_ID = "7a3d9c10-4e2b-4f6a-8d1c-2b9e0f7a6c55"
AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
USER = {"team": "ops"}


def _metadatas(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metadata a plugin can reach: the object's and its templates'."""
    spec = manifest["spec"]
    found = [manifest["metadata"]]
    if "jobTemplate" in spec:
        found.append(spec["jobTemplate"]["metadata"])
        spec = spec["jobTemplate"]["spec"]
    found.append(spec["template"]["metadata"])
    return found


class StripLabels:
    """Deletes every label (and annotation), everywhere."""

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        for meta in _metadatas(manifest):
            meta.pop("labels", None)
            meta["annotations"] = None


class Rename:
    """Renames and moves the object, and rewrites kjs's labels."""

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        manifest["metadata"]["name"] = "renamed"
        manifest["metadata"]["namespace"] = "elsewhere"
        for meta in _metadatas(manifest):
            meta["labels"] = {manifests.JOB_ID: "tampered", manifests.MANAGED_BY: "someone"}


class DropTemplates:
    """Removes the templates' metadata altogether."""

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        spec = manifest["spec"]
        if "jobTemplate" in spec:
            del spec["jobTemplate"]["metadata"]
            spec = spec["jobTemplate"]["spec"]
        del spec["template"]["metadata"]


class AddsThings:
    """What plugins are for: additions, which stay."""

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        for meta in _metadatas(manifest):
            meta["labels"]["added"] = "yes"
        manifest["metadata"]["labels"]["team"] = "changed"  # a user label is the plugin's to edit


def job() -> JobRecord:
    spec = msgspec.convert(
        {"name": "backup", "namespace": "ops", "image": "alpine", "labels": USER}, JobSpec
    )
    return JobRecord(
        id=JOB_ID,
        spec=spec,
        attempt=2,
        k8s_name=manifests.k8s_name("backup", JOB_ID, 2),
        created_at=AT,
        updated_at=AT,
    )


def cron() -> CronRecord:
    spec = msgspec.convert(
        {
            "name": "nightly",
            "namespace": "ops",
            "image": "alpine",
            "schedule": "0 3 * * *",
            "labels": USER,
            "log_collect": "always",
        },
        CronSpec,
    )
    return CronRecord(
        id=CRON_ID,
        spec=spec,
        attempt=3,
        k8s_name=manifests.k8s_name("nightly", CRON_ID, 3, cron=True),
        created_at=AT,
        updated_at=AT,
    )


def _level(manifest: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = manifest
    for key in path:
        node = node[key]
    return node


def _system(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith("kjs.io/") or k == manifests.MANAGED_BY}


def _rendered(kind: str, plugin: object | None) -> tuple[dict[str, Any], tuple[Any, ...]]:
    plugins = Plugins(autoload=False, extra=[plugin] if plugin else [])
    if kind == "job":
        return render_for_dispatch(job(), plugins), JOB_LEVELS
    return render_cronjob_for_dispatch(cron(), plugins), CRONJOB_LEVELS


def _expected(kind: str) -> dict[str, str]:
    if kind == "job":
        return manifests.system_labels(job_id=JOB_ID, name="backup", kind="once", attempt=2)
    return manifests.system_labels(
        job_id=None, name="nightly", kind="cron", attempt=3, cron_id=CRON_ID
    )


@pytest.mark.parametrize("kind", ["job", "cronjob"])
def test_without_plugins_every_level_carries_kjs_labels(kind: str) -> None:
    manifest, levels = _rendered(kind, None)
    assert len(levels) == (2 if kind == "job" else 3)
    for level in levels:
        assert _level(manifest, level)["labels"] == {**USER, **_expected(kind)}


@pytest.mark.parametrize("kind", ["job", "cronjob"])
@pytest.mark.parametrize("plugin", [StripLabels(), Rename(), DropTemplates()], ids=type)
def test_kjs_labels_come_back_on_every_level_whatever_a_plugin_removes(
    kind: str, plugin: object
) -> None:
    manifest, levels = _rendered(kind, plugin)
    for level in levels:
        meta = _level(manifest, level)
        assert _system(meta["labels"]) == _expected(kind), level
        # The agent resumes log collection from this annotation: restored with the labels.
        log_collect = "on_failure" if kind == "job" else "always"
        assert meta["annotations"][manifests.LOG_COLLECT] == log_collect, level


@pytest.mark.parametrize("kind", ["job", "cronjob"])
def test_the_object_keeps_its_name_and_namespace(kind: str) -> None:
    manifest, _ = _rendered(kind, Rename())
    record = job() if kind == "job" else cron()
    assert manifest["metadata"]["name"] == record.k8s_name
    assert manifest["metadata"]["namespace"] == "ops"


@pytest.mark.parametrize("kind", ["job", "cronjob"])
def test_what_a_plugin_adds_or_changes_of_the_users_stays(kind: str) -> None:
    manifest, levels = _rendered(kind, AddsThings())
    for level in levels:
        assert _level(manifest, level)["labels"]["added"] == "yes"
    assert manifest["metadata"]["labels"]["team"] == "changed"


def test_a_cronjob_plugin_sees_the_cron_job_as_a_job() -> None:
    seen: list[Any] = []

    class Looks:
        @hookimpl
        def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
            seen.append((job.id, job.attempt, job.spec, manifest["kind"]))

    render_cronjob_for_dispatch(cron(), Plugins(autoload=False, extra=[Looks()]))
    ((job_id, attempt, spec, kind),) = seen
    assert (job_id, attempt, kind) == (CRON_ID, 3, "CronJob")
    assert type(spec) is JobSpec and spec.name == "nightly"
