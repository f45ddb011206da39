"""The log-sink contract (`kjs.testing.contracts.log_sink`) over every built-in sink: `db` on
SQLite and on the real MariaDB of the test env, and `memory`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kjs.core.backends import BuildContext
from kjs.core.config import ConfigError, load
from kjs.core.plugins import Plugins
from kjs.core.protocols import LogSink
from kjs.plugins.logs_db import DbLogSink
from kjs.plugins.logs_memory import MemoryLogSink
from kjs.plugins.store_mysql import engine_for as mysql_engine
from kjs.plugins.store_sqlite import engine_for as sqlite_engine
from kjs.sqlstore import tables
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.log_sink import LogSinkContract


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("logs") / "kjs.db"
        store = SqlStore(sqlite_engine(str(path)), describe="sqlite")
        store.migrate()
        yield store
        store.close()
        return
    admin_url = request.getfixturevalue("mysql_env")["admin_url"]
    database = f"kjs_logs_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database} CHARACTER SET utf8mb4"))
    store = SqlStore(mysql_engine(admin_url + database), describe="mysql")
    store.migrate()
    yield store
    store.close()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE {database}"))
    admin.dispose()


class TestDbLogSink(LogSinkContract):
    @pytest.fixture
    def log_sink(self, migrated: SqlStore) -> LogSink:
        with migrated.engine.begin() as conn:
            conn.execute(tables.job_logs.delete())
        return DbLogSink(migrated)


class TestMemoryLogSink(LogSinkContract):
    @pytest.fixture
    def log_sink(self) -> LogSink:
        return MemoryLogSink()


def test_the_db_sink_refuses_a_store_without_a_log_table() -> None:
    db = Plugins(autoload=False).backend("log_sink", "db")
    with pytest.raises(ConfigError, match='log_sink: "db" keeps logs in the store'):
        db.factory(BuildContext(settings=load(environ={}), store=object()))
