"""Retention (`[logs] retention_days`): the leader removes old jobs, logs and events hourly."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from kjs.core.components import Components

log = logging.getLogger(__name__)
EVERY_S = 3600.0


class Retention:
    def __init__(self, components: Components) -> None:
        self.c = components
        self._last = float("-inf")

    async def run_if_due(self) -> int:
        """Leader work: at most once an hour; returns how many rows went."""
        if time.monotonic() - self._last < EVERY_S:
            return 0
        self._last = time.monotonic()
        days = self.c.settings.logs.retention_days
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        removed = await asyncio.to_thread(self.c.store.delete_older_than, before)
        if any(removed.values()):
            log.info("retention (%g days): removed %s", days, removed)
        return 0  # nothing for the dispatcher to act on
