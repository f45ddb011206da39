"""A plugin's own settings section: declared with `register_settings`, written as `[<section>]`
or `KJS_<SECTION>__KEY`, validated by the plugin's struct, read with `settings.section()`."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from msgspec import Struct

from kjs.core import components
from kjs.core.backends import Backend, BackendError, SettingsSection
from kjs.core.config import ConfigError, MysqlSettings, NsqSettings, load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins

OWN = "agent, auth, compat, dispatch, http, logging, logs, mysql, nsq, scheduling, sqlite, webhooks"


class FileLogSettings(Struct, forbid_unknown_fields=True):
    directory: str = "/var/log/kjs"
    keep_days: int = 30


class FileLogSink:
    def __init__(self, settings: FileLogSettings) -> None:
        self.settings = settings


class FileLogs:
    """A third-party log sink, as its author would write it."""

    @hookimpl
    def register_settings(self) -> list[SettingsSection]:
        return [SettingsSection("filelogs", FileLogSettings, "where logs are written")]

    @hookimpl
    def register_log_sinks(self) -> list[Backend]:
        def make(context: Any) -> FileLogSink:
            return FileLogSink(context.settings.section("filelogs", FileLogSettings))

        return [Backend("log_sink", "files", make)]


def plugins(**kwargs: Any) -> Plugins:
    kwargs.setdefault("disabled", [])  # the built-ins all there, whatever KJS_DISABLE_PLUGINS
    return Plugins(autoload=False, extra=[FileLogs()], **kwargs)


def toml(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "kjs.toml"
    config.write_text(textwrap.dedent(text))
    return config


def test_the_section_comes_from_the_file(tmp_path: Path) -> None:
    config = toml(tmp_path, '[filelogs]\ndirectory = "/data/logs"\n')
    s = load(config, environ={}, plugins=plugins())
    assert s.section("filelogs", FileLogSettings) == FileLogSettings("/data/logs", 30)


def test_the_environment_sets_and_overrides_the_section(tmp_path: Path) -> None:
    config = toml(tmp_path, '[filelogs]\ndirectory = "/data/logs"\nkeep_days = 7\n')
    env = {"KJS_FILELOGS__DIRECTORY": "/env/logs"}
    s = load(config, environ=env, plugins=plugins())
    assert s.section("filelogs", FileLogSettings) == FileLogSettings("/env/logs", 7)
    s = load(environ={"KJS_FILELOGS__KEEP_DAYS": "3"}, plugins=plugins())
    assert s.section("filelogs", FileLogSettings) == FileLogSettings("/var/log/kjs", 3)


def test_an_absent_section_is_the_schema_defaults() -> None:
    s = load(environ={}, plugins=plugins())
    assert s.section("filelogs", FileLogSettings) == FileLogSettings()


def test_the_plugin_backend_is_built_with_its_section(tmp_path: Path) -> None:
    config = toml(tmp_path, '[filelogs]\ndirectory = "/data/logs"\n')
    installed = plugins()
    s = load(
        config,
        environ={},
        overrides={"data_dir": str(tmp_path), "log_sink": "files"},
        plugins=installed,
    )
    sink = components.build(s, installed).log_sink
    assert isinstance(sink, FileLogSink) and sink.settings.directory == "/data/logs"


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[filelogs]\ndirectory = 5\n", {}, "filelogs.directory: Expected `str`, got `int`"),
        ("", {"KJS_FILELOGS__KEEP_DAYS": "soon"}, "filelogs.keep_days: Expected `int`, got `str`"),
        (
            "[filelogs]\ndirectroy = '/x'\n",
            {},
            "filelogs.directroy: Object contains unknown field `directroy`",
        ),
    ],
)
def test_a_value_that_does_not_fit_names_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load(toml(tmp_path, text), environ=environ, plugins=plugins())
    assert str(e.value) == message


def test_a_section_nothing_declares_in_the_file_is_one_line(tmp_path: Path) -> None:
    config = toml(tmp_path, '[filelog]\ndirectory = "/data/logs"\n')
    with pytest.raises(ConfigError) as e:
        load(config, environ={}, plugins=plugins())
    assert str(e.value) == (
        "[filelog]: no installed plugin declares this section "
        f"(installed sections: {OWN.replace('dispatch, ', 'dispatch, filelogs, ')})"
    )


def test_a_section_nothing_declares_in_the_environment_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        s = load(
            environ={"KJS_FILELOG__DIRECTORY": "/x", "KJS_COLOUR": "red", "KJS_PORT": "9000"},
            plugins=plugins(),
        )
    assert s.port == 9000 and s.section("filelogs", FileLogSettings) == FileLogSettings()
    (record,) = caplog.records
    assert record.getMessage() == (
        "ignoring unknown KJS_* environment variables: KJS_COLOUR, KJS_FILELOG__DIRECTORY "
        "([filelog]: no installed plugin declares this section; installed sections: "
        f"{OWN.replace('dispatch, ', 'dispatch, filelogs, ')})"
    )


def test_without_plugins_given_load_asks_the_installed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `kjs server` does: the plugins are found from the entry points."""

    class EntryPoint:
        name = "filelogs"
        dist = None

        def load(self) -> Any:
            return FileLogs()

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [EntryPoint()])
    config = toml(tmp_path, "[filelogs]\nkeep_days = 2\n")
    s = load(config, environ={})
    assert s.section("filelogs", FileLogSettings) == FileLogSettings(keep_days=2)
    with pytest.raises(ConfigError, match=r"^\[filelogs\]: no installed plugin declares"):
        load(config, environ={"KJS_DISABLE_PLUGIN_AUTOLOAD": "1"})


def test_a_disabled_plugins_section_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = toml(tmp_path, "[filelogs]\ndirectory = 5\n")  # not even validated
    with caplog.at_level(logging.WARNING):
        s = load(
            config,
            environ={"KJS_FILELOGS__KEEP_DAYS": "2"},
            plugins=plugins(disabled=["FileLogs"]),
        )
    assert s.section("filelogs", FileLogSettings) == FileLogSettings()
    assert [r.getMessage() for r in caplog.records] == [
        "[filelogs]: ignored: plugin FileLogs is disabled (KJS_DISABLE_PLUGINS)"
    ]


def test_a_disabled_entry_points_section_is_ignored_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Disabled:
        name = "filelogs"
        dist = None

        def load(self) -> Any:
            raise AssertionError("a disabled plugin is imported")

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [Disabled()])
    with caplog.at_level(logging.WARNING):
        load(
            toml(tmp_path, "[filelogs]\nkeep_days = 2\n"),
            environ={"KJS_DISABLE_PLUGINS": "filelogs"},
        )
    assert [r.getMessage() for r in caplog.records] == [
        "[filelogs]: ignored: plugin filelogs is disabled (KJS_DISABLE_PLUGINS)"
    ]


def test_a_disabled_builtins_section_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"KJS_NSQ__NSQD_HTTP": '["nsqd:4151"]', "KJS_MYSQL__URL": "mysql+pymysql://a@b/c"}
    with caplog.at_level(logging.WARNING):
        s = load(environ={**env, "KJS_DISABLE_PLUGINS": "kjs.plugins.queue_nsq"})
    assert s.nsq == NsqSettings() and s.mysql.url == "mysql+pymysql://a@b/c"
    assert [r.getMessage() for r in caplog.records] == [
        "[nsq]: ignored: plugin kjs.plugins.queue_nsq is disabled (KJS_DISABLE_PLUGINS)"
    ]
    assert load(environ=env).nsq.nsqd_http == ["nsqd:4151"]  # enabled: as always


def test_builtins_declare_their_sections_and_read_them_the_same_way() -> None:
    sections = {info.name: info.sections for info in Plugins(autoload=False).plugins()}
    assert sections["kjs.plugins.store_mysql"] == ["mysql"]
    assert sections["kjs.plugins.queue_nsq"] == ["nsq"]
    s = load(environ={"KJS_MYSQL__POOL_SIZE": "3"})
    assert s.section("mysql", MysqlSettings) is s.mysql and s.mysql.pool_size == 3


def test_two_plugins_declaring_one_section_are_refused_naming_both() -> None:
    class Rival:
        @hookimpl
        def register_settings(self) -> list[SettingsSection]:
            return [SettingsSection("filelogs", FileLogSettings)]

    with pytest.raises(BackendError) as e:
        Plugins(autoload=False, extra=[FileLogs(), Rival()])
    assert str(e.value) == (
        "settings section [filelogs] is declared twice: by FileLogs ((inline)) and by "
        "Rival ((inline))"
    )


@pytest.mark.parametrize("name", ["auth", "store", "mysql"])
def test_a_plugin_cannot_take_one_of_kjss_own_keys(name: str) -> None:
    class Usurper:
        @hookimpl
        def register_settings(self) -> list[SettingsSection]:
            return [SettingsSection(name, FileLogSettings)]

    with pytest.raises(BackendError) as e:
        Plugins(autoload=False, extra=[Usurper()], disabled=["kjs.plugins.store_mysql"])
    assert str(e.value) == (
        f"settings section [{name}] of plugin Usurper ((inline)) is one of kjs's own keys"
    )


@pytest.mark.parametrize("name", ["FileLogs", "file__logs", "file-logs", "2logs", ""])
def test_a_section_name_must_work_in_toml_and_the_environment(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase name"):
        SettingsSection(name, FileLogSettings)


# -- `kjs server`, with a plugin installed the way a user installs one ---------------------------

PLUGIN = """
from msgspec import Struct

from kjs.core.backends import SettingsSection
from kjs.core.hookspecs import hookimpl


class FileLogSettings(Struct, forbid_unknown_fields=True):
    directory: str = "/var/log/kjs"


@hookimpl
def register_settings():
    return [SettingsSection("filelogs", FileLogSettings)]
"""


@pytest.fixture
def installed_plugin(tmp_path: Path) -> dict[str, str]:
    """The environment of a process with a third-party plugin installed (its distribution's
    metadata and entry point on the path, ahead of an installed kjs-filelogs), and no other
    KJS_* variable but the one that turns off other outside plugins installed here."""
    site = tmp_path / "site"
    (site / "kjs_filelogs-0.1.dist-info").mkdir(parents=True)
    (site / "kjs_filelogs-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kjs-filelogs\nVersion: 0.1\n"
    )
    (site / "kjs_filelogs-0.1.dist-info" / "entry_points.txt").write_text(
        "[kjs]\nfilelogs = kjs_filelogs\n"
    )
    (site / "kjs_filelogs.py").write_text(PLUGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KJS_")}
    # The only one: other outside plugins installed here (the examples, `.ci/run`) are off.
    others = {ep.name for ep in importlib.metadata.entry_points(group="kjs")} - {"filelogs"}
    if others:
        env["KJS_DISABLE_PLUGINS"] = ",".join(sorted(others))
    return {**env, "PYTHONPATH": str(site)}


def kjs_server(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kjs", "server", "--data-dir", str(tmp_path / "data"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,  # a process that starts serving instead fails the test
    )


@pytest.mark.parametrize(
    ("text", "variables", "line"),
    [
        (
            "[filelogs]\ndirectory = 5\n",
            {},
            "kjs: configuration: filelogs.directory: Expected `str`, got `int`",
        ),
        (
            "",
            {"KJS_FILELOGS__DIRECTORY": "[1, 2]"},
            "kjs: configuration: filelogs.directory: Expected `str`, got `array`",
        ),
        (
            "[filelog]\ndirectory = '/x'\n",
            {},
            "kjs: configuration: [filelog]: no installed plugin declares this section "
            f"(installed sections: {OWN.replace('dispatch, ', 'dispatch, filelogs, ')})",
        ),
    ],
)
def test_kjs_server_stops_on_a_bad_plugin_section(
    tmp_path: Path,
    installed_plugin: dict[str, str],
    text: str,
    variables: dict[str, str],
    line: str,
) -> None:
    config = toml(tmp_path, text)
    done = kjs_server(tmp_path, {**installed_plugin, **variables}, "--config", str(config))
    assert (done.returncode, done.stderr.strip()) == (2, line)
