"""The queue contract (`kjs.core.protocols.Queue`): what every queue backend must do.

Needs a fixture `queue`: a started queue of your backend (`await queue.start()`), closed by your
fixture afterwards; a broker shared between tests is fine, each test uses topics of its own
(fixture `topic`). Messages must arrive within `WAIT_S` seconds, a refused one come back within
them too: configure short requeue delays. The tests are async (pytest-asyncio, any mode). Then::

    from kjs.testing.contracts.queue import *  # noqa: F403
"""

from __future__ import annotations

import asyncio
import inspect
import secrets

import pytest

from kjs.core.protocols import Delivery, Queue

WAIT_S = 20


@pytest.fixture
def topic() -> str:
    """A topic of this test's own (a broker keeps topics between tests)."""
    return f"kjs.test.{secrets.token_hex(4)}"


class Collector:
    """A handler that keeps what it acknowledged; refuses the first `fail_first` deliveries."""

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


@pytest.mark.asyncio
async def test_every_channel_gets_every_message(queue: Queue, topic: str) -> None:
    a, b = Collector(3), Collector(3)
    await queue.subscribe(topic, "a", a)
    await queue.subscribe(topic, "b", b)
    for i in range(3):
        await queue.publish(topic, f"m{i}".encode())
    await asyncio.wait_for(asyncio.gather(a.done.wait(), b.done.wait()), WAIT_S)
    assert sorted(a.bodies) == sorted(b.bodies) == [b"m0", b"m1", b"m2"]


@pytest.mark.asyncio
async def test_consumers_of_one_channel_share_the_messages(queue: Queue, topic: str) -> None:
    first, second = Collector(10), Collector(10)
    all_in = asyncio.Event()

    async def watch() -> None:
        while len(first.bodies) + len(second.bodies) < 20:  # noqa: ASYNC110 - two collectors
            await asyncio.sleep(0.01)
        all_in.set()

    await queue.subscribe(topic, "shared", first)
    await queue.subscribe(topic, "shared", second)
    for i in range(20):
        await queue.publish(topic, f"m{i}".encode())
    await asyncio.wait_for(watch(), WAIT_S)
    assert sorted(first.bodies + second.bodies) == sorted(f"m{i}".encode() for i in range(20))


@pytest.mark.asyncio
async def test_a_message_published_before_any_consumer_is_kept(queue: Queue, topic: str) -> None:
    await queue.publish(topic, b"hello")
    collector = Collector(1)
    await queue.subscribe(topic, "late", collector)
    await asyncio.wait_for(collector.done.wait(), WAIT_S)
    assert collector.bodies == [b"hello"]


@pytest.mark.asyncio
async def test_a_refused_message_comes_back_with_its_attempts_counted(
    queue: Queue, topic: str
) -> None:
    collector = Collector(1, fail_first=2)
    await queue.subscribe(topic, "c", collector)
    await queue.publish(topic, b"retry me")
    await asyncio.wait_for(collector.done.wait(), WAIT_S)
    assert collector.bodies == [b"retry me"] and collector.attempts == [3]


@pytest.mark.asyncio
async def test_a_failing_handler_does_not_lose_the_message(queue: Queue, topic: str) -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def flaky(delivery: Delivery) -> bool:
        calls.append(delivery.attempts)
        if delivery.attempts == 1:
            raise RuntimeError("transient")
        done.set()
        return True

    await queue.subscribe(topic, "c", flaky)
    await queue.publish(topic, b"x")
    await asyncio.wait_for(done.wait(), WAIT_S)
    assert calls == [1, 2]


@pytest.mark.asyncio
async def test_a_subscription_handles_as_many_messages_at_once_as_its_max_in_flight(
    queue: Queue, topic: str
) -> None:
    """(Skips for a backend whose `subscribe` does not take `max_in_flight`: kjs gives it none.)"""
    if "max_in_flight" not in inspect.signature(queue.subscribe).parameters:
        pytest.skip("this backend's subscribe takes no max_in_flight")
    wanted = 40  # above the built-in backends' default of 16
    inside, release, all_inside = 0, asyncio.Event(), asyncio.Event()
    done: list[bytes] = []

    async def held(delivery: Delivery) -> bool:
        nonlocal inside
        inside += 1
        if inside == wanted:
            all_inside.set()
        await release.wait()
        done.append(delivery.body)
        return True

    await queue.subscribe(topic, "held", held, max_in_flight=wanted)
    for i in range(wanted):
        await queue.publish(topic, f"m{i}".encode())
    await asyncio.wait_for(all_inside.wait(), WAIT_S)  # all of them handled at once
    release.set()
    async with asyncio.timeout(WAIT_S):
        while len(done) < wanted:  # noqa: ASYNC110 - the handlers finish on their own
            await asyncio.sleep(0.01)
    assert sorted(done) == sorted(f"m{i}".encode() for i in range(wanted))


@pytest.mark.asyncio
async def test_ping_answers_while_the_queue_is_up(queue: Queue) -> None:
    await queue.ping()


# The suite itself: what `from kjs.testing.contracts.queue import *` brings into a test module.
__all__ = ["topic", *(name for name in list(globals()) if name.startswith("test_"))]
