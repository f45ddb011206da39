"""`queue = "memory"`: in-process topics and channels with the NSQ plugin's semantics.

Every channel of a topic gets each message (fan-out); consumers of one channel compete; a message
is delivered at least once and goes back (its attempt count growing) when its handler returns
False or raises. A topic keeps what is published before it has a channel, as nsqd does. Nothing
survives the process — kjs never relies on the queue keeping a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass

from kjs.core import aio
from kjs.core.backends import Backend
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import Handler

log = logging.getLogger(__name__)


@dataclass
class MemoryDelivery:
    body: bytes
    attempts: int = 0


class MemoryQueue:
    def __init__(self, *, requeue_delay_s: float = 0.05, max_in_flight: int = 16) -> None:
        self.requeue_delay_s = requeue_delay_s
        self.max_in_flight = max_in_flight
        self._channels: dict[str, dict[str, asyncio.Queue[MemoryDelivery]]] = defaultdict(dict)
        self._backlog: dict[str, list[bytes]] = defaultdict(list)  # topics with no channel yet
        self._workers: list[asyncio.Task[None]] = []
        self._requeues: set[asyncio.TimerHandle] = set()
        self._closing = False

    async def start(self) -> None:
        pass

    async def ping(self) -> None:
        if self._closing:
            raise ConnectionError("the in-memory queue is closed")

    async def publish(self, topic: str, body: bytes) -> None:
        await self.ping()
        channels = self._channels.get(topic)
        if not channels:
            self._backlog[topic].append(body)
            return
        for queue in channels.values():
            queue.put_nowait(MemoryDelivery(body))

    def depth(self, topic: str, channel: str | None = None) -> int:
        """Messages waiting (not in flight) on a channel, or in a channel-less topic."""
        if channel is None:
            return len(self._backlog.get(topic, ()))
        queue = self._channels.get(topic, {}).get(channel)
        return queue.qsize() if queue else 0

    async def subscribe(
        self, topic: str, channel: str, handler: Handler, *, max_in_flight: int | None = None
    ) -> None:
        channels = self._channels[topic]
        if channel not in channels:
            channels[channel] = asyncio.Queue()
            for body in self._backlog.pop(topic, []):
                channels[channel].put_nowait(MemoryDelivery(body))
        queue = channels[channel]
        for i in range(max_in_flight or self.max_in_flight):
            self._workers.append(
                asyncio.create_task(
                    self._consume(queue, handler), name=f"queue_memory {topic}/{channel} #{i}"
                )
            )

    async def _consume(self, queue: asyncio.Queue[MemoryDelivery], handler: Handler) -> None:
        while True:
            delivery = await queue.get()
            delivery.attempts += 1
            try:
                done = await handler(delivery)
            except asyncio.CancelledError:
                queue.put_nowait(delivery)  # closing: hand it back
                raise
            except Exception:
                log.exception("handler failed; message requeued (attempt %d)", delivery.attempts)
                done = False
            if not done:
                self._requeue(queue, delivery)

    def _requeue(self, queue: asyncio.Queue[MemoryDelivery], delivery: MemoryDelivery) -> None:
        loop = asyncio.get_running_loop()

        def put_back() -> None:
            self._requeues.discard(handle)
            queue.put_nowait(delivery)

        handle = loop.call_later(self.requeue_delay_s * min(delivery.attempts, 20), put_back)
        self._requeues.add(handle)

    async def close(self) -> None:
        self._closing = True
        await aio.stop_tasks(self._workers)
        for handle in self._requeues:
            handle.cancel()
        self._workers.clear()


@hookimpl
def register_queues() -> list[Backend]:
    return [
        Backend(
            "queue",
            "memory",
            lambda _context: MemoryQueue(),
            "in-process topics and channels (embedded)",
        )
    ]
