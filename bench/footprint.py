"""The server's memory: RSS idle, after a burst of submits, and idle again; modules loaded.

    python bench/footprint.py                     # SQLite, 1,000 submits
    python bench/footprint.py --submits 5000 --idle 5

It starts its own `kjs server` (SQLite in a temporary data directory, the in-memory queue, the
single-process election, no agent: the embedded default) on a free port, waits for /readyz and
then `--idle` seconds, and reads VmRSS and VmHWM from /proc/PID/status; again after `--submits`
small jobs (`POST /api/v1/jobs`, one at a time, open mode on loopback) and after a second idle
wait. The server is the real one (`kjs.cli`'s `server` command), only wrapped so that SIGUSR1
makes it write its `sys.modules` to a file: the modules it holds at idle, counted, and the heavy
ones named. SIGTERM stops it. The last line is one JSON object: `server_rss_idle_mb`,
`server_rss_after_submits_mb`, `server_rss_idle_again_mb`, `server_hwm_mb`, `modules_loaded`,
`heavy_modules_loaded`, and more.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kjs.testing.procs import free_port

# Top-level packages worth naming when the idle server holds them: none but httpx (webhooks, the
# client commands) and yaml (Litestar imports it) is needed there; tests/server/test_footprint.py
# guards the others.
HEAVY = ("kubernetes", "pydantic", "alembic", "mako", "rich", "pygments", "yaml", "httpx")

# `kjs server`, with a SIGUSR1 handler that writes the process's sys.modules to $KJS_MODULES_FILE.
WRAPPER = """
import os, signal, sys
def _dump(_sig, _frame):
    with open(os.environ["KJS_MODULES_FILE"], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
signal.signal(signal.SIGUSR1, _dump)
sys.argv = ["kjs", *sys.argv[1:]]
from kjs.cli import main
main()
"""


def start_server(data_dir: Path, modules_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "KJS_STORE": "sqlite",
        "KJS_QUEUE": "memory",
        "KJS_ELECTION": "single",
        "KJS_MODULES_FILE": str(modules_file),
    }
    command = [sys.executable, "-c", WRAPPER, "server", "--port", str(port)]
    with open(data_dir / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"server did not start; see {data_dir}/server.log")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) from /proc/PID/status, in MB (2**20 bytes)."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = round(int(value.split()[0]) / 1024, 1)  # kB
    return figures


def modules(proc: subprocess.Popen[bytes], modules_file: Path) -> list[str]:
    modules_file.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if modules_file.exists() and modules_file.stat().st_size:
            time.sleep(0.1)  # written in one go; let it close
            return modules_file.read_text().split("\n")
        time.sleep(0.05)
    sys.exit("the server did not write its modules on SIGUSR1")


def submit(url: str, count: int) -> int:
    failed = 0
    body = {"name": "f1", "namespace": "bench", "image": "busybox", "command": ["true"]}
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(count):
            if client.post("/api/v1/jobs", json=body).status_code != 201:
                failed += 1
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submits", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="kjs-footprint-"))
    modules_file = data_dir / "modules.txt"
    started = time.monotonic()
    proc, url = start_server(data_dir, modules_file)
    try:
        ready_s = time.monotonic() - started
        time.sleep(args.idle)
        idle = memory_mb(proc.pid)
        loaded = modules(proc, modules_file)
        heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
        failed = submit(url, args.submits)
        after = memory_mb(proc.pid)
        time.sleep(args.idle)
        again = memory_mb(proc.pid)
        schema = httpx.get(f"{url}/schema/openapi.json", timeout=30)
        schema.raise_for_status()
        with_schema = memory_mb(proc.pid)
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"ready in {ready_s:.2f} s; modules loaded at idle: {len(loaded)}")
    print(f"heavy modules at idle: {', '.join(heavy) or 'none'}")
    print(f"idle:                 VmRSS {idle['VmRSS']:6.1f} MB  VmHWM {idle['VmHWM']:6.1f} MB")
    print(
        f"after {args.submits:5} submits:  VmRSS {after['VmRSS']:6.1f} MB  "
        f"VmHWM {after['VmHWM']:6.1f} MB  ({failed} failed)"
    )
    print(f"idle again:           VmRSS {again['VmRSS']:6.1f} MB  VmHWM {again['VmHWM']:6.1f} MB")
    print(f"after /schema:        VmRSS {with_schema['VmRSS']:6.1f} MB")
    print(f"stopped with SIGTERM: exit code {code}")
    print(
        json.dumps(
            {
                "server_rss_idle_mb": idle["VmRSS"],
                "server_rss_after_submits_mb": after["VmRSS"],
                "server_rss_idle_again_mb": again["VmRSS"],
                "server_rss_after_schema_mb": with_schema["VmRSS"],
                "server_hwm_mb": with_schema["VmHWM"],
                "submits": args.submits,
                "failed_submits": failed,
                "modules_loaded": len(loaded),
                "heavy_modules_loaded": heavy,
                "ready_s": round(ready_s, 2),
                "exit_code": code,
            }
        )
    )


if __name__ == "__main__":
    main()
