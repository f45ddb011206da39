"""`election = "db"`: the server leader holds a lease row in the store, with expiry and fencing.

The lease is renewed every third of its time to live; a leader that fails to renew before its
own deadline stops leading at once (it may have been replaced). The fencing token grows with each
new holder, so work a stale leader started can be recognised and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid

from kjs.core import aio
from kjs.core.backends import Backend, BuildContext
from kjs.core.config import ConfigError
from kjs.core.hookspecs import hookimpl
from kjs.core.leadership import Leadership
from kjs.core.protocols import LeaseStore

log = logging.getLogger(__name__)
LEASE_NAME = "server-leader"


class DbElection:
    def __init__(self, store: LeaseStore, *, ttl_s: float = 15.0, name: str = LEASE_NAME) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.name = name
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._token = 0
        self._leadership = Leadership()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._token > 0 and self._leadership.leading

    @property
    def fencing_token(self) -> int:
        return self._token if self.is_leader else 0

    async def start(self) -> None:
        await self._try_once()
        self._task = asyncio.create_task(self._run(), name="election_db")

    async def _try_once(self) -> None:
        asked_at = time.monotonic()
        try:
            token = await asyncio.to_thread(
                self.store.acquire_lease,
                self.name,
                self.holder,
                self.ttl_s,
                dt.datetime.now(dt.UTC),
            )
        except Exception as e:  # the store is down: keep leading only until our lease ends
            log.warning("leader lease not renewed: %s", e)
            return
        if token is None:
            self._token = 0
            if self._leadership.refused():
                log.warning("lost the leader lease")
            return
        self._token = token
        if self._leadership.renewed(asked_at, self.ttl_s):
            log.info("leader now (fencing token %d)", token)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            await self._try_once()

    async def wait_leader(self) -> None:
        await self._leadership.wait_leading()

    async def wait_lost(self) -> None:
        await self._leadership.wait_lost()

    async def close(self) -> None:
        if self._task is not None:
            await aio.stop_tasks([self._task])
        if self._token:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release_lease, self.name, self.holder)
        self._token = 0
        self._leadership.refused()


def _make(context: BuildContext) -> DbElection:
    if not isinstance(context.store, LeaseStore):
        raise ConfigError(
            f'election: "db" holds a lease in the store, and this store '
            f"({type(context.store).__name__}) has no leases: choose another election"
        )
    return DbElection(context.store)


@hookimpl
def register_elections() -> list[Backend]:
    return [
        Backend(
            "election",
            "db",
            _make,
            "server leader through a lease row in the store",
        )
    ]
