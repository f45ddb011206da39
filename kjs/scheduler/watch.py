"""What tells a server's watchers that jobs changed: one poll of the store's watch position for
the whole process (not one per watcher), running only while someone watches. Changes written by
other replicas are seen within a poll interval; this process's own writes too (it does not know
every writer: the status consumer, placement, retention, plugins)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kjs.core import aio

log = logging.getLogger(__name__)

POLL_S = 0.1


class ChangeFeed:
    """The store's watch position as this process last read it, and an event per move."""

    def __init__(self, read_position: Callable[[], int], poll_s: float = POLL_S) -> None:
        self._read = read_position
        self._poll_s = poll_s
        self._position = -1
        self._changed = asyncio.Event()
        self._watchers = 0
        self._poller: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False  # the store is away: logged once, and once when it is back

    async def wait_beyond(self, position: int, timeout_s: float) -> bool:
        """Wait until the store's position is past `position` (True), or `timeout_s` (False)."""
        if self._closed:
            return False
        self._watchers += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="kjs watch feed")
        try:
            async with asyncio.timeout(timeout_s):
                while self._position <= position:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            return False
        finally:
            self._watchers -= 1
        return True

    async def _poll(self) -> None:
        while self._watchers > 0:
            try:
                position = await asyncio.to_thread(self._read)
            except Exception as e:  # the store is away: watchers wait, and see it back
                if not self._failing:
                    log.warning("watch feed: cannot read the store's position: %s", e)
                self._failing = True
            else:
                if self._failing:
                    log.info("watch feed: the store answers again")
                    self._failing = False
                if position != self._position:
                    self._position = position
                    self._changed.set()
                    self._changed = asyncio.Event()
            await asyncio.sleep(self._poll_s)

    async def close(self) -> None:
        self._closed = True
        if self._poller is not None:
            await aio.stop_tasks([self._poller])
