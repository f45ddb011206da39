"""A server on a real socket (uvicorn in a thread), for what the in-process test client cannot
do: streaming responses that end only later."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import uvicorn
from litestar import Litestar

from kjs.testing.procs import free_port

T = TypeVar("T")


class LiveServer:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
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
