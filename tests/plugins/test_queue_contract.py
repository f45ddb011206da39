"""The queue contract, for every queue backend (the NSQ one joins this suite when it lands)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kjs.core.protocols import Delivery, Queue
from kjs.plugins.queue_memory import MemoryQueue


@pytest.fixture(params=["memory", pytest.param("nsq", marks=pytest.mark.nsq)])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Queue]:
    q: Queue
    if request.param == "memory":
        q = MemoryQueue(requeue_delay_s=0.01)
    else:
        from kjs.core.config import NsqSettings
        from kjs.plugins.queue_nsq import NsqQueue

        env = request.getfixturevalue("nsq_env")
        q = NsqQueue(
            NsqSettings(
                nsqd_tcp=[n["tcp"] for n in env["nsqd"]],
                nsqd_http=[n["http"] for n in env["nsqd"]],
                lookupd_http=[lk["http"] for lk in env["lookupd"]],
            ),
            lookupd_poll_s=1,
        )
    await q.start()
    yield q
    await q.close()


@pytest.fixture
def t() -> str:
    """A topic of this test's own (nsqd keeps topics between tests)."""
    return f"kjs.test.{secrets.token_hex(4)}"


WAIT_S = 20


class Collector:
    def __init__(self, expected: int, *, fail_first: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.attempts: list[int] = []
        self.expected = expected
        self.fail_first = fail_first
        self.done = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> bool:
        if self.fail_first > 0:
            self.fail_first -= 1
            return False
        self.bodies.append(delivery.body)
        self.attempts.append(delivery.attempts)
        if len(self.bodies) >= self.expected:
            self.done.set()
        return True


async def test_every_channel_gets_every_message(queue: Queue, t: str) -> None:
    a, b = Collector(3), Collector(3)
    await queue.subscribe(t, "a", a)
    await queue.subscribe(t, "b", b)
    for i in range(3):
        await queue.publish(t, f"m{i}".encode())
    await asyncio.wait_for(asyncio.gather(a.done.wait(), b.done.wait()), WAIT_S)
    assert sorted(a.bodies) == sorted(b.bodies) == [b"m0", b"m1", b"m2"]


async def test_consumers_of_one_channel_share_the_messages(queue: Queue, t: str) -> None:
    first, second = Collector(10), Collector(10)
    all_in = asyncio.Event()

    async def watch() -> None:
        while len(first.bodies) + len(second.bodies) < 20:  # noqa: ASYNC110 - two collectors
            await asyncio.sleep(0.01)
        all_in.set()

    await queue.subscribe(t, "shared", first)
    await queue.subscribe(t, "shared", second)
    for i in range(20):
        await queue.publish(t, f"m{i}".encode())
    await asyncio.wait_for(watch(), WAIT_S)
    assert sorted(first.bodies + second.bodies) == sorted(f"m{i}".encode() for i in range(20))


async def test_a_message_published_before_any_consumer_is_kept(queue: Queue, t: str) -> None:
    await queue.publish(t, b"hello")
    collector = Collector(1)
    await queue.subscribe(t, "late", collector)
    await asyncio.wait_for(collector.done.wait(), WAIT_S)
    assert collector.bodies == [b"hello"]


async def test_a_refused_message_comes_back_with_its_attempts_counted(queue: Queue, t: str) -> None:
    collector = Collector(1, fail_first=2)
    await queue.subscribe(t, "c", collector)
    await queue.publish(t, b"retry me")
    await asyncio.wait_for(collector.done.wait(), WAIT_S)
    assert collector.bodies == [b"retry me"] and collector.attempts == [3]


async def test_a_failing_handler_does_not_lose_the_message(queue: Queue, t: str) -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def flaky(delivery: Delivery) -> bool:
        calls.append(delivery.attempts)
        if delivery.attempts == 1:
            raise RuntimeError("transient")
        done.set()
        return True

    await queue.subscribe(t, "c", flaky)
    await queue.publish(t, b"x")
    await asyncio.wait_for(done.wait(), WAIT_S)
    assert calls == [1, 2]


async def test_ping_answers_while_the_queue_is_up(queue: Queue, t: str) -> None:
    await queue.ping()


async def test_ping_fails_when_the_queue_is_gone() -> None:
    from kjs.core.config import NsqSettings
    from kjs.plugins.queue_nsq import NsqQueue

    memory = MemoryQueue()
    await memory.close()
    with pytest.raises(ConnectionError):
        await memory.ping()
    nowhere = NsqQueue(NsqSettings(nsqd_http=["127.0.0.1:9"], nsqd_tcp=["127.0.0.1:9"]))
    with pytest.raises(ConnectionError, match=r"NSQ unreachable: 127\.0\.0\.1:9"):
        await nowhere.ping()
    with pytest.raises(ConnectionError, match="no nsqd accepted /pub"):
        await nowhere.publish("t", b"x")
    await nowhere.close()


def test_the_memory_queue_is_registered() -> None:
    from kjs.core.plugins import Plugins

    backend = Plugins(autoload=False).backend("queue", "memory")
    assert isinstance(backend.factory(Any), MemoryQueue)  # type: ignore[arg-type]
