"""The queue contract suite (`kjs.testing.contracts.queue`) over every built-in queue: memory,
and NSQ on the real nsqd of the test env; then what is particular to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kjs.core.protocols import Queue
from kjs.plugins.queue_memory import MemoryQueue
from kjs.testing.contracts.queue import *  # noqa: F403


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
