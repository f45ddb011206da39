"""`subscribe_with`: a queue backend that takes `max_in_flight` gets it; one written before the
keyword existed (`subscribe(topic, channel, handler)`) still subscribes, with its default."""

from __future__ import annotations

import asyncio
from typing import Any

from kjs.core.backends import subscribe_with
from kjs.plugins.queue_memory import MemoryQueue


class OlderQueue:
    """A third-party backend's subscribe, as the protocol had it before `max_in_flight`."""

    def __init__(self) -> None:
        self.subscribed: list[tuple[str, str]] = []

    async def subscribe(self, topic: str, channel: str, handler: Any) -> None:
        self.subscribed.append((topic, channel))


async def handler(_delivery: Any) -> bool:
    return True


def test_a_backend_without_the_keyword_subscribes_with_its_default() -> None:
    queue = OlderQueue()
    asyncio.run(subscribe_with(queue, "kjs.status", "server", handler, max_in_flight=128))
    assert queue.subscribed == [("kjs.status", "server")]


def test_a_backend_with_the_keyword_gets_it() -> None:
    async def workers() -> int:
        queue = MemoryQueue()
        await subscribe_with(queue, "kjs.status", "server", handler, max_in_flight=128)
        count = len(queue._workers)  # one task per message it handles at once
        await queue.close()
        return count

    assert asyncio.run(workers()) == 128
