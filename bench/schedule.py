"""Scheduling at scale: placements per second and the leader's placement pass time with
~100,000 pending jobs in 50 queues on 20 simulated clusters (issue 19, "Scale").

    python bench/schedule.py                                  # SQLite, in a temporary dir
    python bench/schedule.py --mysql-url mysql+pymysql://...  # a MariaDB database (emptied first)
    python bench/schedule.py --jobs 300 --queues 5 --clusters 3 --seconds 3   # a smoke run
    python bench/schedule.py --profile /tmp/schedule.prof     # where the loop's time goes

Runs its own server in this process (uvicorn, the in-memory queue, the leader's dispatcher as
`kjs server` runs it). Queues `q00`… are defined in the configuration with weights 1-4; a few
have limits (`max_running`, `max_cpu`, `per_cluster.max_running`), so quotas are on. `--jobs`
pending jobs (500m CPU / 256Mi each, 1 in 20 asking 2 CPU / 4Gi; 1 in 20 routed by `cluster`,
1 in 20 by `cluster_selector`, the rest free to go anywhere) in `--namespaces` namespaces are
written straight to the store in bulk before the clock starts (the fill time is reported on its
own). Then `--clusters` stand-in agents (`bench/_simclusters.py`: no Kubernetes; each cluster
320 CPU, 1280Gi and `--pods-per-cluster` pods on `--nodes` alike nodes: by default 5 nodes of
64 CPU, 256Gi, 100 pods) heartbeat every second with resource figures computed from what they
run, and answer each dispatch with `created`, `running` and, after `--run-s`, `succeeded`.
Demand exceeds capacity many times over, while capacity (20 x 500 pods) is large enough that
the scheduler, not the clusters, limits the rate.

Node size matters: placement counts every pod it places on a cluster in one pass against that
cluster's largest free node (it cannot know which node takes it), so one pass places at most
(node CPU / 500m) such jobs per cluster: 128 with 5 nodes (2,560 over 20 clusters, above the
2,000 a pass places today); with `--nodes 10`, 64 (1,280), and today's passes then spend most of
their time on jobs that no longer fit anywhere.

Measured over `--seconds`, from the clusters' first heartbeats (a placement pass begun during
the fill is let end first): `placements_per_s` (first copies of dispatches reaching the
stand-ins, per second; `placed_stored`: the jobs that left `pending` meanwhile, i.e. stored as
dispatched), the leader's placement passes that ended in the window (`Placement.place_due`,
wrapped here: p50, p99, max, how many; one still running at the end counts with the time it had
run, a lower bound, also given as `pass_in_flight_ms`), the store calls placement made in the
window (`pass_store_calls`, per method: how many, their seconds), pending jobs at the start and
end, and per queue the jobs placed in it, summarised as min/max of placed ÷ weight among queues
with pending work (all queues, and those without limits) to check fair share against.

The stand-ins share the process: their handlers' CPU on the event loop's thread is reported
(`stand_in_cpu_s`, and `stand_in_cpu_share` of the process's CPU in the window). Measured:
about 20-25 us per placed job (its dispatch and three status messages, heartbeats included; the
in-memory queue's delivery to them not), i.e. 0.1-0.7 % of the process's CPU at today's
50-330 placements/s; at the 5,000/s target it would be about 12 % of one core.

While a pass takes longer than a few seconds (as today), a 30 s window holds one or two of
them: `--seconds 120` gives steadier figures.

Prints a line per phase; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import logging
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `_simclusters`, run as a script

from _simclusters import Shape, SimCluster, SimClusters

from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.plugins import Plugins
from kjs.core.states import JobState
from kjs.core.usage import summarize
from kjs.server import create_app
from kjs.sqlstore import tables
from kjs.testing.procs import free_port

FILL_BATCH = 2_000
CLUSTER_CPU_MILLIS = 320_000  # with 500 pods: room for the 500m jobs and the few bigger ones
CLUSTER_MEMORY_BYTES = 1280 * 2**30
ZONES = ("a", "b", "c")
ROUTED_CLUSTERS = 4  # jobs routed by `cluster` name one of the first few


def say(text: str) -> None:
    print(text, flush=True)


async def until(probe: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def queue_name(i: int) -> str:
    return f"q{i:02d}"


def queue_definitions(count: int) -> dict[str, dict[str, Any]]:
    """`count` queues, weights 1-4; every 10th from q03 capped at 100 running jobs, every 10th
    from q07 at 50 CPU, every 25th from q00 at 5 running jobs per cluster."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(count):
        limits: dict[str, Any] = {}
        if i % 10 == 3:
            limits["max_running"] = 100
        if i % 10 == 7:
            limits["max_cpu"] = "50"
        if i % 25 == 0:
            limits["per_cluster"] = {"max_running": 5}
        out[queue_name(i)] = {"weight": 1 + i % 4, "limits": limits}
    return out


def job_specs(args: argparse.Namespace) -> list[tuple[int, JobSpec]]:
    """Each job's queue (index) and spec, drawn reproducibly; the specs are shared templates
    (a few hundred distinct ones), so building 100,000 costs little."""
    rng = random.Random(19)
    templates: dict[tuple[int, int, bool, str], JobSpec] = {}
    routed = min(ROUTED_CLUSTERS, args.clusters)
    out = []
    for _ in range(args.jobs):
        queue, namespace = rng.randrange(args.queues), rng.randrange(args.namespaces)
        big, draw = rng.random() < 0.05, rng.random()
        route = (
            f"c{rng.randrange(routed)}"
            if draw < 0.05
            else f"z{rng.choice(ZONES)}"
            if draw < 0.10
            else ""
        )
        key = (queue, namespace, big, route)
        if (spec := templates.get(key)) is None:
            body: dict[str, Any] = {
                "name": "sched",
                "namespace": f"ns-{namespace}",
                "image": "busybox",
                "queue": queue_name(queue),
                "resources": {
                    "requests": {"cpu": "2", "memory": "4Gi"}
                    if big
                    else {"cpu": "500m", "memory": "256Mi"}
                },
            }
            if route.startswith("c"):
                body["cluster"] = f"sim-{route[1:]}"
            elif route:
                body["cluster_selector"] = {"zone": route[1:]}
            spec = templates[key] = msgspec.convert(body, JobSpec)
        out.append((queue, spec))
    return out


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class TimedStore:
    """The store as placement sees it here: every method call timed (wall time, in whichever
    thread calls it), so a pass's time can be split into store calls and the rest."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[tuple[float, str, float]] = []  # (started, method, seconds)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return found(*args, **kwargs)
            finally:
                self.calls.append((started, name, time.perf_counter() - started))

        return timed

    def between(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per method, the calls started in [start, end): how many, and their seconds."""
        out: dict[str, dict[str, float]] = {}
        for started, name, took in list(self.calls):
            if start <= started < end:
                figures = out.setdefault(name, {"calls": 0, "s": 0.0})
                figures["calls"] += 1
                figures["s"] += took
        ordered = sorted(out.items(), key=lambda item: -item[1]["s"])
        return {name: {"calls": f["calls"], "s": round(f["s"], 2)} for name, f in ordered}


@dataclass
class Passes:
    """Every placement pass: when it ended (perf_counter), how long it took; and the one in
    flight, if any (when it started)."""

    ended: list[float] = field(default_factory=list)
    took: list[float] = field(default_factory=list)
    in_flight: float | None = None
    store: TimedStore | None = None

    def instrument(self, placement: Any) -> None:
        """Time `placement.place_due` (the dispatcher calls it through the instance), and the
        store calls it makes when it reaches the store as `placement.c.store`."""
        place_due = placement.place_due

        async def timed() -> int:
            self.in_flight = started = time.perf_counter()
            try:
                placed: int = await place_due()
            finally:
                ended = time.perf_counter()
                self.ended.append(ended)
                self.took.append(ended - started)
                self.in_flight = None
            return placed

        placement.place_due = timed
        components = getattr(placement, "c", None)
        if dataclasses.is_dataclass(components) and hasattr(components, "store"):
            self.store = TimedStore(components.store)
            placement.c = dataclasses.replace(components, store=self.store)  # type: ignore[type-var]

    def between(self, start: float, end: float) -> list[float]:
        """The times of the passes that ended in [start, end)."""
        return [took for at, took in zip(self.ended, self.took, strict=True) if start <= at < end]


def pending_count(store: Any) -> int:
    counts = store.count_jobs_by_state([JobState.PENDING])
    return int(sum(counts.values()))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "data_dir": tempfile.mkdtemp(prefix="kjs-bench-schedule-"),
        "scheduling": {"queues": queue_definitions(args.queues)},
    }
    if args.mysql_url:
        overrides |= {"store": "mysql", "mysql": {"url": args.mysql_url}}
    # kjs alone: no plugin installed in this environment (a `select_cluster` one would have
    # every job judged one by one, as it may send any job anywhere).
    app = create_app(load(environ={}, overrides=overrides), plugins=Plugins(autoload=False))
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=free_port(), log_level="warning", access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await until(started, 60, "the server to start")
    c = app.state.components
    store = c.store
    if args.mysql_url:
        with store.engine.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                conn.execute(table.delete())
    passes = Passes()
    passes.instrument(app.state.dispatcher.placement)

    # The fill: no cluster is known yet, so nothing is placed meanwhile.
    specs = job_specs(args)
    service = app.state.jobs
    queue_of: dict[str, int] = {}
    fill_started = time.perf_counter()

    def fill() -> None:
        for first in range(0, len(specs), FILL_BATCH):
            batch = []
            for queue, spec in specs[first : first + FILL_BATCH]:
                record = service.new_record(spec)
                queue_of[record.id] = queue
                batch.append((record, None))
            store.create_jobs(batch)

    await asyncio.to_thread(fill)
    fill_s = time.perf_counter() - fill_started
    say(f"fill: {args.jobs} jobs in {args.queues} queues in {fill_s:.1f} s ({store_name(args)})")
    # A pass that began during the fill (with no cluster known, it only says why jobs wait)
    # ends before the window opens: it is not the placement being measured.
    settle_started = time.perf_counter()

    async def idle() -> bool:
        return passes.in_flight is None

    await until(idle, 600, "the placement pass begun during the fill to end")
    settle_s = time.perf_counter() - settle_started
    if settle_s > 0.1:
        say(f"settle: a placement pass begun during the fill ended {settle_s:.1f} s later")

    # The clusters.
    placed_per_queue: Counter[int] = Counter()
    window: list[float] = []  # [start, end] once set: only dispatches inside it are counted
    received: list[float] = []

    def on_dispatch(job_id: str, cluster_id: str) -> None:
        at = time.perf_counter()
        if window and at >= window[0] and (len(window) == 1 or at < window[1]):
            received.append(at)
            placed_per_queue[queue_of.get(job_id, -1)] += 1

    # The cluster's totals are fixed; --nodes splits them (node size caps a pass: see above).
    nodes = max(1, args.nodes)
    shape = Shape(
        nodes=nodes,
        node_cpu_millis=CLUSTER_CPU_MILLIS // nodes,
        node_memory_bytes=CLUSTER_MEMORY_BYTES // nodes,
        node_pods=max(1, args.pods_per_cluster // nodes),
    )
    clusters = [
        SimCluster(f"sim-{i}", shape, {"zone": ZONES[i % len(ZONES)]}) for i in range(args.clusters)
    ]
    sims = SimClusters(c.queue, clusters, run_s=args.run_s, on_dispatch=on_dispatch)
    await sims.start()

    # The window opens as the clusters send their first heartbeats: nothing could be placed
    # before (no cluster was known), so every placement is in it.
    pending_start = await asyncio.to_thread(pending_count, store)
    start, cpu_start, sims_cpu_start = time.perf_counter(), time.process_time(), sims.cpu_s
    window.append(start)
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()  # this thread's: the event loop's (placement's Python, not its SQL)
    at = await sims.heartbeat_all()

    async def all_ready() -> bool:
        known = await asyncio.to_thread(store.list_clusters)
        fresh = [k for k in known if k.last_heartbeat is not None and k.last_heartbeat >= at]
        return bool(len(fresh) == args.clusters)

    await until(all_ready, 30, "every cluster's first heartbeat")
    say(
        f"clusters: {args.clusters} ready in {time.perf_counter() - start:.2f} s, "
        f"{args.pods_per_cluster} pods each; measuring for {args.seconds} s"
    )
    await asyncio.sleep(max(0.0, start + args.seconds - time.perf_counter()))
    end, cpu_end, sims_cpu_end = time.perf_counter(), time.process_time(), sims.cpu_s
    window.append(end)
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
        say(f"profile: the event loop's thread in the window, in {args.profile}")
    in_flight = passes.in_flight
    elapsed = end - start
    pending_end = await asyncio.to_thread(pending_count, store)
    usage = summarize(await asyncio.to_thread(store.queue_usage))
    took = passes.between(start, end)
    if in_flight is not None:  # counted with the time it had run: a lower bound, not left out
        took.append(end - in_flight)
    store_calls = passes.store.between(start, end) if passes.store else {}
    counts = sims.counts
    await sims.stop()
    server.should_exit = True
    await serving

    definitions = queue_definitions(args.queues)
    per_queue = {
        queue_name(i): {
            "weight": definitions[queue_name(i)]["weight"],
            "limited": bool(definitions[queue_name(i)]["limits"]),
            "placed": placed_per_queue[i],
            "pending_end": usage[queue_name(i)].pending if queue_name(i) in usage else 0,
        }
        for i in range(args.queues)
    }
    process_cpu = cpu_end - cpu_start
    sims_cpu = sims_cpu_end - sims_cpu_start
    result = {
        "store": store_name(args),
        "jobs": args.jobs,
        "queues": args.queues,
        "namespaces": args.namespaces,
        "clusters": args.clusters,
        "pods_per_cluster": args.pods_per_cluster,
        "nodes_per_cluster": nodes,
        "run_s": args.run_s,
        "seconds": round(elapsed, 2),
        "fill_s": round(fill_s, 2),
        "placements_per_s": round(len(received) / elapsed, 1),
        "dispatches_received": len(received),
        "placed_stored": pending_start - pending_end,
        "succeeded": counts.succeeded,
        "overbooked": counts.overbooked,
        "duplicate_dispatches": counts.duplicates,
        "passes": len(took),  # the one in flight at the end included
        "pass_p50_ms": round(statistics.median(took) * 1000, 1) if took else 0.0,
        "pass_p99_ms": round(percentile(took, 99) * 1000, 1),
        "pass_max_ms": round(max(took, default=0.0) * 1000, 1),
        # A pass still running when the window closed: how long it had run by then.
        "pass_in_flight_ms": round((end - in_flight) * 1000, 1) if in_flight else None,
        "pass_store_calls": store_calls,
        "settle_s": round(settle_s, 2),
        "pending_start": pending_start,
        "pending_end": pending_end,
        "process_cpu_s": round(process_cpu, 2),
        "stand_in_cpu_s": round(sims_cpu, 2),
        "stand_in_cpu_share": round(sims_cpu / process_cpu, 3) if process_cpu else 0.0,
        "fair_share": fair_share(per_queue),
        "per_queue": per_queue,
    }
    return result


def fair_share(per_queue: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """min/max of placed ÷ weight among the queues with pending work at the end: all of them,
    and those without limits (a queue at its limit places less whatever its weight)."""

    def spread(names: list[str]) -> dict[str, Any]:
        ratios = [per_queue[n]["placed"] / per_queue[n]["weight"] for n in names]
        if not ratios:
            return {"queues": 0}
        low, high = min(ratios), max(ratios)
        return {
            "queues": len(ratios),
            "placed_per_weight_min": round(low, 1),
            "placed_per_weight_max": round(high, 1),
            "max_over_min": round(high / low, 2) if low else None,
        }

    waiting = [n for n, q in per_queue.items() if q["pending_end"] > 0]
    return {
        "all": spread(waiting),
        "unlimited": spread([n for n in waiting if not per_queue[n]["limited"]]),
    }


def store_name(args: argparse.Namespace) -> str:
    return "mysql" if args.mysql_url else "sqlite"


def report(result: dict[str, Any]) -> None:
    say(
        f"window: {result['seconds']} s, {result['placements_per_s']} placements/s "
        f"({result['dispatches_received']} dispatches received, {result['placed_stored']} stored "
        f"as dispatched, {result['succeeded']} succeeded, {result['overbooked']} overbooked)"
    )
    say(
        f"passes: {result['passes']}, p50 {result['pass_p50_ms']} ms, p99 "
        f"{result['pass_p99_ms']} ms, max {result['pass_max_ms']} ms, with "
        f"{result['pending_start']} → {result['pending_end']} pending"
        + (
            f"; one still running after {result['pass_in_flight_ms']} ms"
            if result["pass_in_flight_ms"]
            else ""
        )
    )
    calls = result["pass_store_calls"]
    if calls:
        top = ", ".join(f"{name} {f['s']} s ({f['calls']})" for name, f in list(calls.items())[:5])
        say(f"placement's store calls in the window: {top}")
    share = result["fair_share"]["all"]
    if share["queues"]:
        say(
            f"fair share: placed ÷ weight {share['placed_per_weight_min']} to "
            f"{share['placed_per_weight_max']} over {share['queues']} queues with pending work"
        )
    say(
        f"cpu: process {result['process_cpu_s']} s, stand-in agents {result['stand_in_cpu_s']} s "
        f"({result['stand_in_cpu_share']:.1%})"
    )
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="pending jobs written first")
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=20, help="simulated clusters")
    parser.add_argument("--pods-per-cluster", type=int, default=500)
    parser.add_argument(
        "--nodes", type=int, default=5, help="nodes per cluster, sharing its 320 CPU, 1280Gi"
    )
    parser.add_argument("--run-s", type=float, default=2.0, help="each job's simulated run time")
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window")
    parser.add_argument("--mysql-url", help="a MariaDB/MySQL database, emptied first")
    parser.add_argument(
        "--profile", help="write a cProfile of the event loop's thread over the window here"
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the server's start and stop lines
    report(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
