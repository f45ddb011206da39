"""A server on a real socket (uvicorn in a thread), for what the in-process test client cannot
do: streaming responses that end only later."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from litestar import Litestar

from kjs.agent.run import running_agent
from kjs.core.config import Settings, load
from kjs.server import _graceful_server_class, create_app
from kjs.testing.procs import free_port

T = TypeVar("T")


class LiveServer:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The server's own class: its stop ends streaming answers (log followers, watches).
        self.server = _graceful_server_class()(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"),
            app.state.stopping,
        )

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's own event loop (its queue lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.app.state.loop).result(10)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kwargs)


@contextmanager
def live_server(app: Litestar) -> Iterator[LiveServer]:
    live = LiveServer(app)
    thread = threading.Thread(target=live.server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not live.server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield live
    finally:
        live.server.should_exit = True
        thread.join(30)


def kjs_up_app(
    data_dir: Path,
    cluster_id: str,
    kubeconfig: str,
    *,
    agent: dict[str, Any] | None = None,
    agent_settings: Settings | None = None,
    more_clusters: dict[str, str] | None = None,
    **overrides: Any,
) -> Litestar:
    """What `kjs up` runs: a server (SQLite, in-memory queue, `election = single`) with one
    cluster's agent inside, sharing its queue. `agent` adds `[agent]` settings to both;
    `agent_settings` gives the agent settings of its own (e.g. a Lease election);
    `more_clusters` (id -> kubeconfig) adds an agent for each of more clusters."""
    settings = load(
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "election": "single",
            "agent": {"heartbeat_s": 1.0, **(agent or {})},
            **overrides,
        },
    )

    def companion(cluster: str, config: str) -> Any:
        return lambda components: running_agent(
            agent_settings or settings,
            cluster,
            kubeconfig=config,
            queue=components.queue,
            plugins=components.plugins,
        )

    clusters = {cluster_id: kubeconfig, **(more_clusters or {})}
    return create_app(settings, companions=[companion(*c) for c in clusters.items()])


@contextmanager
def live_kjs_up(
    data_dir: Path, cluster_id: str, kubeconfig: str, **settings: Any
) -> Iterator[LiveServer]:
    """`kjs_up_app` on a real socket, once the agent's first heartbeat has arrived."""
    with live_server(kjs_up_app(data_dir, cluster_id, kubeconfig, **settings)) as live:
        deadline = time.monotonic() + 30
        while live.get(f"/api/v1/clusters/{cluster_id}").status_code != 200:
            assert time.monotonic() < deadline, "the agent's first heartbeat did not arrive"
            time.sleep(0.1)
        yield live
