"""N jobs through the production shape: 2 server replicas on MariaDB, 2 nsqd + nsqlookupd,
an agent on each of 3 test clusters (`--clusters`), and a webhook receiver that checks
signatures.

    python bench/e2e_distributed.py --jobs 1000 [--capacity 20] [--testenv-dir D] [--clusters 3]

Brings the test environment up itself (and down after) unless given a running one. Every job
is a container that appends its name and its end time (ns) to a file: the
test kubelet runs containers as local processes, so the end of the work is known exactly and a
job that ran twice shows twice. Prints throughput, and p50/p99 of
  submit -> created     (client's submit to the agent's `created` event),
  terminal -> stored    (the container's end to the final state stored: the job's updated_at),
  terminal -> webhook   (the container's end to the first delivery at the receiver).
  dispatched -> created (placed on a cluster to created there: without the wait for room).
The last line is one JSON object: `jobs`, `succeeded`, `lost`, `duplicated`, `webhooks`,
`jobs_per_s`, and `<stage>_p50_ms`/`_p99_ms` of each stage above.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.deployment

import httpx

from kjs.testing import env as testenv
from tests.deployment import Deployment, WebhookReceiver, fresh_database

# A namespace of this run's own: the Jobs of an earlier run (kept for their TTL) would be
# reported again by the agents as they start, and load the servers with news of unknown jobs.
NAMESPACE = f"bench-{uuid.uuid4().hex[:6]}"
FINAL = {"succeeded", "failed", "cancelled"}
POOL = httpx.Limits(max_connections=8)


def ms(values: list[float]) -> tuple[float | None, float | None]:
    """(p50, p99) in milliseconds; (None, None) under two samples."""
    if len(values) < 2:
        return None, None
    q = statistics.quantiles(values, n=100)
    return round(q[49] * 1000, 1), round(q[98] * 1000, 1)


def quantiles(values: list[float]) -> str:
    p50, p99 = ms(values)
    return "n/a" if p50 is None else f"p50 {p50:.0f} ms p99 {p99:.0f} ms"


def timestamp(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


def run(environment: dict[str, Any], args: argparse.Namespace, workdir: Path) -> None:
    receiver = WebhookReceiver()
    runs = workdir / "runs.txt"
    runs.touch()
    with fresh_database(environment["mysql"]["admin_url"]) as database:
        d = Deployment(
            environment,
            database,
            workdir,
            namespace="default",  # of the agents' Leases
            settings={"KJS_AGENT__CREATE_NAMESPACES": "true"},
        )
        http: list[httpx.Client] = []
        try:
            replicas = [d.start_replica() for _ in range(args.replicas)]
            for cluster in environment["clusters"]:
                d.start_agent(cluster["id"], args.capacity)
            # One keep-alive client per replica: a client per request costs the bench (which
            # also times the webhooks' arrival) more CPU than a submit costs a server.
            http = [
                httpx.Client(base_url=f"{r.url}/api/v1", timeout=10, limits=POOL) for r in replicas
            ]
            clusters = len(environment["clusters"])
            while (
                sum(c["state"] == "ready" for c in d.api("GET", "/clusters").json()["items"])
                < clusters
            ):
                time.sleep(0.2)

            submitted: dict[str, float] = {}

            def submit(i: int) -> None:
                name = f"b{i}"
                body = {
                    "name": name,
                    "namespace": NAMESPACE,
                    "image": "busybox",
                    "command": ["sh", "-c", f'echo "{name} $(date +%s%N)" >> {runs}'],
                    "callback_url": receiver.url,
                    "ttl_seconds_after_finished": 300,
                }
                at = time.time()
                response = http[i % len(http)].post("/jobs", json=body)
                assert response.status_code == 201, response.text
                submitted[response.json()["id"]] = at

            started = time.time()
            with ThreadPoolExecutor(8) as pool:  # clients submit concurrently, to any replica
                list(pool.map(submit, range(args.jobs)))
            submit_s = time.time() - started

            final: dict[str, dict[str, Any]] = {}
            while len(final) < args.jobs:
                for state in sorted(FINAL):
                    cursor = None
                    while True:
                        params: dict[str, Any] = {"state": state, "limit": 500}
                        if cursor:
                            params["cursor"] = cursor
                        page = http[0].get("/jobs", params=params).json()
                        final.update((j["id"], j) for j in page["items"] if j["id"] in submitted)
                        cursor = page["next_cursor"]
                        if not cursor:
                            break
                time.sleep(1.0)
            finished = max(timestamp(j["updated_at"]) for j in final.values())
            elapsed = finished - started
            deadline = time.monotonic() + 120
            while len(receiver.first_delivery()) < args.jobs and time.monotonic() < deadline:
                time.sleep(0.5)

            ends: dict[str, float] = {}
            ran: Counter[str] = Counter()
            for line in runs.read_text().splitlines():
                name, ns = line.split()
                ran[name] += 1
                ends.setdefault(name, int(ns) / 1e9)
            to_created, placed_to_created, to_stored, to_webhook = [], [], [], []
            to_reported, reported_to_stored = [], []  # the agent's part, and the server's
            delivered = receiver.first_delivery()
            first_by_job = {x.job_id: x for x in delivered.values()}
            for job_id, job in final.items():
                events = http[0].get(f"/jobs/{job_id}/events").json()["items"]
                at = {e["state"]: timestamp(e["at"]) for e in events}
                if "created" in at:
                    to_created.append(at["created"] - submitted[job_id])
                    if "dispatched" in at:
                        placed_to_created.append(at["created"] - at["dispatched"])
                end = ends.get(job["name"])
                if end is not None:
                    to_stored.append(timestamp(job["updated_at"]) - end)
                    if job["state"] in at:  # the final event's time is the agent's report
                        to_reported.append(at[job["state"]] - end)
                        reported_to_stored.append(timestamp(job["updated_at"]) - at[job["state"]])
                    if job_id in first_by_job:
                        to_webhook.append(first_by_job[job_id].received_at - end)
            shares = Counter(j["cluster_id"] for j in final.values())
            succeeded = sum(j["state"] == "succeeded" for j in final.values())
            lost = args.jobs - len(final) + sum(j["state"] == "lost" for j in final.values())
            print(f"submit -> created:   {quantiles(to_created)} (includes waiting for room)")
            print(f"dispatched -> created: {quantiles(placed_to_created)}")
            print(f"terminal -> stored:  {quantiles(to_stored)}")
            print(f"  terminal -> reported by the agent: {quantiles(to_reported)}")
            print(f"  reported -> stored:  {quantiles(reported_to_stored)}")
            print(f"terminal -> webhook: {quantiles(to_webhook)}")
            figures: dict[str, Any] = {
                "jobs": args.jobs,
                "replicas": args.replicas,
                "clusters": {c: n for c, n in sorted(shares.items())},
                "capacity_per_cluster": args.capacity,
                "submit_s": round(submit_s, 1),
                "seconds": round(elapsed, 1),
                "jobs_per_s": round(args.jobs / elapsed, 2),
                "succeeded": succeeded,
                "lost": lost,
                "duplicated": sum(1 for n in ran.values() if n > 1),
                "webhooks": len(delivered),
                "duplicate_deliveries": receiver.duplicates,
            }
            for key, values in (
                ("submit_to_created", to_created),
                ("dispatched_to_created", placed_to_created),
                ("terminated_to_stored", to_stored),
                ("terminated_to_reported", to_reported),
                ("reported_to_stored", reported_to_stored),
                ("terminated_to_webhook", to_webhook),
            ):
                figures[f"{key}_p50_ms"], figures[f"{key}_p99_ms"] = ms(values)
            print(json.dumps(figures))
        finally:
            for client in http:
                client.close()
            d.stop()
            receiver.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=20, help="max_concurrent_jobs per agent")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--testenv-dir", type=Path, help="a running environment")
    parser.add_argument("--clusters", type=int, default=3, help="test clusters to use (1-3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kjs-bench-") as tmp:
        workdir = Path(tmp)
        environment, own = testenv.given_or_up(args.testenv_dir, clusters=args.clusters)
        try:
            have = len(environment["clusters"])
            assert have >= args.clusters, f"{args.clusters} test clusters asked, {have} running"
            environment = {**environment, "clusters": environment["clusters"][: args.clusters]}
            run(environment, args, workdir)
        finally:
            if own is not None:
                testenv.down(own)


if __name__ == "__main__":
    main()
