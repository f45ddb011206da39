"""Alembic migrations, run programmatically (`kjs migrate`, `kjs migrate --sql`)."""

from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPTS = Path(__file__).parent / "migrations"


def _config(url: str, *, output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to the newest schema."""
    config = _config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def upgrade_sql(url: str) -> str:
    """The DDL that `upgrade` would run, for a DBA to review or apply (offline mode)."""
    output = io.StringIO()
    command.upgrade(_config(url, output=output), "head", sql=True)
    return output.getvalue()
