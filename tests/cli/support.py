"""The `kjs` command run against a live server (in-process with click's runner, or as a
process), and a scripted agent that plays a cluster through the server's real queue."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from kjs.cli import main
from kjs.core import messages
from kjs.testing.waiting import wait_until
from tests.live import LiveServer

KJS = Path(sys.executable).parent / "kjs"


def run(server: LiveServer, *args: str, input: str | None = None) -> Result:
    """`kjs ARGS…` in-process against the server (`KJS_URL`), stdout and stderr apart."""
    return CliRunner().invoke(
        main, list(args), input=input, env={"KJS_URL": server.url}, catch_exceptions=False
    )


def process(server: LiveServer | None, *args: str, **env: str) -> subprocess.Popen[str]:
    """`kjs ARGS…` as a process of its own (for what runs until interrupted), line-buffered."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    if server is not None:
        environ["KJS_URL"] = server.url
    return subprocess.Popen(
        [str(KJS), *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Lines:
    """The lines a process writes to one of its pipes, as they come (read by a thread, so
    that waiting for one has a deadline)."""

    def __init__(self, pipe: Any) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def next(self, timeout: float = 15) -> str:
        """The next line; fails after `timeout` or at the end of the output."""
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line after {timeout} s; so far: {self.seen}") from None
        assert line is not None, f"the output ended; it was: {self.seen}"
        self.seen.append(line)
        return line

    def so_far(self) -> list[str]:
        """Every line written until now, without waiting (for a failure's message)."""
        while True:
            try:
                line = self.queue.get_nowait()
            except queue.Empty:
                return self.seen
            if line is None:
                self.queue.put(None)
                return self.seen
            self.seen.append(line)

    def rest(self, timeout: float = 15) -> list[str]:
        """The lines up to the end of the output."""
        out: list[str] = []
        while True:
            try:
                line = self.queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the output did not end; so far: {self.seen}") from None
            if line is None:
                return out
            self.seen.append(line)
            out.append(line)


def submit(server: LiveServer, name: str = "hello", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "namespace": "default", "image": "busybox", **fields}
    response = server.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


Step = str | tuple[str, dict[str, Any]]


class ScriptedAgent:
    """A cluster's agent as the server sees it through its queue: heartbeats, and for each
    dispatch the states `script` holds for it (by job name; `default` for the others), as a
    real agent reports them. A state is a name, or (name, fields of the status event)."""

    def __init__(
        self, server: LiveServer, cluster_id: str = "c1", default: Sequence[Step] = ("created",)
    ) -> None:
        self.server = server
        self.cluster_id = cluster_id
        self.queue = server.app.state.components.queue
        self.dispatched: dict[str, messages.Dispatch] = {}
        self.script: dict[str, Sequence[Step]] = {}
        self.default = default
        server.call(
            self.queue.subscribe(
                messages.dispatch_topic(cluster_id), messages.AGENT_CHANNEL, self._receive
            )
        )
        server.call(
            self.queue.subscribe(
                messages.control_topic(cluster_id), messages.AGENT_CHANNEL, self._ignore
            )
        )
        self.heartbeat()

    async def _ignore(self, delivery: Any) -> bool:
        return True

    async def _receive(self, delivery: Any) -> bool:
        message = messages.decode(delivery.body)
        if isinstance(message, messages.Dispatch):
            self.dispatched[message.job_id] = message
            name = message.manifest["metadata"]["labels"]["kjs.io/job-name"]
            for step in self.script.get(name, self.default):
                state, fields = (step, {}) if isinstance(step, str) else step
                await self._publish_status(message.job_id, message.attempt, state, **fields)
                # The server reads statuses concurrently (as from NSQ): each is stored before
                # the next is sent, as happens when a real job takes its time.
                await self._stored(message.job_id, state)
        return True

    async def _stored(self, job_id: str, state: str) -> None:
        jobs = self.server.app.state.jobs
        deadline = asyncio.get_running_loop().time() + 10
        while (await jobs.get(job_id)).state != state:
            assert asyncio.get_running_loop().time() < deadline, f"{job_id} never {state}"
            await asyncio.sleep(0.01)

    async def _publish_status(self, job_id: str, attempt: int, state: str, **fields: Any) -> None:
        event = messages.StatusEvent(
            cluster_id=self.cluster_id,
            job_id=job_id,
            attempt=attempt,
            state=state,
            at=dt.datetime.now(dt.UTC),
            **fields,
        )
        await self.queue.publish(messages.STATUS_TOPIC, messages.encode(event))

    def status(self, job: dict[str, Any], state: str, **fields: Any) -> None:
        self.server.call(self._publish_status(job["id"], job["attempt"], state, **fields))

    def heartbeat(self, capacity: int = 10, **fields: Any) -> None:
        at = dt.datetime.now(dt.UTC)
        beat = messages.Heartbeat(cluster_id=self.cluster_id, at=at, capacity=capacity, **fields)
        self.server.call(self.queue.publish(messages.HEARTBEAT_TOPIC, messages.encode(beat)))

        def recorded() -> bool:
            response = self.server.get(f"/api/v1/clusters/{self.cluster_id}")
            return response.status_code == 200 and response.json()["last_heartbeat"] is not None

        wait_until(recorded, timeout=10, what="the heartbeat to be recorded")


def state_of(server: LiveServer, job_id: str) -> str:
    state: str = server.get(f"/api/v1/jobs/{job_id}").json()["state"]
    return state
