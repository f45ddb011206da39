"""NSQ for the queue tests: one nsqlookupd and N nsqd, each with its own data path and node id."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kjs.testing import procs
from kjs.testing.build import binary


def _ping(http_address: str) -> bool:
    with urllib.request.urlopen(f"http://{http_address}/ping", timeout=2) as resp:
        return bool(resp.status == 200)


def probe(cmd: list[str]) -> Callable[[], bool]:
    """Readiness of the nsqd or nsqlookupd that `cmd` starts."""
    (http,) = [a.split("=", 1)[1] for a in cmd if a.startswith("--http-address=")]
    return lambda: _ping(http)


def up(directory: Path, nsqd_count: int = 2) -> dict[str, Any]:
    """Start nsqlookupd and `nsqd_count` nsqd; returns the `nsq` section of env.json."""
    lookupd_tcp = f"127.0.0.1:{procs.free_port()}"
    lookupd_http = f"127.0.0.1:{procs.free_port()}"
    lookupd = procs.start(
        directory,
        "nsqlookupd",
        [
            str(binary("nsqlookupd")),
            f"--tcp-address={lookupd_tcp}",
            f"--http-address={lookupd_http}",
            "--broadcast-address=127.0.0.1",
            # nsqd pings every 15 s; a SIGKILLed nsqd should vanish from discovery soon after.
            "--inactive-producer-timeout=30s",
            "--log-level=warn",
        ],
    )
    procs.wait_ready(lookupd, lambda: _ping(lookupd_http))
    nsqds = []
    for node_id in range(1, nsqd_count + 1):
        data = directory / "nsq" / f"nsqd{node_id}"
        data.mkdir(parents=True, exist_ok=True)
        tcp, http = f"127.0.0.1:{procs.free_port()}", f"127.0.0.1:{procs.free_port()}"
        nsqd = procs.start(
            directory,
            f"nsqd{node_id}",
            [
                str(binary("nsqd")),
                f"--tcp-address={tcp}",
                f"--http-address={http}",
                f"--data-path={data}",
                # Without these nsqd advertises the OS hostname and a hostname-derived id.
                "--broadcast-address=127.0.0.1",
                f"--node-id={node_id}",
                f"--lookupd-tcp-address={lookupd_tcp}",
                "--log-level=warn",
            ],
        )
        procs.wait_ready(nsqd, lambda http=http: _ping(http))  # type: ignore[misc]
        nsqds.append({"tcp": tcp, "http": http})
    return {"nsqd": nsqds, "lookupd": [{"tcp": lookupd_tcp, "http": lookupd_http}]}
