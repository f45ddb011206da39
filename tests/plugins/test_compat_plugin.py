"""The compat plugin is a plugin like any other: its settings section (`[compat]`, with `[auth]
compat_open` still accepted as `[compat] open`), and kjs without it — no routes, no table, its
settings ignored with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from kjs.core.config import load
from kjs.core.plugins import Plugins
from kjs.plugins.compat.settings import CompatSettings, compat_settings
from kjs.server import create_app


def test_the_compat_section_is_the_plugins() -> None:
    settings = load(
        environ={"KJS_COMPAT__DELETE_WAIT_S": "5"},
        overrides={"compat": {"open": True, "open_namespaces": ["legacy"]}},
    )
    assert compat_settings(settings) == CompatSettings(
        open=True, delete_wait_s=5.0, open_namespaces=["legacy"]
    )
    assert "compat" not in settings.__struct_fields__  # not one of kjs's own keys


@pytest.mark.parametrize(
    "environ, overrides",
    [
        ({}, {"auth": {"compat_open": True}}),
        ({"KJS_AUTH__COMPAT_OPEN": "true"}, {}),
    ],
)
def test_the_old_key_auth_compat_open_is_still_accepted(
    environ: dict[str, str], overrides: dict[str, object], tmp_path: Path
) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text('[auth]\ncompat_open = true\n[compat]\nopen_namespaces = ["legacy"]\n')
    for settings in (load(environ=environ, overrides=overrides), load(config, environ={})):
        assert compat_settings(settings).open is True
        assert not hasattr(settings.auth, "compat_open")


def test_the_new_key_wins_over_the_old_one() -> None:
    settings = load(
        environ={}, overrides={"auth": {"compat_open": True}, "compat": {"open": False}}
    )
    assert compat_settings(settings).open is False


def test_without_the_compat_plugin_there_is_no_compat_route_table_or_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = Plugins(disabled=["compat"], autoload=False)  # KJS_DISABLE_PLUGINS=compat
    config = tmp_path / "kjs.toml"
    config.write_text("[compat]\ndelete_wait_s = 5\n[auth]\ncompat_open = true\n")
    with caplog.at_level(logging.WARNING):
        settings = load(config, environ={}, overrides={"data_dir": str(tmp_path)}, plugins=plugins)
    assert "[compat]: ignored: plugin kjs.plugins.compat is disabled (KJS_DISABLE_PLUGINS)" in (
        caplog.text
    )
    assert "[auth] compat_open: ignored: plugin kjs.plugins.compat is disabled" in caplog.text
    assert "kjs.plugins.compat" not in [p.name for p in plugins.plugins()]
    app = create_app(settings, plugins=plugins)
    paths = {route.path for route in app.routes}
    assert not [p for p in paths if p.startswith(("/api/once_job", "/api/cron_job", "/api/job_"))]
    with TestClient(app) as client:
        assert client.get("/api/once_job/lists").status_code == 404
        assert client.get("/api/v1/jobs").status_code == 200
        schema = client.get("/schema/openapi.json").json()
        assert not [p for p in schema["paths"] if p.startswith("/api/once_job")]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'kjs.db'}")
    try:
        tables = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert "jobs" in tables and "compat_jobs" not in tables


def test_with_the_compat_plugin_its_routes_and_table_are_there(tmp_path: Path) -> None:
    plugins = Plugins(autoload=False, disabled=[])
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)}, plugins=plugins)
    app = create_app(settings, plugins=plugins)
    with TestClient(app) as client:
        assert client.get("/api/once_job/lists").json()["code"] == 200  # the original's "ok"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'kjs.db'}")
    try:
        assert "compat_jobs" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
