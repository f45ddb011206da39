"""Alembic migrations, run programmatically (`kjs migrate`, `kjs migrate --sql`).

kjs's own revisions are one branch; each plugin that owns tables brings a branch of its own
(`register_migrations`), all in the one `alembic_version` table. An upgrade brings kjs's branch
and every enabled plugin's to their heads; a disabled plugin's branch is known (so that the
database's version rows still read) and left where it is."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

SCRIPTS = Path(__file__).parent / "migrations"
LOCK_WAIT_S = 300


def _config(
    url: str, branches: Sequence[Path] = (), *, output: io.StringIO | None = None
) -> Config:
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    locations = [SCRIPTS / "versions", *branches]
    config.set_main_option(
        "version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations)
    )
    return config


def _targets(config: Config, disabled: Sequence[Path]) -> list[str]:
    """The heads to upgrade to: every head but those of disabled plugins' branches."""
    script = ScriptDirectory.from_config(config)
    skipped = {Path(p).resolve() for p in disabled}
    targets = []
    for head in script.get_heads():
        revision = script.get_revision(head)
        if revision is None or Path(revision.path).resolve().parent not in skipped:
            targets.append(head)
    return targets


def upgrade(
    engine: sa.Engine, branches: Sequence[Path] = (), disabled: Sequence[Path] = ()
) -> None:
    """Bring the database to the newest schema: kjs's own and that of the plugins' `branches`
    (the `disabled` plugins' branches known, not upgraded)."""
    config = _config(engine.url.render_as_string(hide_password=False), [*branches, *disabled])
    # The lock on a connection of its own, held until the migration's transaction has
    # committed: the next replica must see the new version row, not an uncommitted one.
    with (
        engine.connect() as lock,
        _one_at_a_time(lock, engine.url.database or ""),
        engine.begin() as conn,
    ):
        config.attributes["connection"] = conn
        for target in _targets(config, disabled):
            command.upgrade(config, target)


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


def upgrade_sql(url: str, branches: Sequence[Path] = ()) -> str:
    """The DDL that `upgrade` would run on a new database, kjs's own tables and those of the
    plugins' `branches`, for a DBA to review or apply (offline mode)."""
    output = io.StringIO()
    command.upgrade(_config(url, branches, output=output), "heads", sql=True)
    return output.getvalue()
