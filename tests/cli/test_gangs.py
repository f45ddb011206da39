"""A gang from `kjs submit -f` (several documents: one batch), and the GANG column of
`kjs ls -o wide`, against a real server (no cluster: jobs stay pending)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kjs.core.config import load
from kjs.server import create_app
from tests.cli.support import run
from tests.live import LiveServer, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(create_app(load(environ={}, overrides={"data_dir": str(tmp_path)}))) as live:
        yield live


def member(name: str) -> str:
    return f"name: {name}\nnamespace: default\nimage: busybox\ngang: trainers\ngang_size: 2\n"


def test_ls_wide_shows_each_members_gang(server: LiveServer, tmp_path: Path) -> None:
    gang = tmp_path / "gang.yaml"
    gang.write_text(member("worker-0") + "---\n" + member("worker-1"))
    submitted = run(server, "submit", "-f", str(gang), "-o", "json")
    assert submitted.exit_code == 0, submitted.output
    assert (
        run(
            server, "submit", "--name", "alone", "--namespace", "default", "--image", "busybox"
        ).exit_code
        == 0
    )
    listed = run(server, "ls", "-o", "json").stdout
    assert {j["name"]: j["gang"] for j in json.loads(listed)["items"]} == {
        "worker-0": "trainers",
        "worker-1": "trainers",
        "alone": None,
    }
    table = run(server, "ls", "-o", "wide").stdout.splitlines()
    at = table[0].index("GANG")  # read by the column's start: a blank cell has no word
    gangs = {row.split()[1]: row[at:].split(" ", 1)[0] for row in table[1:]}
    assert gangs == {"worker-0": "trainers", "worker-1": "trainers", "alone": ""}
