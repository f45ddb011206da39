"""`queue_position` at scale: N pending jobs (default 100,000) in one queue, then how long the
answers that carry it take through a real server's routes — `GET /api/v1/jobs/{id}` of the
queue's last job (the longest count) and of its first, and a 50-job list page of pending jobs
(`GET /api/v1/jobs?state=pending&limit=50`: the newest, so every position is near N) — and what
the store's `queue_positions` costs alone for one job and for the page's 50.

    python bench/queue_position.py                                 # SQLite, a temporary dir
    python bench/queue_position.py --mysql-url mysql+pymysql://... # an empty MariaDB database
    python bench/queue_position.py --pending 10000 --repeat 50
    python bench/queue_position.py --position-index                # (queue, state) widened

`--position-index` keeps the index `jobs (queue, state, priority, created_at, id, run_at)` (as
migrated; without the flag it is replaced by `jobs (queue, state)`): the count is then ranges of
that index alone, rather than one row read per job ahead.

The server runs in this process (uvicorn, the in-memory queue) with no cluster, so nothing is
placed. Prints a line per figure; the last line is one JSON object (p50/p99 in ms; the issue's
targets: one job <= 50, a page <= 300).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa

from kjs.core import clock
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.server import create_app
from kjs.sqlstore import tables
from kjs.testing.procs import free_port

QUEUE = "default"
NARROW_INDEX = "ix_jobs_queue_state"
WIDE_INDEX = "ix_jobs_queue_state_priority_created_at_id_run_at"
BATCH = 1_000


def set_queue_index(engine: sa.Engine, *, wide: bool) -> None:
    """`jobs (queue, state, priority, created_at, id, run_at)` (wide, as migrated), or
    `jobs (queue, state)` in its place (narrow)."""
    wanted, other = (WIDE_INDEX, NARROW_INDEX) if wide else (NARROW_INDEX, WIDE_INDEX)
    columns = "queue, state, priority, created_at, id, run_at" if wide else "queue, state"
    with engine.begin() as conn:
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes("jobs")}
        if other in names:
            conn.execute(sa.text(f"DROP INDEX {other}" + on_jobs(engine)))
        if wanted not in names:
            conn.execute(sa.text(f"CREATE INDEX {wanted} ON jobs ({columns})"))


def on_jobs(engine: sa.Engine) -> str:
    return "" if engine.dialect.name == "sqlite" else " ON jobs"


def figures(values: list[float]) -> dict[str, float]:
    """p50 and p99 (the slowest of fewer than 100), in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered) * 1000, 2), "p99": round(p99 * 1000, 2)}


async def until(probe: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.01)


async def timed(call: Any, repeat: int) -> list[float]:
    await call()  # the first: statements compiled, pages cached
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - started)
    return spent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"data_dir": tempfile.mkdtemp(prefix="kjs-bench-")}
    if args.mysql_url:
        overrides |= {"store": "mysql", "mysql": {"url": args.mysql_url}}
    app = create_app(load(environ={}, overrides=overrides))
    port = free_port()
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await until(started, 60, "the server to start")
    store, service = app.state.components.store, app.state.jobs
    if args.mysql_url:  # one empty database
        with store.engine.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                conn.execute(table.delete())
    set_queue_index(store.engine, wide=args.position_index)  # a database reused: as asked
    spec = msgspec.convert({"name": "waits", "namespace": "bench", "image": "busybox"}, JobSpec)
    fill_started = time.perf_counter()

    def fill() -> list[str]:
        ids = []
        for start in range(0, args.pending, BATCH):
            records = [service.new_record(spec) for _ in range(min(BATCH, args.pending - start))]
            ids += [job.id for job in store.create_jobs([(job, None) for job in records])]
        return ids

    ids = await asyncio.to_thread(fill)
    fill_s = time.perf_counter() - fill_started
    first, last = store.get_job(ids[0]), store.get_job(ids[-1])
    assert first is not None and last is not None

    out: dict[str, Any] = {
        "store": "mysql" if args.mysql_url else "sqlite",
        "pending": args.pending,
        "repeat": args.repeat,
        "fill_s": round(fill_s, 1),
        "position_index": args.position_index,
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

        async def get_last() -> None:
            job = (await http.get(f"/api/v1/jobs/{last.id}")).raise_for_status().json()
            assert job["queue_position"] == args.pending, job["queue_position"]

        async def get_first() -> None:
            job = (await http.get(f"/api/v1/jobs/{first.id}")).raise_for_status().json()
            assert job["queue_position"] == 1, job["queue_position"]

        async def page() -> None:
            params = {"state": "pending", "limit": 50}
            items = (await http.get("/api/v1/jobs", params=params)).raise_for_status().json()
            positions = [job["queue_position"] for job in items["items"]]
            assert positions == list(range(args.pending, args.pending - 50, -1)), positions

        out["get_last_ms"] = figures(await timed(get_last, args.repeat))
        out["get_first_ms"] = figures(await timed(get_first, args.repeat))
        out["page_ms"] = figures(await timed(page, args.repeat))

    now = clock.now()
    page_keys = [
        (job.priority, job.created_at, job.id)
        for job in (store.get_job(i) for i in ids[-50:])
        if job
    ]

    async def store_one() -> None:
        one = [(last.priority, last.created_at, last.id)]
        await asyncio.to_thread(store.queue_positions, QUEUE, one, now)

    async def store_page() -> None:
        await asyncio.to_thread(store.queue_positions, QUEUE, page_keys, now)

    out["store_one_ms"] = figures(await timed(store_one, args.repeat))
    out["store_page_ms"] = figures(await timed(store_page, args.repeat))
    server.should_exit = True
    await serving
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100, help="timed calls per figure")
    parser.add_argument("--mysql-url", help="an empty MariaDB/MySQL database (default: SQLite)")
    parser.add_argument(
        "--position-index", action="store_true", help="widen jobs (queue, state) first (above)"
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the servers' start and stop lines, the client's requests
    out = asyncio.run(run(args))
    for key, value in out.items():
        if isinstance(value, dict):
            print(f"{key}: p50 {value['p50']} ms, p99 {value['p99']} ms", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
