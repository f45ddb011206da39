"""The agent's spool: nothing it publishes is lost while the queue is away, nor on restart."""

from __future__ import annotations

from pathlib import Path

from kjs.agent.spool import SpoolingQueue
from kjs.core import messages
from kjs.plugins.queue_memory import MemoryQueue


class FlakyQueue(MemoryQueue):
    def __init__(self) -> None:
        super().__init__()
        self.up = True
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, body: bytes) -> None:
        if not self.up:
            raise ConnectionError("nsqd unreachable")
        self.sent.append((topic, body))


async def test_messages_wait_on_disk_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spool.log"
    inner = FlakyQueue()
    spool = SpoolingQueue(inner, path)
    await spool.publish("kjs.status", b"1")
    inner.up = False
    await spool.publish("kjs.status", b"2")
    await spool.publish(messages.HEARTBEAT_TOPIC, b"stale")
    inner.up = True
    await spool.publish("kjs.status", b"3")  # behind the spooled ones, not ahead of them
    assert inner.sent == [("kjs.status", b"1")]
    # The agent restarts before the queue came back: a new spool on the same file sends it all.
    again = SpoolingQueue(inner, path)
    assert await again.drain() == 3
    assert inner.sent == [("kjs.status", b"1"), ("kjs.status", b"2"), ("kjs.status", b"3")]
    assert path.read_bytes() == b""


async def test_a_drain_that_fails_half_way_keeps_the_rest(tmp_path: Path) -> None:
    inner = FlakyQueue()
    inner.up = False
    spool = SpoolingQueue(inner, tmp_path / "spool.log")
    for n in range(3):
        await spool.publish("kjs.logs", str(n).encode())
    calls = 0
    real = FlakyQueue.publish

    async def up_once(self: FlakyQueue, topic: str, body: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionError("down again")
        await real(self, topic, body)

    inner.up = True
    FlakyQueue.publish = up_once  # type: ignore[method-assign]
    try:
        assert await spool.drain() == 1
    finally:
        FlakyQueue.publish = real  # type: ignore[method-assign]
    assert await spool.drain() == 2
    assert [b for _, b in inner.sent] == [b"0", b"1", b"2"]


async def test_a_full_spool_drops_heartbeats_first(tmp_path: Path) -> None:
    inner = FlakyQueue()
    inner.up = False
    spool = SpoolingQueue(inner, tmp_path / "spool.log", max_bytes=60)
    await spool.publish("kjs.status", b"a" * 10)
    await spool.publish(messages.HEARTBEAT_TOPIC, b"b" * 30)  # would not fit: dropped
    await spool.publish("kjs.status", b"c" * 4)
    inner.up = True
    await spool.drain()
    assert [b for _, b in inner.sent] == [b"a" * 10, b"c" * 4]
