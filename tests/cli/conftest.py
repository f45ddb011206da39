"""A real `kjs server` (SQLite, the in-memory queue, no Kubernetes) on a socket, and a scripted
agent that plays a cluster through its queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kjs.core.config import load
from kjs.server import create_app
from tests.cli.support import ScriptedAgent
from tests.live import LiveServer, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    with live_server(create_app(settings)) as live:
        yield live


@pytest.fixture
def agent(server: LiveServer) -> ScriptedAgent:
    return ScriptedAgent(server)
