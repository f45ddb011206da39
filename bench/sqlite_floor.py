"""The floor under placements per second on SQLite: only the SQL statements a placed job's life
writes in kjs's schema, batched, with no kjs code running (issue 19, "Scale").

    python bench/sqlite_floor.py                       # 100,000 jobs, 500 per transaction
    python bench/sqlite_floor.py --jobs 20000 --batch 1000

A job placed and run writes, in kjs's store: its dispatch (the row to `dispatched`, its manifest,
its outbox message, its event), the relay's note that the message went, and each of the agent's
three answers (`created` — which also takes its outbox row away — `running`, `succeeded`: the
row and an event each). This writes exactly that, through Python's `sqlite3` with prepared
statements and `executemany`, `--batch` jobs per transaction (larger than kjs's groups get), on a
database kjs created (`SqlStore.migrate`: its tables, its 17 indexes on `jobs`, WAL, synchronous
NORMAL, the WAL checkpointed by a thread beside the writer as kjs's engine does) and filled
(`create_jobs`: `--jobs` pending jobs, before the clock starts). Each job's row is selected
before it is written, as kjs reads what it changes. kjs's own costs (the state
machine, rendering, the queue, the event loop) come on top of this.

Whatever kjs does in Python, one SQLite writer cannot place and follow jobs faster than this
figure on the same machine. `--merge-created-running` writes `created` and `running` as one row
change (kjs does so when both answers arrive in one group), for the floor with that saving.

Prints a line per phase; the last line is one JSON object (`jobs_per_s`, `us_per_job`, and per
phase its microseconds per job).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from kjs.core import components
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.render import render_for_dispatch
from kjs.plugins.store_sqlite import BACKSTOP_PAGES, SYNCHRONOUS, Checkpointer
from kjs.scheduler.service import JobService

CLUSTER = "sim-0"
FILL_BATCH = 2_000


def stamp() -> str:
    """A timestamp as kjs's SQLite columns hold it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def marks(ids: Sequence[str]) -> str:
    return ",".join("?" * len(ids))


class Life:
    """The statements of one batch of jobs' lives, phase by phase, each phase one transaction."""

    def __init__(self, db: sqlite3.Connection, manifest: bytes, first_seq: int) -> None:
        self.db, self.manifest, self.seq = db, manifest, first_seq

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _read(self, ids: Sequence[str]) -> None:
        query = f"SELECT * FROM jobs WHERE id IN ({marks(ids)}) ORDER BY id"
        self.db.execute(query, ids).fetchall()

    def dispatch(self, ids: Sequence[str]) -> None:
        self._read(ids)
        at = stamp()
        self.db.executemany(
            "UPDATE jobs SET state='dispatched', cluster_id=?, dispatched_at=?, updated_at=?,"
            " seq=?, reason=NULL, message=NULL WHERE id=?",
            [(CLUSTER, at, at, self._next_seq(), i) for i in ids],
        )
        self.db.executemany(
            "INSERT INTO job_manifests (job_id, attempt, manifest) VALUES (?, 1, ?)",
            [(i, self.manifest) for i in ids],
        )
        self.db.executemany(
            "INSERT INTO outbox (topic, body, job_id, available_at, attempts) VALUES (?,?,?,?,0)",
            [(f"kjs.dispatch.{CLUSTER}", self.manifest, i, at) for i in ids],
        )
        self._events(ids, "dispatched", at)

    def relay(self, ids: Sequence[str]) -> None:
        rows = self.db.execute(
            f"SELECT id, body FROM outbox WHERE job_id IN ({marks(ids)})", ids
        ).fetchall()
        at = stamp()
        self.db.executemany(
            "UPDATE outbox SET available_at=?, attempts=attempts+1 WHERE id=?",
            [(at, row[0]) for row in rows],
        )

    def answer(self, ids: Sequence[str], states: Sequence[str]) -> None:
        """The agent's answers `states` (in order) for each job, as one row change each."""
        self._read(ids)
        at, state = stamp(), states[-1]
        extra = {"running": ", started_at=?", "succeeded": ", finished_at=?"}.get(state, "")
        self.db.executemany(
            f"UPDATE jobs SET state=?, updated_at=?, seq=?{extra} WHERE id=?",
            [(state, at, self._next_seq(), *((at,) if extra else ()), i) for i in ids],
        )
        for each in states:
            self._events(ids, each, at)
        if "created" in states:  # the agent acted on the dispatch: its outbox row goes
            self.db.execute(f"DELETE FROM outbox WHERE job_id IN ({marks(ids)})", ids)

    def _events(self, ids: Sequence[str], state: str, at: str) -> None:
        self.db.executemany(
            "INSERT INTO job_events (job_id, attempt, state, cluster_id, at) VALUES (?,1,?,?,?)",
            [(i, state, CLUSTER, at) for i in ids],
        )


def fill(data_dir: str, jobs: int) -> tuple[Path, list[str], bytes]:
    """`jobs` pending jobs written by kjs's own SQLite store in `data_dir`: the database's path,
    their ids and one job's rendered manifest."""
    settings = load(environ={}, overrides={"data_dir": data_dir})
    c = components.build(settings, Plugins(autoload=False))
    c.store.migrate()
    service = JobService(c, None)  # type: ignore[arg-type]  # new records only: no dispatcher
    spec = msgspec.convert(
        {
            "name": "sched",
            "namespace": "ns-1",
            "image": "busybox",
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
        },
        JobSpec,
    )
    ids: list[str] = []
    manifest = b""
    for first in range(0, jobs, FILL_BATCH):
        records = [service.new_record(spec) for _ in range(min(FILL_BATCH, jobs - first))]
        c.store.create_jobs([(record, None) for record in records])
        ids.extend(record.id for record in records)
        if not manifest:
            manifest = json.dumps(render_for_dispatch(records[0], c.plugins)).encode()
    c.store.close()
    return settings.data_path(settings.sqlite.path), ids, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="jobs per transaction")
    parser.add_argument("--merge-created-running", action="store_true")
    args = parser.parse_args()

    filled = time.perf_counter()
    path, ids, manifest = fill(tempfile.mkdtemp(prefix="kjs-bench-floor-"), args.jobs)
    print(f"fill: {args.jobs} pending jobs by kjs's store in {time.perf_counter() - filled:.1f} s")

    db = sqlite3.connect(path, isolation_level=None)  # BEGIN/COMMIT by hand, as kjs's engine
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # and checkpoints beside, as kjs's
    checkpoints = Checkpointer(str(path))
    checkpoints.start()
    first_seq = db.execute("SELECT MAX(seq) FROM jobs").fetchone()[0] or 0
    life = Life(db, manifest, first_seq)
    answers = (
        [("created", "running"), ("succeeded",)]
        if args.merge_created_running
        else [("created",), ("running",), ("succeeded",)]
    )
    phases: list[tuple[str, Callable[[Sequence[str]], None]]] = [
        ("dispatch", life.dispatch),
        ("relay", life.relay),
        *[
            ("+".join(states), lambda batch, states=states: life.answer(batch, states))
            for states in answers
        ],
    ]
    spent = dict.fromkeys((name for name, _ in phases), 0.0)
    started = time.perf_counter()
    for first in range(0, len(ids), args.batch):
        batch = ids[first : first + args.batch]
        for name, write in phases:
            began = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            write(batch)
            db.execute("COMMIT")
            spent[name] += time.perf_counter() - began
    elapsed = time.perf_counter() - started
    checkpoints.stop()
    db.close()

    per_job = {name: round(s / len(ids) * 1e6, 1) for name, s in spent.items()}
    for name, us in per_job.items():
        print(f"{name}: {us} us per job")
    result = {
        "jobs": len(ids),
        "batch": args.batch,
        "merge_created_running": args.merge_created_running,
        "synchronous": SYNCHRONOUS,
        "seconds": round(elapsed, 2),
        "us_per_job": round(elapsed / len(ids) * 1e6, 1),
        "jobs_per_s": round(len(ids) / elapsed, 1),
        "us_per_job_by_phase": per_job,
        "sqlite": sqlite3.sqlite_version,
    }
    print(f"{result['jobs_per_s']} jobs/s at most: {result['us_per_job']} us of SQL per job")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
