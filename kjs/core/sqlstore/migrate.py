"""Alembic migrations, run programmatically (`kjs migrate`, `kjs migrate --sql`)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPTS = Path(__file__).parent / "migrations"
LOCK_WAIT_S = 300


def _config(url: str, *, output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to the newest schema."""
    config = _config(engine.url.render_as_string(hide_password=False))
    # The lock on a connection of its own, held until the migration's transaction has
    # committed: the next replica must see the new version row, not an uncommitted one.
    with (
        engine.connect() as lock,
        _one_at_a_time(lock, engine.url.database or ""),
        engine.begin() as conn,
    ):
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


@contextlib.contextmanager
def _one_at_a_time(conn: sa.Connection, database: str) -> Iterator[None]:
    """Server replicas that start together migrate in turn: the first one does the work, the
    others find the schema current. (MySQL/MariaDB named lock, held by this session; SQLite is
    one process's file.)"""
    if conn.dialect.name != "mysql":
        yield
        return
    name = f"kjs_migrate.{database}"[:64]
    got = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": LOCK_WAIT_S})
    if got.scalar() != 1:
        raise RuntimeError(
            f"another kjs process has held the migration lock {name!r} for {LOCK_WAIT_S} s"
        )
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def upgrade_sql(url: str) -> str:
    """The DDL that `upgrade` would run, for a DBA to review or apply (offline mode)."""
    output = io.StringIO()
    command.upgrade(_config(url, output=output), "head", sql=True)
    return output.getvalue()
