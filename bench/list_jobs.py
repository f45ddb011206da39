"""Listing at scale: fill a store with N jobs (default 10^6), then time listing queries.

    python bench/list_jobs.py                       # SQLite in a temporary directory
    python bench/list_jobs.py --mysql-url mysql+pymysql://...   # an empty MariaDB database

Prints one JSON line per query: the milliseconds for the first page, a page deep in the keyset
pagination, and pages filtered by state, cluster, name and label.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from kjs.core.models import JobSpec
from kjs.sqlstore import tables as t
from kjs.sqlstore.store import SqlStore

STATES = ["succeeded"] * 90 + ["failed"] * 6 + ["running"] * 3 + ["pending"]


def fill(store: SqlStore, total: int, batch: int = 20_000) -> float:
    started = time.perf_counter()
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    spec = msgspec.json.encode(
        msgspec.convert(
            {"name": "x", "namespace": "bench", "image": "busybox", "command": ["true"]}, JobSpec
        )
    ).decode()
    for start in range(0, total, batch):
        jobs: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []
        for n in range(start, min(start + batch, total)):
            job_id = str(uuid.UUID(int=n, version=4))
            at = base + dt.timedelta(seconds=n)
            jobs.append(
                {
                    "id": job_id,
                    "name": f"job-{n % 1000}",
                    "namespace": "bench",
                    "state": STATES[n % len(STATES)],
                    "attempt": 1,
                    "cluster_id": f"c{n % 3}",
                    "k8s_name": f"job-{n}",
                    "spec": spec,
                    "created_at": at,
                    "updated_at": at,
                    "exit_codes": "{}",
                }
            )
            labels.append({"job_id": job_id, "key": "team", "value": f"t{n % 50}"})
        with store.engine.begin() as conn:
            conn.execute(t.jobs.insert(), jobs)
            conn.execute(t.job_labels.insert(), labels)
    return time.perf_counter() - started


def timed(label: str, call: Any, repeat: int = 5) -> Any:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    print(
        json.dumps(
            {
                "query": label,
                "median_ms": round(statistics.median(samples), 2),
                "max_ms": round(max(samples), 2),
                "rows": len(result[0]),
            }
        )
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--mysql-url")
    args = parser.parse_args()
    if args.mysql_url:
        from kjs.plugins.store_mysql import engine_for as mysql_engine

        store = SqlStore(mysql_engine(args.mysql_url), describe="mysql")
    else:
        from kjs.plugins.store_sqlite import engine_for as sqlite_engine

        path = Path(tempfile.mkdtemp(prefix="kjs-list-")) / "kjs.db"
        store = SqlStore(sqlite_engine(str(path)), describe=f"sqlite {path}")
    store.migrate()
    seconds = fill(store, args.jobs)
    print(
        json.dumps(
            {"filled": args.jobs, "store": store.describe.split()[0], "seconds": round(seconds, 1)}
        )
    )
    _, cursor = timed("first page (100)", lambda: store.list_jobs(limit=100))
    deep = cursor
    for _ in range(200):  # walk 20,000 rows in
        _, deep = store.list_jobs(limit=100, cursor=deep)
    timed("page after 20,000 rows", lambda: store.list_jobs(limit=100, cursor=deep))
    timed("state=running", lambda: store.list_jobs(limit=100, state="running"))
    timed(
        "state=pending, next page",
        lambda: store.list_jobs(
            limit=100, state="pending", cursor=store.list_jobs(limit=100, state="pending")[1]
        ),
    )
    timed("cluster_id=c1", lambda: store.list_jobs(limit=100, cluster_id="c1"))
    timed("name=job-7", lambda: store.list_jobs(limit=100, name="job-7"))
    timed("label team=t7", lambda: store.list_jobs(limit=100, labels={"team": "t7"}))
    # The worst case of a label filter: nothing matches, so every row is looked at.
    timed("label with no match", lambda: store.list_jobs(limit=100, labels={"team": "none"}), 1)
    middle = str(uuid.UUID(int=args.jobs // 2, version=4))
    timed("one job by id", lambda: ([store.get_job(middle)], None))
    store.close()


if __name__ == "__main__":
    main()
