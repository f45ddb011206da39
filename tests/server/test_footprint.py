"""What a real idle `kjs server` holds: none of the heavy modules that only start-up (the
migration: Alembic, Mako and the Pygments lexers it loads), other commands (`kjs up`'s and the
agent's Kubernetes client) or unused extras (httpx's own CLI: rich, pygments; Litestar's
Pydantic plugins; aiohttp, which only the NSQ queue uses) need. Memory figures are
bench/footprint.py's; this only guards the modules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kjs.server import _Litestar
from kjs.testing.procs import free_port

HEAVY = {"kubernetes", "alembic", "mako", "pygments", "rich", "pydantic", "aiohttp"}
# `kjs server`, with a SIGUSR1 handler that writes the process's sys.modules to a file.
DUMPING_KJS = """
import os, signal, sys
def _dump(_sig, _frame):
    with open(os.environ["KJS_MODULES_FILE"] + ".tmp", "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
    os.replace(os.environ["KJS_MODULES_FILE"] + ".tmp", os.environ["KJS_MODULES_FILE"])
signal.signal(signal.SIGUSR1, _dump)
sys.argv = ["kjs", *sys.argv[1:]]
from kjs.cli import main
main()
"""
ENV = {"KJS_STORE": "sqlite", "KJS_QUEUE": "memory", "KJS_ELECTION": "single"}


def start(tmp_path: Path, modules: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = ["server", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", DUMPING_KJS, *args],
            env={**os.environ, **ENV, "KJS_MODULES_FILE": str(modules)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError((tmp_path / "server.log").read_text()[-3000:])


def loaded_modules(proc: subprocess.Popen[bytes], modules: Path) -> set[str]:
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not modules.exists():
        assert time.monotonic() < deadline, "the server did not write its modules"
        time.sleep(0.05)
    return set(modules.read_text().split())


def test_an_idle_server_that_served_holds_no_heavy_module(tmp_path: Path) -> None:
    modules = tmp_path / "modules.txt"
    proc, url = start(tmp_path, modules)
    try:
        # It migrated (its tables are there), takes jobs and serves its schema.
        job = {"name": "f1", "namespace": "ops", "image": "busybox", "command": ["true"]}
        assert httpx.post(f"{url}/api/v1/jobs", json=job, timeout=10).status_code == 201
        schema = httpx.get(f"{url}/schema/openapi.json", timeout=30)
        assert schema.status_code == 200 and schema.json()["info"]["title"] == "kjs"
        loaded = {name.split(".")[0] for name in loaded_modules(proc, modules)}
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    assert {"kjs", "litestar", "sqlalchemy", "uvicorn"} <= loaded  # the server's own list
    assert loaded & HEAVY == set()
    assert code == 0


def test_a_store_that_cannot_be_migrated_stops_the_server_before_it_serves(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kjs.db").write_bytes(b"not a database" * 100)
    args = ["server", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")]
    done = subprocess.run(
        [sys.executable, "-m", "kjs", *args],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr[-3000:]
    assert "file is not a database" in done.stderr
    assert "Application startup failed" in done.stderr


def test_litestar_keeps_its_pydantic_plugins_once_pydantic_is_in_use() -> None:
    pytest.importorskip("pydantic")  # imported: a plugin's routes could take its models
    from litestar.plugins.pydantic import PydanticPlugin

    assert any(isinstance(p, PydanticPlugin) for p in _Litestar._get_default_plugins([]))
