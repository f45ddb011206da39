"""Bring the whole test environment up or down in a directory, described by `D/env.json`."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kjs.testing import kube, mysql, nsq, procs

ENV_FILE = "env.json"
PARTS = ("mysql", "nsq", "k8s")
_SECTION = {"mysql": "mysql", "nsq": "nsq", "k8s": "clusters"}
MAX_CLUSTERS = 3  # what 2 cores carry with etcd, MariaDB and NSQ beside them


def _log_to_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def up(
    directory: Path,
    *,
    clusters: int = 2,
    only: Sequence[str] = PARTS,
    backend: str = "local",
    log: Callable[[str], None] = _log_to_stderr,
) -> dict[str, Any]:
    """Start the requested parts, wait until each is ready, write and return env.json."""
    unknown = set(only) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if not 1 <= clusters <= MAX_CLUSTERS:
        raise ValueError(f"--clusters must be 1..{MAX_CLUSTERS}, got {clusters}")
    if backend not in ("local", "docker"):
        raise ValueError(f"unknown backend {backend!r}; choose local or docker")
    if backend == "docker" and "k8s" in only:
        raise ValueError("the docker backend runs MariaDB and NSQ only: add --only mysql,nsq")
    directory.mkdir(parents=True, exist_ok=True)
    # A running environment may gain parts it lacks; what it has is not started twice.
    env: dict[str, Any] = load(directory) if (directory / ENV_FILE).exists() else {"version": 1}
    present = [p for p in only if _SECTION[p] in env]
    if present:
        raise RuntimeError(
            f"{directory} already runs {', '.join(present)}: `kjs-testenv down --dir {directory}`"
            " first, or name only the parts it lacks with --only"
        )
    had_parts = bool(env.keys() - {"version"})
    if not had_parts and any(procs.running(directory).values()):
        raise RuntimeError(f"{directory} has processes but no {ENV_FILE}: `kjs-testenv down` it")
    starters: dict[str, Callable[[], dict[str, Any]]]
    if backend == "docker":
        from kjs.testing import docker

        starters = {
            "mysql": lambda: docker.up_mysql(directory),
            "nsq": lambda: docker.up_nsq(directory),
        }
    else:
        starters = {
            "mysql": lambda: {"mysql": mysql.up(directory)},
            "nsq": lambda: {"nsq": nsq.up(directory)},
            "k8s": lambda: kube.up(directory, clusters),
        }
    chosen = [part for part in PARTS if part in only]
    try:
        for index, part in enumerate(chosen, 1):
            started = time.monotonic()
            log(f"starting {_describe(part, clusters)} ({index}/{len(chosen)}) …")
            env.update(starters[part]())
            log(f"{part}: ready in {time.monotonic() - started:.1f} s")
    except BaseException:
        if had_parts:
            _write(directory, env)  # the environment keeps running; `down` stops all of it
        else:
            down(directory, remove=False)
        raise
    _write(directory, env)
    return env


def _describe(part: str, clusters: int) -> str:
    if part == "k8s":
        return (
            f"{clusters} Kubernetes control plane{'s' if clusters > 1 else ''} (etcd, "
            "kube-apiserver, kube-controller-manager, kubelet)"
        )
    return {"mysql": "MariaDB", "nsq": "nsqlookupd and 2 nsqd"}[part]


def _write(directory: Path, env: dict[str, Any]) -> None:
    tmp = directory / (ENV_FILE + ".tmp")
    tmp.write_text(json.dumps(env, indent=2))
    tmp.replace(directory / ENV_FILE)


def down(directory: Path, *, remove: bool = True) -> list[str]:
    """Stop what `directory` records and delete its data; fine if it is missing or down."""
    if not directory.exists():
        return []
    stopped = procs.stop_all(directory)
    if (directory / "docker.json").exists():
        from kjs.testing import docker

        stopped += docker.down(directory)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
    return stopped


def given_or_up(
    directory: Path | str | None, **up_kwargs: Any
) -> tuple[dict[str, Any], Path | None]:
    """The running environment in `directory`; or, given None, one started now (`up` with
    `up_kwargs`) in a new temporary directory, returned with that directory: the caller's to
    `down` when done (None when the environment was given)."""
    if directory is not None:
        return load(Path(directory)), None
    import tempfile

    own = Path(tempfile.mkdtemp(prefix="kjs-env-"))
    return up(own, **up_kwargs), own


def load(directory: Path) -> dict[str, Any]:
    """The env.json of a running environment."""
    path = directory / ENV_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no {ENV_FILE} in {directory}: run `kjs-testenv up --dir {directory}`"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def status(directory: Path) -> dict[str, bool]:
    """Each recorded process and whether it is alive."""
    return procs.running(directory)


def restart(
    directory: Path, name: str, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 90.0
) -> None:
    """Stop one server of a running environment (`mysql`, `nsqd1`, …; SIGKILL for a crash) and
    start it again on the same addresses and data; returns once it serves again."""
    proc = procs.restart(directory, name, sig=sig)
    if name == "mysql":
        probe = mysql.probe(directory)
    elif name.startswith("nsq"):
        probe = nsq.probe(proc.cmd)
    else:
        raise ValueError(f"restarting {name!r} is not supported (mysql and nsq servers are)")
    procs.wait_ready(proc, probe, timeout=timeout)
