"""Stopping never hangs: a cancel that arrives as an awaited event is set is not lost, and a task
that swallows its cancellation is cancelled again."""

from __future__ import annotations

import asyncio

import pytest

from kjs.core import aio


async def test_a_loop_waiting_on_an_event_stops_when_cancelled_as_the_event_is_set() -> None:
    woken = asyncio.Event()
    passes = 0

    async def loop() -> None:  # the shape of every leader task and of the agent's reporter
        nonlocal passes
        while True:
            await aio.wait_event(woken, 10.0)
            woken.clear()
            passes += 1

    for _ in range(20):  # the cancel and the wake-up in the same tick, as a shutdown can be
        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        woken.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        assert done == {task} and task.cancelled(), "the loop went on after being cancelled"


async def test_wait_event_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await aio.wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await aio.wait_event(event, 5.0) is True


async def test_stop_tasks_cancels_again_a_task_that_swallowed_its_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aio, "RECANCEL_S", 0.05)
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels >= 2:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(aio.stop_tasks([task]), 5.0)
    assert task.cancelled() and cancels == 2


async def test_stop_tasks_does_not_swallow_the_callers_own_cancellation() -> None:
    release = asyncio.Event()

    async def forever() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    stubborn = asyncio.create_task(forever())
    stopper = asyncio.create_task(aio.stop_tasks([stubborn]))
    await asyncio.sleep(0.01)
    stopper.cancel()
    done, _ = await asyncio.wait({stopper}, timeout=2.0)
    assert done == {stopper} and stopper.cancelled()
    release.set()
    stubborn.cancel()
    await asyncio.wait({stubborn}, timeout=2.0)
