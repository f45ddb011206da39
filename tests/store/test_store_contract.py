"""The store contract suite (`kjs.testing.contracts.store`) over every built-in store: SQLite,
and the real MariaDB of the test env; then what is particular to them (SQL, Alembic, files)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from kjs.core.quantity import MAX_TOTAL
from kjs.core.states import JobState
from kjs.plugins.store_mysql import engine_for as mysql_engine
from kjs.plugins.store_sqlite import engine_for as sqlite_engine
from kjs.sqlstore import tables
from kjs.sqlstore.migrate import SCRIPTS
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import *  # noqa: F403
from kjs.testing.contracts.store import NOW, asking, make_job, routed, scoped
from tests.deployment import fresh_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "kjs.db"
        store = SqlStore(sqlite_engine(str(path)), describe="sqlite")
    else:
        admin_url = request.getfixturevalue("mysql_env")["admin_url"]
        database = f"kjs_contract_{secrets.token_hex(4)}"
        admin = sa.create_engine(admin_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {database} CHARACTER SET utf8mb4"))
        store = SqlStore(mysql_engine(admin_url + database), describe="mysql")
    store.migrate()
    yield store
    store.close()
    if request.param == "mysql":
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE {database}"))
        admin.dispose()


@pytest.fixture
def store(migrated: SqlStore) -> SqlStore:
    """What the contract suite needs: a migrated, empty store for each test."""
    with migrated.engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(table.delete())
    return migrated


def test_migrating_again_changes_nothing_and_the_schema_matches_the_tables(store: SqlStore) -> None:
    store.migrate()
    with store.engine.connect() as conn:
        assert schema_diff(conn, tables.metadata) == []


def schema_diff(conn: sa.Connection, metadata: sa.MetaData) -> list[Any]:
    """How the database's tables of `metadata` differ from it (other tables — plugins' own,
    kept by their migration branches — are theirs to check)."""

    def ours(name: str | None, kind: str, _parents: object) -> bool:
        return kind != "table" or name in metadata.tables

    context = MigrationContext.configure(conn, opts={"include_name": ours})
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


@contextlib.contextmanager
def empty_store(like: SqlStore, request: pytest.FixtureRequest, path: Path) -> Iterator[SqlStore]:
    """A store on a new, empty database of the same kind as `like`, not migrated."""
    with contextlib.ExitStack() as stack:
        if like.engine.dialect.name == "sqlite":
            store = SqlStore(sqlite_engine(str(path / "empty.db")), describe="sqlite")
        else:
            url = stack.enter_context(
                fresh_database(request.getfixturevalue("mysql_env")["admin_url"])
            )
            store = SqlStore(mysql_engine(url), describe="mysql")
        stack.callback(store.close)
        yield store


def _before_0010(row: dict[str, Any]) -> dict[str, Any]:
    """A job's row as a database older than revision 0010 (queues) holds it."""
    del row["queue"]
    del row["request_cpu_millis"], row["request_memory_bytes"]  # revision 0012's
    del row["priority"]  # revision 0014's
    del row["gang"]  # revision 0015's
    return row


def test_the_migration_gives_existing_unfinished_jobs_their_placement_key(
    request: pytest.FixtureRequest, migrated: SqlStore, tmp_path: Path
) -> None:
    jobs = [
        routed(1, "c1"),
        routed(2, ["c2", "c1"], selector={"zone": "a"}),
        routed(3),
        routed(4, "c1", state=JobState.SUCCEEDED),
    ]
    with empty_store(migrated, request, tmp_path) as store:
        # The revision before placement keys, with jobs in it.
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            for job in jobs:
                row = store._job_row(job)
                del row["placement_key"], row["queue"]  # the columns of revision 0003 only
                del row["request_cpu_millis"], row["request_memory_bytes"], row["priority"]
                del row["gang"]  # revision 0015's
                conn.execute(tables.jobs.insert(), row)
        store.migrate()
        with store.engine.connect() as conn:
            keys = dict(
                conn.execute(sa.select(tables.jobs.c.id, tables.jobs.c.placement_key)).all()
            )
        # As revision 0014 spells them: queue|namespace|priority|route.
        assert keys == {
            jobs[0].id: 'default|ops|0|{"c":"c1"}',
            jobs[1].id: 'default|ops|0|{"c":["c2","c1"],"s":{"zone":"a"}}',
            jobs[2].id: "default|ops|0|",
            jobs[3].id: None,  # finished: it gets one from update_job if it is ever rerun
        }
        due = store.due_jobs(NOW, 10, placement_key='default|ops|0|{"c":"c1"}')
        assert [j.id for j in due] == [jobs[0].id]


def test_the_migration_puts_existing_jobs_in_the_default_queue(
    request: pytest.FixtureRequest, migrated: SqlStore, tmp_path: Path
) -> None:
    jobs = [make_job(1), make_job(2, state=JobState.RUNNING, cluster_id="c1")]
    with empty_store(migrated, request, tmp_path) as store:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0008")  # the revision before queues
            for job in jobs:
                row = _before_0010(store._job_row(job))
                # The spec as an older kjs stored it: no `queue` in it either.
                row["spec"] = row["spec"].replace(',"queue":"default"', "")
                conn.execute(tables.jobs.insert(), row)
        store.migrate()
        with store.engine.connect() as conn:
            queues = dict(conn.execute(sa.select(tables.jobs.c.id, tables.jobs.c.queue)).all())
        assert queues == {job.id: "default" for job in jobs}
        assert [store.get_job(job.id).spec.queue for job in jobs] == ["default"] * 2  # type: ignore[union-attr]
        assert store.list_queues() == []  # `default` is the configuration's, never stored


def test_the_migration_gives_unfinished_jobs_their_requests_and_queue_keys(
    request: pytest.FixtureRequest, migrated: SqlStore, tmp_path: Path
) -> None:
    wide = asking(1, "500m", "1Gi", 3)  # pending: 1.5 CPU, 3Gi
    running = asking(2, None, None, None, state=JobState.RUNNING, cluster_id="c1")
    done = asking(3, "4", "4Gi", 1, state=JobState.SUCCEEDED, cluster_id="c1")
    # Accepted before amounts had a bound: counted as the default, the total clamped.
    huge = asking(4, "1e60", "8Ei", 2**31 - 1)
    jobs = [wide, running, done, huge]
    with empty_store(migrated, request, tmp_path) as store:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0011")  # the revision before requests
            for job in jobs:
                row = store._job_row(job)
                del row["request_cpu_millis"], row["request_memory_bytes"], row["priority"]
                del row["gang"]  # revision 0015's
                row["placement_key"] = ""  # as revision 0004 spelled "any cluster"
                conn.execute(tables.jobs.insert(), row)
        store.migrate()
        j = tables.jobs.c
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(j.id, j.request_cpu_millis, j.request_memory_bytes, j.placement_key)
            ).all()
            assert schema_diff(conn, tables.metadata) == []
        assert {r[0]: tuple(r[1:]) for r in rows} == {
            wide.id: (1500, 3 << 30, "default|ops|0|"),
            running.id: (100, 128 << 20, "default|ops|0|"),  # the built-in default
            done.id: (0, 0, ""),  # final: nothing counts it
            huge.id: (100 * (2**31 - 1), MAX_TOTAL, "default|ops|0|"),
        }
        assert store.due_placement_keys(NOW) == [("default|ops|0|", 2)]


def test_the_migration_unscopes_existing_idempotency_keys(
    request: pytest.FixtureRequest, migrated: SqlStore, tmp_path: Path
) -> None:
    old = make_job(1, idempotency_key="k1")
    with empty_store(migrated, request, tmp_path) as store:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(tables.jobs.insert(), _before_0010(store._job_row(old)))
            # Revision 0004: the key was unique across everyone.
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(
                    tables.jobs.insert(),
                    _before_0010(store._job_row(make_job(2, idempotency_key="k1"))),
                )
        store.migrate()
        assert store.get_job(old.id) == old  # kept, as sent, but in no scope
        assert store.get_job_by_idempotency(scoped("a").scope) is None
        again = store.create_job(make_job(2, idempotency_key="k1"), (), scoped("a"))
        assert again.id != old.id
        with store.engine.connect() as conn:
            assert schema_diff(conn, tables.metadata) == []


def test_the_store_file_is_where_the_settings_say(tmp_path: Path) -> None:
    from kjs.core.backends import BuildContext
    from kjs.core.config import load
    from kjs.plugins.store_sqlite import make_store

    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    store = make_store(BuildContext(settings))
    store.migrate()
    store.close()
    assert (tmp_path / "kjs.db").exists()
