"""Leading by a lease that expires on this process's own clock (shared by the elections)."""

from __future__ import annotations

import asyncio
import time

from kjs.core import aio


class Leadership:
    """Leader until `valid_until` (monotonic), renewed by whoever holds the lease.

    A leader that cannot renew keeps leading only until its lease would have run out — never
    longer, since by then another candidate may have taken over."""

    def __init__(self) -> None:
        self._valid_until = 0.0
        self._became = asyncio.Event()
        self._lost = asyncio.Event()

    @property
    def leading(self) -> bool:
        return time.monotonic() < self._valid_until

    def renewed(self, asked_at: float, lease_s: float) -> bool:
        """The lease was taken or renewed by a request sent at `asked_at`; True if new."""
        was = self.leading
        self._valid_until = asked_at + lease_s
        if not was:
            self._lost.clear()
            self._became.set()
        return not was

    def refused(self) -> bool:
        """Someone else holds the lease; True if this process was leading until now."""
        was = self.leading
        self._valid_until = 0.0
        self._became.clear()
        if was:
            self._lost.set()
        return was

    async def wait_leading(self) -> None:
        while not self.leading:
            self._became.clear()
            await self._became.wait()

    async def wait_lost(self) -> None:
        while self.leading:
            await aio.wait_event(self._lost, max(0.0, self._valid_until - time.monotonic()))
        self._lost.clear()
