"""The hints as kjs applies them: `configure` from the settings, then kjs's own rendering."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
from kjs_placement_hints import PlacementHints

from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.records import ClusterRecord, JobRecord
from kjs.core.render import render_for_dispatch
from kjs.core.states import JobState


def job(namespace: str, **fields: Any) -> JobRecord:
    spec = msgspec.convert(
        {"name": "hinted", "namespace": namespace, "image": "busybox", **fields}, JobSpec
    )
    now = dt.datetime.now(dt.UTC)
    return JobRecord(
        id="6f1c2a4e-0000-4000-8000-000000000001",
        spec=spec,
        state=JobState.PENDING,
        attempt=1,
        k8s_name="hinted-6f1c2a4e",
        created_at=now,
        updated_at=now,
    )


CLUSTERS = [ClusterRecord(id="c1", capacity=10), ClusterRecord(id="c2", capacity=10)]


def configured(tmp_path: Path, **section: Any) -> Plugins:
    overrides: dict[str, Any] = {"data_dir": str(tmp_path)}
    if section:
        overrides["placement_hints"] = section
    plugins = Plugins(autoload=False, extra=[PlacementHints()])
    plugins.configure(load(environ={}, overrides=overrides, plugins=plugins))
    return plugins


def pod_spec(plugins: Plugins, record: JobRecord) -> dict[str, Any]:
    spec: dict[str, Any] = render_for_dispatch(record, plugins)["spec"]["template"]
    return spec


def test_without_its_section_it_has_no_opinion_and_changes_nothing(tmp_path: Path) -> None:
    plugins = configured(tmp_path)
    assert plugins.select_cluster(job("batch"), CLUSTERS) is None
    template = pod_spec(plugins, job("batch"))
    assert "priorityClassName" not in template["spec"]
    assert "team" not in template["metadata"]["labels"]


def test_enabled_it_routes_its_namespaces_and_marks_every_pod(tmp_path: Path) -> None:
    plugins = configured(
        tmp_path,
        enabled=True,
        prefer={"batch": "c2", "gone": "c9"},
        priority_class="batch-low",
        labels={"team": "data", "kjs.io/job-id": "forged"},
    )
    assert plugins.select_cluster(job("batch"), CLUSTERS) == "c2"
    assert plugins.select_cluster(job("other"), CLUSTERS) is None
    assert plugins.select_cluster(job("gone"), CLUSTERS) is None  # c9 is not ready
    assert plugins.select_cluster(job("batch", cluster="c1"), CLUSTERS) is None  # its own route
    template = pod_spec(plugins, job("other"))
    assert template["spec"]["priorityClassName"] == "batch-low"
    assert template["metadata"]["labels"]["team"] == "data"
    assert template["metadata"]["labels"]["kjs.io/job-id"] != "forged"  # kjs's own label stays


def test_present_but_not_enabled_it_does_nothing(tmp_path: Path) -> None:
    plugins = configured(tmp_path, prefer={"batch": "c2"}, priority_class="batch-low")
    assert plugins.select_cluster(job("batch"), CLUSTERS) is None
    assert "priorityClassName" not in pod_spec(plugins, job("batch"))["spec"]
