"""kjs processes for tests that need real ones: SIGKILL, SIGTERM, restarts, several replicas."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from kjs.testing.procs import free_port


def nsq_environment(nsq_env: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """`KJS_*` variables that point a kjs process at the test environment's NSQ."""
    return {
        "KJS_QUEUE": "nsq",
        "KJS_NSQ__NSQD_TCP": json.dumps([n["tcp"] for n in nsq_env["nsqd"]]),
        "KJS_NSQ__NSQD_HTTP": json.dumps([n["http"] for n in nsq_env["nsqd"]]),
        "KJS_NSQ__LOOKUPD_HTTP": json.dumps([lk["http"] for lk in nsq_env["lookupd"]]),
    }


class KjsProcess:
    """`python -m kjs <args>` in a subprocess, restartable with the same arguments."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, ready: Callable[[KjsProcess], bool]
    ) -> None:
        self.args, self.env, self.log, self.ready = args, env, log, ready
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30) -> KjsProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kjs", *self.args],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.ready(self):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready: {self.args}\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=40)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


class Server(KjsProcess):
    """`kjs server` on a fixed port and data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        data_dir.mkdir(exist_ok=True)
        super().__init__(
            ["server", "--port", str(self.port), "--data-dir", str(data_dir)],
            env,
            data_dir / "server.log",
            lambda p: httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1{path}", timeout=10, **kwargs)
