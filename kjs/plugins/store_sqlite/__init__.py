"""`store = "sqlite"`: the embedded store, one SQLite file in WAL mode."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

import sqlalchemy as sa

from kjs.core.backends import Backend, BuildContext
from kjs.core.config import Settings
from kjs.core.hookspecs import hookimpl
from kjs.sqlstore.store import SqlStore

# WAL: readers never block the writer. NORMAL: a process crash loses nothing committed (a power
# loss may lose the last transactions). Printed by bench/api_submit.py beside its figures.
SYNCHRONOUS = "NORMAL"
# Checkpoints (copying the WAL's pages into the database file) run in a thread of their own,
# every CHECKPOINT_EVERY_S, beside the writers: by SQLite's default the commit that takes the WAL
# past 1,000 pages does one before it returns, and a commit of many jobs' rows (17 indexes on
# `jobs`) often does. Writers still checkpoint past BACKSTOP_PAGES, should that thread fall
# behind. bench/sqlite_floor.py: about 4,000 → 5,000 jobs/s of SQL.
CHECKPOINT_EVERY_S = 0.2
BACKSTOP_PAGES = 10_000

log = logging.getLogger(__name__)


class Checkpointer:
    """The thread that checkpoints the database's WAL (PASSIVE: it never waits for, nor blocks,
    a reader or a writer); started by the first write, stopped when the engine is disposed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:  # (checked again under the lock: the usual case is free)
            return
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._run, name="sqlite checkpoints", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the writers' backstop checkpoints meanwhile
                    log.debug("WAL checkpoint of %s failed: %s", self.path, e)
        finally:
            conn.close()


def engine_for(path: str) -> sa.Engine:
    """A SQLite engine whose write transactions take the lock up front (BEGIN IMMEDIATE), and
    whose WAL is checkpointed beside them (`Checkpointer`)."""
    checkpointer = Checkpointer(path)
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
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("kjs_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
        if write:
            checkpointer.start()

    @sa.event.listens_for(engine, "engine_disposed")
    def _disposed(_engine: sa.Engine) -> None:
        checkpointer.stop()

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
