"""The leader gauges' counts at scale: fill a store with N jobs (default 10^6, as
bench/list_jobs.py fills it: 96 % of them finished), then time `count_jobs_by_state` for the
unfinished states (every gauge pass) and the final ones (one pass in `FINAL_EVERY`), and
`outbox_depth`.

    python bench/job_counts.py                      # SQLite in a temporary directory
    python bench/job_counts.py --db /tmp/x.db       # an existing file (filled if empty)
    python bench/job_counts.py --mysql-url mysql+pymysql://...   # an empty MariaDB database
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from list_jobs import fill

from kjs.scheduler.gauges import FINAL, UNFINISHED
from kjs.sqlstore.store import SqlStore


def timed(label: str, call: Callable[[], Any], repeat: int = 7) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    figures = {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}
    print(f"{label}: median {figures['median_ms']} ms, max {figures['max_ms']} ms")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--db")
    parser.add_argument("--mysql-url")
    args = parser.parse_args()
    if args.mysql_url:
        from kjs.plugins.store_mysql import engine_for as mysql_engine

        store = SqlStore(mysql_engine(args.mysql_url), describe="mysql")
    else:
        from kjs.plugins.store_sqlite import engine_for as sqlite_engine

        path = args.db or str(Path(tempfile.mkdtemp(prefix="kjs-counts-")) / "kjs.db")
        store = SqlStore(sqlite_engine(path), describe=f"sqlite {path}")
    store.migrate()
    if not store.list_jobs(limit=1)[0]:
        fill(store, args.jobs)
    total = sum(store.count_jobs_by_state(UNFINISHED + FINAL).values())
    unfinished = timed(
        "unfinished states (every pass)", lambda: store.count_jobs_by_state(UNFINISHED)
    )
    final = timed("final states (one pass in six)", lambda: store.count_jobs_by_state(FINAL))
    outbox = timed("outbox depth", lambda: store.outbox_depth(dt.datetime.now(dt.UTC)))
    print(
        json.dumps(
            {
                "jobs": total,
                "store": store.describe.split()[0],
                "unfinished_median_ms": unfinished["median_ms"],
                "final_median_ms": final["median_ms"],
                "outbox_depth_median_ms": outbox["median_ms"],
            }
        )
    )


if __name__ == "__main__":
    main()
