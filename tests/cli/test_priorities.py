"""`kjs priority-classes`, `kjs submit --priority-class`, the PRIORITY column of `kjs ls -o wide`
and what `kjs get` says of a job's priority, against a real server (no cluster: jobs stay
pending)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kjs.core.config import load
from kjs.server import create_app
from tests.cli.support import run
from tests.live import LiveServer, live_server

CLASSES = {
    "high": {"value": 1000, "description": "interactive"},
    "low": {"value": -10, "preemptible": True},
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    scheduling = {"priority_classes": CLASSES, "queues": {"gpu": {"priority_class": "high"}}}
    overrides = {"data_dir": str(tmp_path / "data"), "scheduling": scheduling}
    with live_server(create_app(load(environ={}, overrides=overrides))) as live:
        yield live


def submit(server: LiveServer, name: str, *flags: str) -> dict[str, object]:
    done = run(
        server, "submit", "--name", name, "--namespace", "default", "--image", "busybox",
        *flags, "-o", "json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    job: dict[str, object] = json.loads(done.stdout)
    return job


def test_the_classes_are_listed(server: LiveServer) -> None:
    listed = run(server, "priority-classes")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows == [
        ["NAME", "VALUE", "PREEMPTIBLE", "DESCRIPTION"],
        ["high", "1000", "false", "interactive"],
        ["low", "-10", "true"],
    ]
    assert run(server, "priority-classes", "-o", "name").stdout == (
        "priorityclass/high\npriorityclass/low\n"
    )


def test_submit_with_a_class_and_see_its_priority(server: LiveServer) -> None:
    low = submit(server, "low", "--priority-class", "low")
    assert (low["priority_class"], low["priority"]) == ("low", -10)
    queued = submit(server, "queued", "--queue", "gpu")
    plain = submit(server, "plain")
    shown = run(server, "get", str(low["id"])).stdout.splitlines()
    assert shown[2] == "priority -10 (class low)", shown
    assert run(server, "get", str(queued["id"])).stdout.splitlines()[2] == (
        "priority 1000 (queue gpu's class)"
    )
    assert "priority" not in run(server, "get", str(plain["id"])).stdout  # none: no line
    wide = run(server, "ls", "-o", "wide").stdout.splitlines()
    column = wide[0].split().index("PRIORITY")
    priorities = {row.split()[1]: row.split()[column] for row in wide[1:]}
    assert priorities == {"low": "-10", "queued": "1000", "plain": "0"}
    unknown = run(
        server, "submit", "--name", "x", "--namespace", "default", "--image", "busybox",
        "--priority-class", "urgent",
    )  # fmt: skip
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "kjs: priority_class: unknown priority class 'urgent' (defined: high, low)\n"
    )
    assert httpx.get(f"{server.url}/api/v1/jobs", timeout=10).json()["items"][0]["name"] != "x"
