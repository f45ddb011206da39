"""Opt-in backend for contributors with a Docker engine: MariaDB and NSQ in containers.

CI has no Docker engine and does not exercise this module; the local-process backend is the
default. It drives the `docker` CLI rather than testcontainers, because testcontainers' reaper
removes containers when the starting process exits, and `kjs-testenv up` returns while the
environment keeps running.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kjs.testing import procs
from kjs.testing.mysql import ADMIN_USER, DATABASE, USER
from kjs.testing.nsq import _ping

MARIADB_IMAGE = "mariadb:10.11"
NSQ_IMAGE = "nsqio/nsq:v1.3.0"
_RECORD = "docker.json"


def _docker(*args: str) -> str:
    if shutil.which("docker") is None:
        raise RuntimeError("the docker backend needs the `docker` CLI and a running engine")
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`docker {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _record(directory: Path, container: str) -> None:
    path = directory / _RECORD
    known = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*known, container]))


def _run(directory: Path, *args: str) -> str:
    container = _docker("run", "-d", "--rm", *args)
    _record(directory, container)
    return container


def _port(container: str, inner: int) -> int:
    # "127.0.0.1:49153"
    return int(_docker("port", container, f"{inner}/tcp").splitlines()[0].rsplit(":", 1)[1])


def up_mysql(directory: Path) -> dict[str, Any]:
    password, admin_password = secrets.token_hex(12), secrets.token_hex(12)
    container = _run(
        directory,
        "-p",
        "127.0.0.1::3306",
        "-e",
        f"MARIADB_ROOT_PASSWORD={admin_password}",
        "-e",
        f"MARIADB_DATABASE={DATABASE}",
        "-e",
        f"MARIADB_USER={USER}",
        "-e",
        f"MARIADB_PASSWORD={password}",
        MARIADB_IMAGE,
    )
    port = _port(container, 3306)

    def ready() -> bool:
        import pymysql

        pymysql.connect(host="127.0.0.1", port=port, user=USER, password=password).close()
        return True

    procs.wait_ready(procs.Proc("mysql (docker)", os.getpid(), [], ""), ready, timeout=120)
    # The image's root is the admin; expose it under the same name as the local backend's.
    _docker(
        "exec",
        container,
        "mariadb",
        "-uroot",
        f"-p{admin_password}",
        "-e",
        f"CREATE USER '{ADMIN_USER}'@'%' IDENTIFIED BY '{admin_password}'; "
        f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'%' WITH GRANT OPTION;",
    )
    return {
        "mysql": {
            "url": f"mysql+pymysql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}",
            "admin_url": f"mysql+pymysql://{ADMIN_USER}:{admin_password}@127.0.0.1:{port}/",
        }
    }


def up_nsq(directory: Path) -> dict[str, Any]:
    network = f"kjs-testenv-{secrets.token_hex(4)}"
    _docker("network", "create", network)
    (directory / "docker-network").write_text(network)
    lookupd = _run(
        directory,
        "--network",
        network,
        "--name",
        f"{network}-lookupd",
        "-p",
        "127.0.0.1::4160",
        "-p",
        "127.0.0.1::4161",
        NSQ_IMAGE,
        "/nsqlookupd",
    )
    lookupd_tcp, lookupd_http = _port(lookupd, 4160), _port(lookupd, 4161)
    nsqds = []
    for node_id in (1, 2):
        # nsqd must advertise what a client on the host dials: 127.0.0.1 and its published port,
        # which is only known after start, so the ports are chosen here and mapped 1:1.
        tcp, http = procs.free_port(), procs.free_port()
        _run(
            directory,
            "--network",
            network,
            "-p",
            f"127.0.0.1:{tcp}:{tcp}",
            "-p",
            f"127.0.0.1:{http}:{http}",
            NSQ_IMAGE,
            "/nsqd",
            f"--tcp-address=0.0.0.0:{tcp}",
            f"--http-address=0.0.0.0:{http}",
            "--broadcast-address=127.0.0.1",
            f"--node-id={node_id}",
            f"--lookupd-tcp-address={network}-lookupd:4160",
        )
        nsqds.append({"tcp": f"127.0.0.1:{tcp}", "http": f"127.0.0.1:{http}"})
    me = procs.Proc("nsq (docker)", os.getpid(), [], "")
    for address in [f"127.0.0.1:{lookupd_http}"] + [n["http"] for n in nsqds]:
        procs.wait_ready(me, lambda a=address: _ping(a), timeout=60)  # type: ignore[misc]
    return {
        "nsq": {
            "nsqd": nsqds,
            "lookupd": [{"tcp": f"127.0.0.1:{lookupd_tcp}", "http": f"127.0.0.1:{lookupd_http}"}],
        }
    }


def down(directory: Path) -> list[str]:
    path = directory / _RECORD
    containers: list[str] = json.loads(path.read_text()) if path.exists() else []
    for container in containers:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    network = directory / "docker-network"
    if network.exists():
        subprocess.run(
            ["docker", "network", "rm", network.read_text()], capture_output=True, check=False
        )
    path.unlink(missing_ok=True)
    return [f"container {c[:12]}" for c in containers]
