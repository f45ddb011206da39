"""The server's leader election through a lease row in the store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from kjs.core.sqlstore.store import SqlStore
from kjs.plugins.election_db import DbElection
from kjs.plugins.store_sqlite import engine_for


def store_at(tmp_path: Path) -> SqlStore:
    store = SqlStore(engine_for(str(tmp_path / "kjs.db")), describe="sqlite")
    store.migrate()
    return store


async def test_one_leader_and_a_quick_takeover_when_it_steps_down(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    a, b = DbElection(store, ttl_s=3), DbElection(store, ttl_s=3)
    await a.start()
    await b.start()
    assert a.is_leader and not b.is_leader
    assert a.fencing_token == 1 and b.fencing_token == 0
    await a.close()  # SIGTERM: releases the lease at once
    await asyncio.wait_for(b.wait_leader(), 5)  # b retries every ttl/3 = 1 s
    assert b.is_leader and b.fencing_token == 2
    await b.close()
    store.close()


async def test_a_leader_that_cannot_renew_stops_leading_when_its_lease_ends(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    leader = DbElection(store, ttl_s=1.5)
    await leader.start()
    assert leader.is_leader

    def unreachable(*args: object) -> None:
        raise ConnectionError("store down")

    store.acquire_lease = unreachable  # type: ignore[method-assign]
    cut_off = time.monotonic()
    while leader.is_leader and time.monotonic() - cut_off < 5:  # noqa: ASYNC110 - a property
        await asyncio.sleep(0.05)
    # It leads on until its own lease runs out (at most 1.5 s after its last renewal), no longer.
    assert 0.9 <= time.monotonic() - cut_off <= 1.7
    assert not leader.is_leader and leader.fencing_token == 0
    await leader.close()
