"""Retention (`[logs] retention_days`): the leader removes old jobs, logs and events hourly."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from kjs.core import clock
from kjs.core.components import Components

log = logging.getLogger(__name__)
EVERY_S = 3600.0


class Retention:
    def __init__(self, components: Components) -> None:
        self.c = components

    async def run(self) -> None:
        """Leader work (a task run hourly): the store removes the jobs finished before the
        cutoff, with their events; the log sink the chunks it kept before it — theirs, and any
        other that old (a job that runs longer than the retention keeps only its recent log)."""
        days = self.c.settings.logs.retention_days
        before = clock.now() - dt.timedelta(days=days)
        jobs = await asyncio.to_thread(self.c.store.delete_older_than, before)
        removed = {**jobs, "log_chunks": await self.c.log_sink.delete_older_than(before)}
        if any(removed.values()):
            log.info("retention (%g days): removed %s", days, removed)
