"""Submit jobs over HTTP with concurrency; print accepted jobs/s and p50/p99 latency.

    python bench/api_submit.py --jobs 5000 --concurrency 32          # starts a SQLite server
    python bench/api_submit.py --store mysql --mysql-url mysql+pymysql://...   # MariaDB
    python bench/api_submit.py --url http://127.0.0.1:8080             # a running server

The load generator runs on the same machine as the server (2 cores here), so the figure is a
floor for what the server does alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kjs.testing.procs import free_port


def start_server(store: str, mysql_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="kjs-bench-")
    env = {**os.environ, "KJS_STORE": store}
    if store == "mysql":
        if not mysql_url:
            sys.exit("--mysql-url is required with --store mysql")
        env["KJS_MYSQL__URL"] = mysql_url
    with open(Path(data_dir) / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kjs", "server", "--port", str(port), "--data-dir", data_dir],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"server did not start; see {data_dir}/server.log")


async def run(url: str, jobs: int, concurrency: int) -> None:
    # aiohttp, not httpx: the load generator shares the server's 2 cores, so its cost per
    # request matters (httpx used about 3 ms of CPU per request here, aiohttp about a third).
    import aiohttp

    latencies: list[float] = []
    failures = 0
    counter = iter(range(jobs))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for i in counter:
                body = {
                    "name": f"bench-{i}",
                    "namespace": "bench",
                    "image": "busybox",
                    "command": ["true"],
                    "labels": {"run": "bench"},
                }
                started = time.perf_counter()
                async with session.post("/api/v1/jobs", json=body) as response:
                    await response.read()
                    latencies.append(time.perf_counter() - started)
                    if response.status != 201:
                        failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p = statistics.quantiles(latencies, n=100)
    print(
        json.dumps(
            {
                "jobs": jobs,
                "concurrency": concurrency,
                "failed": failures,
                "seconds": round(elapsed, 2),
                "accepted_per_s": round((jobs - failures) / elapsed, 1),
                "p50_ms": round(p[49] * 1000, 1),
                "p99_ms": round(p[98] * 1000, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server; otherwise one is started")
    parser.add_argument("--store", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--mysql-url")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.store, args.mysql_url)
    try:
        asyncio.run(run(url, args.jobs, args.concurrency))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
