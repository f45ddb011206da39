"""Submit jobs over HTTP with `wrk`; print accepted jobs/s, server CPU per job and latency.

    python bench/api_submit.py                    # SQLite, /api/v1/jobs
    python bench/api_submit.py --route compat     # the original's create route
    python bench/api_submit.py --route batch      # /api/v1/jobs:batch, 1,000 jobs a request
    python bench/api_submit.py --store mysql --mysql-url mysql+pymysql://root@127.0.0.1:3306/kjs

It starts its own `kjs server` (the store given, the in-memory queue, no agent), loads it with
Debian's `wrk` (C, cheaper than the server per request) at the given concurrency for a warm-up
and then `--seconds`, and reads the server's CPU time from /proc before and after. The last line
is one JSON object: `store`, `route`, `jobs_per_s`, `cpu_ms_per_job` (server user+system CPU per
accepted job), `p50_ms`, `p99_ms` (per request), the store's durability settings, and more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kjs.testing.procs import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BATCH = 1000

# One request each time wrk asks: a distinct name per request (the compat route refuses a name
# that is taken), built in Lua so that the generator stays cheap.
LUA = r"""
local route = "%(route)s"
local counter = 0
thread_id = "0"  -- each thread's own, set by setup()
local batch = %(batch)d
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", "%(run)d-" .. threads)
end
local function job(n)
  return string.format(
    '{"name":"bench-%%s-%%d","namespace":"bench","image":"busybox","command":["true"],' ..
    '"labels":{"run":"bench"}}', thread_id, n)
end
request = function()
  counter = counter + 1
  local body
  if route == "compat" then
    body = string.format(
      '{"job_name":"bench-%%s-%%d","namespace":"bench","image":"busybox","command":"true"}',
      thread_id, counter)
    return wrk.format("POST", "/api/once_job/create", {["Content-Type"] = "application/json"}, body)
  elseif route == "batch" then
    local items = {}
    for i = 1, batch do
      items[i] = '{"job":' .. job(counter * batch + i) .. '}'
    end
    body = '{"items":[' .. table.concat(items, ",") .. ']}'
    return wrk.format("POST", "/api/v1/jobs:batch", {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("POST", "/api/v1/jobs", {["Content-Type"] = "application/json"}, job(counter))
end
local failures = 0
response = function(status, headers, body)
  -- the compat route answers HTTP 200 with its own code: anything but 200 in it is a failure
  if route == "compat" then
    if status ~= 200 or not string.find(body, '"code":200', 1, true) then
      failures = failures + 1
    end
  elseif status ~= 201 then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  io.write(string.format("KJS p50_us=%%d p99_us=%%d requests=%%d errors=%%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
"""


def start_server(store: str, mysql_url: str | None) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="kjs-bench-"))
    env = {**os.environ, "KJS_STORE": store, "KJS_QUEUE": "memory", "KJS_ELECTION": "single"}
    if store == "mysql":
        if not mysql_url:
            sys.exit("--mysql-url is required with --store mysql")
        env["KJS_MYSQL__URL"] = mysql_url
    command = [sys.executable, "-m", "kjs", "server", "--port", str(port)]
    with open(data_dir / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url, data_dir, timeout_s=60)
    return proc, url, data_dir


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, data_dir: Path, timeout_s: float, poll_s: float = 0.1
) -> None:
    """Until the server at `url` answers /readyz; else kill it and exit naming its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(poll_s)
    proc.kill()
    sys.exit(f"server did not start; see {data_dir}/server.log")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def durability(store: str, data_dir: Path, mysql_url: str | None) -> dict[str, str]:
    """The settings that decide what a 201 survives, as the server's store has them."""
    if store == "sqlite":
        import sqlite3

        db = sqlite3.connect(data_dir / "kjs.db")
        try:
            journal = db.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            db.close()
        # `synchronous` is per connection: report what the store plugin sets on its own.
        from kjs.plugins import store_sqlite

        synchronous = getattr(store_sqlite, "SYNCHRONOUS", "NORMAL")  # (older kjs: NORMAL too)
        return {"sqlite_journal_mode": str(journal), "sqlite_synchronous": synchronous}
    import sqlalchemy as sa

    engine = sa.create_engine(str(mysql_url))
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                "('innodb_flush_log_at_trx_commit', 'sync_binlog', 'log_bin')"
            )
        ).all()
    engine.dispose()
    return {name: str(value) for name, value in rows}


def run_wrk(url: str, route: str, concurrency: int, seconds: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % {"route": route, "batch": BATCH, "run": time.monotonic_ns()})
    threads = min(2, concurrency)
    done = subprocess.run(
        [
            *("wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s"),
            *("--timeout", "10s", "-s", script.name, url),
        ],
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    out = done.stdout
    if done.returncode != 0:
        sys.exit(f"wrk failed ({done.returncode}):\n{out}{done.stderr}")
    match = re.search(r"KJS p50_us=(\d+) p99_us=(\d+) requests=(\d+) errors=(\d+)", out)
    if match is None:
        sys.exit(f"wrk printed no summary:\n{out}")
    p50, p99, requests, errors = map(int, match.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_us": p50,
        "p99_us": p99,
        "requests": requests,
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--route", choices=["v1", "compat", "batch"], default="v1")
    parser.add_argument("--mysql-url", help="a MariaDB database for --store mysql")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (Debian's package is the load generator)")
    concurrency = min(args.concurrency, 4) if args.route == "batch" else args.concurrency
    proc, url, data_dir = start_server(args.store, args.mysql_url)
    try:
        run_wrk(url, args.route, concurrency, args.warmup)
        cpu_before = cpu_seconds(proc.pid)
        figures = run_wrk(url, args.route, concurrency, args.seconds)
        cpu = cpu_seconds(proc.pid) - cpu_before
        settings = durability(args.store, data_dir, args.mysql_url)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    per_request = BATCH if args.route == "batch" else 1
    accepted = (figures["requests"] - figures["errors"]) * per_request
    print(
        json.dumps(
            {
                "store": args.store,
                "route": args.route,
                "concurrency": concurrency,
                "seconds": args.seconds,
                "accepted": accepted,
                "failed_requests": figures["errors"],
                "jobs_per_s": round(accepted / args.seconds, 1),
                "cpu_ms_per_job": round(cpu * 1000 / max(accepted, 1), 3),
                "p50_ms": round(figures["p50_us"] / 1000, 2),
                "p99_ms": round(figures["p99_us"] / 1000, 2),
                "durability": settings,
            }
        )
    )


if __name__ == "__main__":
    main()
