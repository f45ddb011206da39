"""The SQLite store's WAL is checkpointed by a thread of its own, beside the writers (a commit no
longer copies the WAL into the database file itself), until the engine is disposed."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

from kjs.plugins.store_sqlite import CHECKPOINT_EVERY_S, engine_for
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import make_job


def checkpointers() -> int:
    return sum(t.name == "sqlite checkpoints" for t in threading.enumerate())


def test_what_is_written_reaches_the_database_file_without_more_writes(tmp_path: Path) -> None:
    path = tmp_path / "kjs.db"
    store = SqlStore(engine_for(str(path)), describe="sqlite")
    try:
        store.migrate()
        store.create_jobs([(make_job(n), None) for n in range(50)])  # a few pages of WAL
        # SQLite alone would copy them into the file only once 1,000 pages had been written
        # (by the commit that wrote the 1,000th): here they arrive without another write.
        deadline = time.monotonic() + 20 * CHECKPOINT_EVERY_S
        while not _file_holds_jobs(path, 50):
            assert time.monotonic() < deadline, "the WAL was not checkpointed"
            time.sleep(0.05)
    finally:
        store.close()


def test_disposing_the_engine_stops_its_checkpoints(tmp_path: Path) -> None:
    store = SqlStore(engine_for(str(tmp_path / "kjs.db")), describe="sqlite")
    store.migrate()
    store.create_jobs([(make_job(1), None)])
    running = checkpointers()
    assert running >= 1
    store.close()
    assert checkpointers() == running - 1


def _file_holds_jobs(path: Path, count: int) -> bool:
    """Whether the database file itself (its WAL ignored) holds `count` jobs: read from a copy of
    the file alone."""
    copy = path.with_name("copy.db")
    shutil.copyfile(path, copy)
    try:
        conn = sqlite3.connect(copy)
        try:
            found = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        except sqlite3.DatabaseError:  # the schema itself not in the file yet
            found = 0
        finally:
            conn.close()
        return bool(found == count)
    finally:
        copy.unlink()
