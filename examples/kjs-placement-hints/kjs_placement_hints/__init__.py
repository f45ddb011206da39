"""Placement hints: send a namespace's jobs to a cluster of your choice and give pods a priority
class and labels — once `[placement_hints] enabled = true`. Installed and not enabled, it does
nothing.

A hook-only plugin: it registers no backend, so it reads its section in `configure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec import Struct, field

from kjs.core.backends import SettingsSection
from kjs.core.config import Settings
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import ClusterView, JobView

SECTION = "placement_hints"


class PlacementHintSettings(Struct, forbid_unknown_fields=True):
    """`[placement_hints]`."""

    enabled: bool = False
    # namespace -> cluster id: that namespace's jobs go to that cluster when it is ready, unless
    # a job names its own route (`cluster`, `cluster_selector`)
    prefer: dict[str, str] = field(default_factory=dict)
    priority_class: str = ""  # the pods' priorityClassName ("": left alone)
    labels: dict[str, str] = field(default_factory=dict)  # added to the pods' labels


class PlacementHints:
    """The plugin (the entry point is its one instance, `plugin`)."""

    def __init__(self) -> None:
        self.settings = PlacementHintSettings()  # disabled until configured otherwise

    @hookimpl
    def register_settings(self) -> list[SettingsSection]:
        return [SettingsSection(SECTION, PlacementHintSettings, "namespace routes, pod priority")]

    @hookimpl
    def configure(self, settings: Settings) -> None:
        self.settings = settings.section(SECTION, PlacementHintSettings)

    @hookimpl
    def select_cluster(self, job: JobView, clusters: Sequence[ClusterView]) -> str | None:
        hints = self.settings
        if not hints.enabled or job.spec.cluster is not None or job.spec.cluster_selector:
            return None
        wanted = hints.prefer.get(job.spec.namespace)
        return wanted if any(cluster.id == wanted for cluster in clusters) else None

    @hookimpl
    def prepare_manifest(self, job: JobView, manifest: dict[str, Any]) -> None:
        hints = self.settings
        if not hints.enabled:
            return
        spec = manifest["spec"]
        # A Job's pods, or a CronJob's: its job template's.
        template = (spec["jobTemplate"]["spec"] if manifest["kind"] == "CronJob" else spec)[
            "template"
        ]
        if hints.priority_class:
            template["spec"]["priorityClassName"] = hints.priority_class
        if hints.labels:
            metadata = template.setdefault("metadata", {})
            metadata["labels"] = {**(metadata.get("labels") or {}), **hints.labels}


plugin = PlacementHints()
