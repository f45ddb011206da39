"""What the agent could not send while the queue was unreachable, kept on disk until it can.

Publishing goes straight to the queue when it answers. When it does not, the message is
appended to a spool file under the agent's data directory (bounded: past the limit the oldest
heartbeats are dropped first, then new messages are refused with an error in the log) and a
background task sends the spool, in order, once the queue answers again — also after a restart,
so a final state whose Job the TTL controller deleted meanwhile is not lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from pathlib import Path

from kjs.core import aio, messages
from kjs.core.backends import subscribe_with
from kjs.core.protocols import Handler, Queue

log = logging.getLogger(__name__)
RETRY_S = 2.0
PARALLEL = 4


class SpoolingQueue:
    """A Queue whose `publish` never fails: undeliverable messages wait in a file."""

    def __init__(self, queue: Queue, path: Path, *, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.queue = queue
        self.path = path
        self.max_bytes = max_bytes
        self._lock = asyncio.Lock()  # over the spool file: appends and drains
        # Publishes in flight at once: enough to overlap the queue's round trips; more only
        # makes each costlier (an HTTP client's pool of many connections).
        self._sending = asyncio.Semaphore(PARALLEL)
        # Whether messages wait in the spool: then new ones queue up behind them.
        self._spooling = self._spooled()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.queue.start()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._drain_forever(), name="spool")

    async def publish(self, topic: str, body: bytes) -> None:
        # Straight to the queue, many at once (the agent publishes one status per Job it
        # creates: one at a time, the queue's round trips would pace its creates). Messages
        # in flight together have no order among them, as before they reached two nsqds.
        if not self._spooling:
            try:
                async with self._sending:
                    # Looked at again: an outage found while this one waited for its turn
                    # sends it to the spool at once, behind the others, not to its own timeout.
                    if not self._spooling:
                        await self.queue.publish(topic, body)
                        return
            except Exception as e:
                log.warning("queue unreachable (%s): keeping messages in %s", e, self.path)
        async with self._lock:
            self._append(topic, body)
            self._spooling = self._spooled()

    def _spooled(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def _append(self, topic: str, body: bytes) -> None:
        line = f"{topic} {base64.b64encode(body).decode()}\n".encode()
        size = self.path.stat().st_size if self.path.exists() else 0
        if size + len(line) > self.max_bytes and topic == messages.HEARTBEAT_TOPIC:
            return  # a heartbeat is worth nothing later
        if size + len(line) > self.max_bytes:
            log.error("spool %s is full (%d bytes): message for %s dropped", self.path, size, topic)
            return
        with open(self.path, "ab") as f:
            f.write(line)

    async def drain(self) -> int:
        """Send what is spooled, in order; stop at the first failure. Returns how many went."""
        async with self._lock:
            if not self._spooled():
                return 0
            lines = self.path.read_bytes().splitlines()
            sent = 0
            try:
                for line in lines:
                    topic, _, body = line.decode().partition(" ")
                    if topic != messages.HEARTBEAT_TOPIC:  # stale by now
                        await self.queue.publish(topic, base64.b64decode(body))
                    sent += 1
            except Exception as e:
                log.info("spool not drained yet (%d left): %s", len(lines) - sent, e)
            remaining = lines[sent:]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(b"".join(line + b"\n" for line in remaining))
            tmp.replace(self.path)
            self._spooling = bool(remaining)
            if sent:
                log.info("sent %d spooled messages", sent)
            return sent

    async def _drain_forever(self) -> None:
        while True:
            await asyncio.sleep(RETRY_S)
            await self.drain()

    async def subscribe(
        self, topic: str, channel: str, handler: Handler, *, max_in_flight: int | None = None
    ) -> None:
        await subscribe_with(self.queue, topic, channel, handler, max_in_flight=max_in_flight)

    async def ping(self) -> None:
        await self.queue.ping()

    async def close(self) -> None:
        if self._task is not None:
            await aio.stop_tasks([self._task])
        with contextlib.suppress(Exception):
            await self.drain()  # a last try; what is left waits for the next start
        await self.queue.close()
