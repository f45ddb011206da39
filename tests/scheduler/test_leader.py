"""The leader's tasks: each its own loop; one that fails is retried with backoff and stops no
other; one item's failures are backed off, then parked."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from prometheus_client import REGISTRY

from kjs.scheduler.leader import ItemFailures, LeaderTasks


class AlwaysLeader:
    is_leader = True
    fencing_token = 1

    async def start(self) -> None: ...
    async def wait_leader(self) -> None: ...
    async def wait_lost(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None: ...


def errors(task: str) -> float:
    return REGISTRY.get_sample_value("kjs_leader_task_errors_total", {"task": task}) or 0.0


async def test_a_failing_task_is_retried_with_backoff_and_never_stops_another() -> None:
    tasks = LeaderTasks(AlwaysLeader())
    calls = {"broken": 0, "healthy": 0}
    broken_at: list[float] = []
    loop = asyncio.get_running_loop()
    enough = asyncio.Event()

    def count(task: str) -> None:
        calls[task] += 1
        if calls["broken"] >= 3 and calls["healthy"] >= 50:
            enough.set()

    async def broken() -> float | None:
        count("broken")
        broken_at.append(loop.time())
        raise RuntimeError("the store is down")

    async def healthy() -> float | None:
        count("healthy")
        return 0.01

    tasks.add("test-broken", broken, every_s=0.01)
    tasks.add("test-healthy", healthy, every_s=0.01)
    before = errors("test-broken")
    await tasks.start()
    try:
        async with asyncio.timeout(10):
            await enough.wait()
    finally:
        await tasks.close()
    assert errors("test-broken") - before >= 3
    gaps = [b - a for a, b in itertools.pairwise(broken_at)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0  # backoff (0.5 s, then 1 s), not its cadence
    assert calls["healthy"] >= 50  # ran on at its own cadence meanwhile


async def test_a_woken_task_runs_at_once() -> None:
    tasks = LeaderTasks(AlwaysLeader())
    ran = asyncio.Event()
    first = asyncio.Event()
    passes = 0

    async def work() -> float | None:
        nonlocal passes
        passes += 1
        (ran if passes > 1 else first).set()
        return None

    tasks.add("test-woken", work, every_s=3600)
    await tasks.start()
    try:
        await first.wait()  # its first pass, then it sleeps for an hour…
        tasks.wake("test-woken")
        async with asyncio.timeout(2):
            await ran.wait()  # …unless woken
    finally:
        await tasks.close()


def test_an_item_backs_off_then_is_parked(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("kjs.scheduler.leader.time.monotonic", lambda: clock[0])
    failures = ItemFailures("test-items", park_after=3, first_s=1.0)
    error = ValueError("bad")
    assert failures.ready("a")
    assert failures.failed("a", error) is False
    assert not failures.ready("a") and failures.ready("b")
    clock[0] += 1.0
    assert failures.ready("a")
    assert failures.failed("a", error) is False
    clock[0] += 1.0
    assert not failures.ready("a")  # the second wait is twice as long
    clock[0] += 1.0
    assert failures.failed("a", error) is True  # the third failure parks it
    failures.failed("b", error)
    failures.succeeded("b")
    assert failures.ready("b")
