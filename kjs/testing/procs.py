"""Background processes of the test environment: start, record, await readiness, stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PROCS_FILE = "procs.json"


class NotReadyError(RuntimeError):
    """A part of the test environment did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One started process; its process group is what `down` signals."""

    name: str
    pid: int
    cmd: list[str]
    log: str


def _load(directory: Path) -> list[Proc]:
    path = directory / PROCS_FILE
    if not path.exists():
        return []
    return [Proc(**p) for p in json.loads(path.read_text())]


def _save(directory: Path, procs: list[Proc]) -> None:
    tmp = directory / (PROCS_FILE + ".tmp")
    tmp.write_text(json.dumps([asdict(p) for p in procs], indent=1))
    tmp.replace(directory / PROCS_FILE)


def start(
    directory: Path, name: str, cmd: Sequence[str], *, env: dict[str, str] | None = None
) -> Proc:
    """Start `cmd` in a new session (its own process group), log to `directory/logs/name.log`."""
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=directory,
        )
    proc = Proc(name=name, pid=popen.pid, cmd=list(cmd), log=str(log))
    _save(directory, [*_load(directory), proc])
    return proc


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours (when `up` runs in-process) counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def log_tail(proc: Proc, lines: int = 30) -> str:
    try:
        text = Path(proc.log).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(proc: Proc, probe: Callable[[], bool], *, timeout: float = 90.0) -> None:
    """Poll `probe` until it is true; fail early (with the log's tail) if the process dies."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if not alive(proc.pid):
            raise NotReadyError(f"{proc.name} exited during start-up:\n{log_tail(proc)}")
        try:
            if probe():
                return
        except Exception:  # probes raise while the server is still coming up
            pass
        if time.monotonic() > deadline:
            raise NotReadyError(f"{proc.name} not ready after {timeout:.0f} s:\n{log_tail(proc)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_all(directory: Path, *, grace: float = 10.0) -> list[str]:
    """SIGTERM every recorded process group (newest first), SIGKILL what outlives `grace`."""
    stopped: list[str] = []
    for proc in reversed(_load(directory)):
        if not alive(proc.pid):
            continue
        _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)
        stopped.append(proc.name)
    (directory / PROCS_FILE).unlink(missing_ok=True)
    return stopped


def running(directory: Path) -> dict[str, bool]:
    """Each recorded process by name, and whether it is still alive."""
    return {p.name: alive(p.pid) for p in _load(directory)}


def restart(directory: Path, name: str, *, sig: signal.Signals = signal.SIGTERM) -> Proc:
    """Signal one recorded process (SIGKILL for a crash), wait until it is gone, start it again
    with the same command line; the caller awaits its readiness."""
    recorded = _load(directory)
    (proc,) = [p for p in recorded if p.name == name]
    _signal_group(proc.pid, sig)
    deadline = time.monotonic() + 60
    while alive(proc.pid):
        if time.monotonic() > deadline:
            raise NotReadyError(f"{name} did not exit within 60 s of {sig.name}")
        time.sleep(0.05)
    _save(directory, [p for p in recorded if p.name != name])
    return start(directory, name, proc.cmd)
