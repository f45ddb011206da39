"""The chart's `logging` values reach kjs's config file; its Grafana dashboard ConfigMap holds
dashboards/kjs.json as is, labelled for Grafana's sidecar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kjs.core.config import load
from tests.helm.chart import CHART, find, render


def config_file(values: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "kjs.toml"
    path.write_text(find(render(values), "ConfigMap", "r-kjs")["data"]["kjs.toml"])
    return path


def test_logs_are_json_at_info_by_default(tmp_path: Path) -> None:
    settings = load(config_file({}, tmp_path), environ={})
    assert (settings.logging.format, settings.logging.level) == ("json", "INFO")


def test_logging_values_set_the_format_and_level(tmp_path: Path) -> None:
    values = {"logging.format": "text", "logging.level": "DEBUG"}
    settings = load(config_file(values, tmp_path), environ={})
    assert (settings.logging.format, settings.logging.level) == ("text", "DEBUG")


def test_the_dashboard_configmap_is_off_by_default() -> None:
    assert not [o for o in render({}) if o["metadata"]["name"].endswith("-dashboard")]


def test_the_dashboard_configmap_holds_the_dashboard_for_grafanas_sidecar() -> None:
    dashboard = find(
        render({"grafana.dashboard.enabled": True}, namespace="kjs"), "ConfigMap", "-dashboard"
    )
    assert dashboard["data"] == {"kjs.json": (CHART / "dashboards" / "kjs.json").read_text()}
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "kjs"
    assert "annotations" not in dashboard["metadata"]


def test_the_dashboard_can_go_where_grafana_looks() -> None:
    values = {
        "grafana.dashboard.enabled": True,
        "grafana.dashboard.namespace": "monitoring",
        "grafana.dashboard.labels": {"dashboards": "kjs"},
        "grafana.dashboard.annotations": {"grafana_folder": "Batch"},
    }
    metadata = find(render(values), "ConfigMap", "-dashboard")["metadata"]
    assert metadata["namespace"] == "monitoring"
    assert metadata["labels"]["dashboards"] == "kjs"
    assert metadata["annotations"] == {"grafana_folder": "Batch"}
