"""A plugin's own tables: its Alembic branch (`register_migrations`) beside kjs's, on SQLite
and on the real MariaDB of the test env."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.sqlstore.migrate import upgrade_sql
from kjs.sqlstore.store import SqlStore

REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "notes_0001"
down_revision = None
branch_labels = ("notes",)


def upgrade() -> None:
    op.create_table(
        "notes_by_job",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notes_by_job")
"""


class Notes:
    """A plugin that keeps a table of its own."""

    def __init__(self, versions: Path) -> None:
        self.versions = versions

    @hookimpl
    def register_migrations(self) -> Path:
        return self.versions


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    path = tmp_path / "notes_migrations"
    path.mkdir()
    (path / "notes_0001_notes.py").write_text(REVISION)
    return path


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _versions(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_a_plugins_branch_is_migrated_beside_kjss_own_and_kept_when_it_is_disabled(
    engine: sa.Engine, versions: Path
) -> None:
    plugin = Notes(versions)
    enabled = Plugins(builtins=(), autoload=False, extra=[plugin])
    store = SqlStore(engine, describe="test", plugins=enabled)
    store.migrate()
    assert {"jobs", "notes_by_job"} <= _tables(engine)
    assert "notes_0001" in _versions(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO notes_by_job VALUES ('j1', 'kept')"))

    # Disabled: its branch is known but not touched; migrating again works and loses nothing.
    disabled = Plugins(builtins=(), autoload=False, extra=[plugin], disabled=["Notes"])
    assert disabled.migrations() == [] and disabled.disabled_migrations() == [versions]
    SqlStore(engine, describe="test", plugins=disabled).migrate()
    store.migrate()  # and enabled again
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT note FROM notes_by_job")).scalars().all() == ["kept"]


def test_a_disabled_plugins_tables_are_never_made(engine: sa.Engine, versions: Path) -> None:
    disabled = Plugins(builtins=(), autoload=False, extra=[Notes(versions)], disabled=["Notes"])
    SqlStore(engine, describe="test", plugins=disabled).migrate()
    assert "jobs" in _tables(engine) and "notes_by_job" not in _tables(engine)


def test_the_printed_ddl_has_the_plugins_tables(tmp_path: Path, versions: Path) -> None:
    plugins = Plugins(builtins=(), autoload=False, extra=[Notes(versions)])
    ddl = upgrade_sql(f"sqlite:///{tmp_path / 'kjs.db'}", plugins.migrations())
    assert "CREATE TABLE jobs" in ddl and "CREATE TABLE notes_by_job" in ddl


def test_a_branch_that_is_no_directory_names_the_plugin(tmp_path: Path) -> None:
    from kjs.core.backends import BackendError

    plugins = Plugins(builtins=(), autoload=False, extra=[Notes(tmp_path / "missing")])
    with pytest.raises(BackendError, match=r"plugin Notes returned .* from register_migrations"):
        plugins.migrations()
