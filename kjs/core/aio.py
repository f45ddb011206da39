"""Two asyncio idioms written once, because their obvious forms lose cancellations.

On Python 3.11, `asyncio.wait_for(event.wait(), t)` swallows a `cancel()` that arrives in the tick
the event is set (fixed in 3.12); a loop written with it goes on after being cancelled, and a
`task.cancel(); await task` that waits for such a loop waits forever (a server that never stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_S = 1.0  # a task still running this long after cancel() swallowed it: cancel again


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passes; True when it was set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and return once every one has ended. One that swallowed its cancellation
    is cancelled again; the caller's own cancellation is not swallowed here."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
        for task in pending:
            log.warning("task %s went on after being cancelled; cancelling it again", task)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())
