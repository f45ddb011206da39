"""`store = "sqlite"`: the embedded store, one SQLite file in WAL mode."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kjs.core.backends import Backend, BuildContext
from kjs.core.config import Settings
from kjs.core.hookspecs import hookimpl
from kjs.sqlstore.store import SqlStore

# WAL: readers never block the writer. NORMAL: a process crash loses nothing committed (a power
# loss may lose the last transactions). Printed by bench/api_submit.py beside its figures.
SYNCHRONOUS = "NORMAL"


def engine_for(path: str) -> sa.Engine:
    """A SQLite engine whose write transactions take the lock up front (BEGIN IMMEDIATE)."""
    engine = sa.create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("kjs_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_store(context: BuildContext) -> SqlStore:
    settings: Settings = context.settings
    path = settings.data_path(settings.sqlite.path)
    return SqlStore(
        engine_for(str(path)),
        describe=f"SQLite at {path}",
        plugins=context.plugins,
        default_requests=settings.scheduling.default_requests.requests(),
    )


@hookimpl
def register_stores() -> list[Backend]:
    return [Backend("store", "sqlite", make_store, "embedded SQLite file (WAL)")]
