"""Placement past blocked jobs: how soon a job for a free cluster is dispatched while N jobs wait
for a full one, and what one placement pass costs, for N = 0, 1,000 and 10,000.

    python bench/placement_blocked.py                                 # SQLite, a temporary dir
    python bench/placement_blocked.py --mysql-url mysql+pymysql://... # an empty MariaDB database
    python bench/placement_blocked.py --blocked 0 1000 100000 --free-jobs 20

Runs its own server (uvicorn, in this process, on the in-memory queue) with two stand-in agents
on that queue: c1 full (capacity 1, a job running there as the store knows), c2 free. Per
case: the blocked jobs are written to the store, routed to c1; then `--free-jobs` jobs routed
to c2 are submitted over HTTP one after the other, each timed from its POST to its dispatch
reaching c2's agent; and placement passes are timed on their own. Prints a line per case; the
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import statistics
import tempfile
import time
from typing import Any

import httpx
import msgspec

from kjs.core import messages
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.states import JobState
from kjs.server import create_app
from kjs.sqlstore import tables
from kjs.testing.procs import free_port

SWEEP_S = 2.0


def figures(values: list[float]) -> dict[str, float]:
    """p50 and max, in milliseconds."""
    return {"p50": round(statistics.median(values) * 1000, 2), "max": round(max(values) * 1000, 2)}


async def until(probe: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.005)


async def run_case(
    blocked: int, free_jobs: int, passes: int, mysql_url: str | None
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "data_dir": tempfile.mkdtemp(prefix="kjs-bench-"),
        "dispatch": {"sweep_s": SWEEP_S},
    }
    if mysql_url:
        overrides |= {"store": "mysql", "mysql": {"url": mysql_url}}
    app = create_app(load(environ={}, overrides=overrides))
    port = free_port()
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await until(started, 30, "the server to start")
    c = app.state.components
    store, queue = c.store, c.queue
    if mysql_url:  # one empty database for every case
        with store.engine.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                conn.execute(table.delete())

    arrived: dict[str, tuple[float, str]] = {}  # job id -> when its dispatch reached which agent
    for cluster in ("c1", "c2"):

        async def receive(delivery: Any, cluster: str = cluster) -> bool:
            message = messages.decode(delivery.body)
            if isinstance(message, messages.Dispatch):
                arrived.setdefault(message.job_id, (time.perf_counter(), cluster))
            return True

        await queue.subscribe(messages.dispatch_topic(cluster), messages.AGENT_CHANNEL, receive)

    async def heartbeats() -> None:
        for cluster, capacity, running in (("c1", 1, 1), ("c2", free_jobs + 10, 0)):
            at = dt.datetime.now(dt.UTC)
            beat = messages.Heartbeat(cluster_id=cluster, at=at, capacity=capacity, running=running)
            await queue.publish(messages.HEARTBEAT_TOPIC, messages.encode(beat))

            async def recorded(cluster: str = cluster, at: dt.datetime = at) -> bool:
                seen = await asyncio.to_thread(store.get_cluster, cluster)
                return (
                    seen is not None
                    and seen.last_heartbeat is not None
                    and (seen.last_heartbeat >= at)
                )

            await until(recorded, 10, f"{cluster}'s heartbeat")

    await heartbeats()
    service = app.state.jobs
    spec = msgspec.convert(
        {"name": "blocked", "namespace": "bench", "image": "busybox", "cluster": "c1"}, JobSpec
    )
    fill_started = time.perf_counter()

    def fill() -> None:
        # c1's one slot is taken (placement counts load from the store, not heartbeats).
        busy = service.new_record(msgspec.structs.replace(spec, cluster=None))
        store.create_job(msgspec.structs.replace(busy, state=JobState.RUNNING, cluster_id="c1"))
        for _ in range(blocked):
            store.create_job(service.new_record(spec))

    await asyncio.to_thread(fill)
    fill_s = time.perf_counter() - fill_started
    await heartbeats()  # fresh, whatever the fill took

    placement = app.state.dispatcher.placement
    pass_s = []
    for _ in range(passes):
        pass_started = time.perf_counter()
        await placement.place_due()
        pass_s.append(time.perf_counter() - pass_started)

    dispatch_s = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for i in range(free_jobs):
            body = {"name": f"free-{i}", "namespace": "bench", "image": "busybox", "cluster": "c2"}
            submitted = time.perf_counter()
            response = await http.post("/api/v1/jobs", json=body)
            response.raise_for_status()
            job_id = response.json()["id"]

            async def dispatched(job_id: str = job_id) -> bool:
                return job_id in arrived

            await until(dispatched, SWEEP_S + 30, f"free job {i} to be dispatched")
            dispatch_s.append(arrived[job_id][0] - submitted)
    server.should_exit = True
    await serving
    return {
        "blocked": blocked,
        "fill_s": round(fill_s, 2),
        "dispatch_ms": figures(dispatch_s),
        "pass_ms": figures(pass_s),
        "blocked_dispatched": sum(1 for _, cluster in arrived.values() if cluster == "c1"),
    }


async def run(args: argparse.Namespace) -> None:
    cases = []
    for blocked in args.blocked:
        case = await run_case(blocked, args.free_jobs, args.passes, args.mysql_url)
        print(
            f"{blocked:>7} blocked: free job dispatched in p50 {case['dispatch_ms']['p50']} ms "
            f"(max {case['dispatch_ms']['max']}), one placement pass p50 "
            f"{case['pass_ms']['p50']} ms (max {case['pass_ms']['max']}); "
            f"filled in {case['fill_s']} s",
            flush=True,
        )
        cases.append(case)
    print(
        json.dumps(
            {
                "store": "mysql" if args.mysql_url else "sqlite",
                "sweep_s": SWEEP_S,
                "free_jobs": args.free_jobs,
                "passes": args.passes,
                "cases": cases,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocked", type=int, nargs="+", default=[0, 1_000, 10_000])
    parser.add_argument("--free-jobs", type=int, default=10, help="jobs for c2, timed each")
    parser.add_argument("--passes", type=int, default=20, help="placement passes timed")
    parser.add_argument("--mysql-url", help="an empty MariaDB/MySQL database (default: SQLite)")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the servers' start and stop lines, the client's requests
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
