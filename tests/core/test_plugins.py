"""The plugin manager: selection, duplicates, unknown names, broken entry points, hook overrides."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kjs.core import components, hookspecs
from kjs.core.backends import Backend, BackendError
from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.records import ClusterRecord


def test_builtin_backends_are_selected_by_name() -> None:
    plugins = Plugins(autoload=False)
    assert plugins.backend("store", "sqlite").name == "sqlite"
    assert plugins.backend_names("store") == ["mysql", "sqlite"]
    assert plugins.backend_names("queue") == ["memory", "nsq"]
    assert plugins.backend_names("election") == ["db", "lease", "single"]


def test_an_unknown_name_lists_what_is_installed() -> None:
    with pytest.raises(BackendError) as e:
        Plugins(autoload=False).backend("store", "postgres")
    assert str(e.value) == (
        "store = 'postgres': no such store backend is installed (installed: mysql, sqlite)"
    )


def test_two_plugins_registering_one_name_are_refused_naming_both() -> None:
    class Rival:
        @hookimpl
        def register_stores(self) -> list[Backend]:
            return [Backend("store", "sqlite", lambda c: None)]

    with pytest.raises(BackendError) as e:
        Plugins(autoload=False, extra=[Rival()])
    assert "store backend 'sqlite' is registered twice" in str(e.value)
    assert "kjs.plugins.store_sqlite (kjs)" in str(e.value) and "Rival ((inline))" in str(e.value)


def test_a_misspelled_hook_is_caught() -> None:
    class Typo:
        @hookimpl
        def register_store(self) -> list[Backend]:  # missing "s"
            return []

    with pytest.raises(Exception, match="register_store"):
        Plugins(autoload=False, extra=[Typo()])


def test_plugins_can_be_disabled_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KJS_DISABLE_PLUGINS", "kjs.plugins.store_mysql, kjs.plugins.queue_memory")
    plugins = Plugins(autoload=False)
    assert plugins.backend_names("store") == ["sqlite"]
    assert plugins.backend_names("queue") == ["nsq"]


class _BrokenEntryPoint:
    name = "broken"
    dist = None

    def load(self) -> Any:
        raise ImportError("No module named 'missing_dependency'")


class _GoodEntryPoint:
    name = "good"
    dist = None

    class module:
        @staticmethod
        @hookimpl
        def register_log_sinks() -> list[Backend]:
            return [Backend("log_sink", "s3", lambda c: None)]

    def load(self) -> Any:
        return self.module


def test_a_broken_entry_point_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def entry_points(group: str) -> list[Any]:
        assert group == "kjs"
        return [_BrokenEntryPoint(), _GoodEntryPoint()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with caplog.at_level(logging.ERROR):
        plugins = Plugins(autoload=True)
    assert "plugin broken from ? failed to load; skipped" in caplog.text
    assert plugins.backend_names("log_sink") == ["db", "memory", "s3"]
    monkeypatch.setenv("KJS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert Plugins().backend_names("log_sink") == ["db", "memory"]


def test_an_inline_plugin_overrides_placement_and_edits_the_manifest() -> None:
    class PinToGpu:
        @hookimpl
        def select_cluster(self, job: Any, clusters: list[Any]) -> str | None:
            if job.spec.namespace != "gpu":
                return None
            return next(c.id for c in clusters if c.labels.get("gpu") == "yes")

        @hookimpl
        def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
            manifest["spec"]["template"]["spec"]["priorityClassName"] = "batch-high"

    plugins = Plugins(autoload=False, extra=[PinToGpu()])
    clusters = [ClusterRecord(id="a", capacity=5), ClusterRecord(id="b", labels={"gpu": "yes"})]
    gpu_job = type(
        "J", (), {"spec": msgspec.convert({"name": "t", "namespace": "gpu", "image": "x"}, JobSpec)}
    )()
    other = type(
        "J", (), {"spec": msgspec.convert({"name": "t", "namespace": "ops", "image": "x"}, JobSpec)}
    )()
    assert plugins.select_cluster(gpu_job, clusters) == "b"
    assert plugins.select_cluster(other, clusters) is None
    manifest: dict[str, Any] = {"spec": {"template": {"spec": {}}}}
    plugins.prepare_manifest(gpu_job, manifest)
    assert manifest["spec"]["template"]["spec"]["priorityClassName"] == "batch-high"


def test_a_failing_state_listener_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        def on_job_state_changed(self, job: Any, old_state: str, new_state: str) -> None:
            raise RuntimeError("boom")

    class Listener:
        @hookimpl
        def on_job_state_changed(self, job: Any, old_state: str, new_state: str) -> None:
            seen.append(f"{old_state}->{new_state}")

    plugins = Plugins(autoload=False, extra=[Broken(), Listener()])
    plugins.job_state_changed(object(), "running", "succeeded")
    assert seen == ["running->succeeded"]
    assert "failed in on_job_state_changed" in caplog.text


def test_configure_gives_every_plugin_the_settings_and_a_failure_stops_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []

    class Broken:
        @hookimpl
        def configure(self, settings: Any) -> None:
            raise RuntimeError("boom")

    class Reader:
        @hookimpl
        def configure(self, settings: Any) -> None:
            seen.append(settings)

    # Hooks run last registered first: Broken fails before Reader is called.
    plugins = Plugins(autoload=False, extra=[Reader(), Broken()])
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    components.build(settings, plugins)
    assert seen == [settings]  # once, by the build
    assert "plugin Broken failed in configure" in caplog.text


def test_every_hook_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "plugin-hooks.md").read_text()
    documented = set(re.findall(r"^## (\w+)$", doc, re.M))
    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "kjs_spec")}
    assert specs == set(Plugins(autoload=False).hook_names())
    assert specs - documented == set(), "hooks missing from docs/plugin-hooks.md"
    assert documented - specs == set(), "docs/plugin-hooks.md documents hooks that do not exist"
