"""The server's leader election through a lease row in the store (`election = "db"`): the
election contract suite (`kjs.testing.contracts.election`) on SQLite and the real MariaDB, then
its own timings and tokens. (`lease` needs Kubernetes; `single` is one process by design.)"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.plugins.election_db import DbElection
from kjs.plugins.store_mysql import engine_for as mysql_engine
from kjs.plugins.store_sqlite import engine_for
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.election import *  # noqa: F403
from tests.deployment import fresh_database


def store_at(tmp_path: Path) -> SqlStore:
    store = SqlStore(engine_for(str(tmp_path / "kjs.db")), describe="sqlite")
    store.migrate()
    return store


class Reachable:
    """A store as one election reaches it: `cut` makes every lease call fail, as if the
    network between them were gone."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.cut = False

    def acquire_lease(self, *args: Any) -> int | None:
        if self.cut:
            raise ConnectionError("store unreachable")
        return self.store.acquire_lease(*args)

    def release_lease(self, *args: Any) -> None:
        if self.cut:
            raise ConnectionError("store unreachable")
        self.store.release_lease(*args)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def lease_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        store = store_at(tmp_path_factory.mktemp("election"))
        yield store
        store.close()
        return
    with fresh_database(request.getfixturevalue("mysql_env")["admin_url"]) as url:
        store = SqlStore(mysql_engine(url), describe="mysql")
        store.migrate()
        yield store
        store.close()


@pytest.fixture
def election_factory(lease_store: SqlStore) -> Callable[[], DbElection]:
    """Elections on one lease of this test's own, each through its own connection."""
    name = f"leader-{secrets.token_hex(4)}"
    return lambda: DbElection(Reachable(lease_store), ttl_s=1.5, name=name)  # type: ignore[arg-type]


@pytest.fixture
def election_cut_off() -> Callable[[DbElection], None]:
    def cut_off(election: DbElection) -> None:
        election.store.cut = True  # type: ignore[attr-defined]

    return cut_off


async def test_the_lease_is_taken_at_start_and_a_successor_need_not_wait_for_expiry(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    a, b = DbElection(store, ttl_s=3), DbElection(store, ttl_s=3)
    await a.start()
    await b.start()
    assert a.is_leader and not b.is_leader
    assert a.fencing_token == 1 and b.fencing_token == 0
    await a.close()  # SIGTERM: releases the lease at once
    released = time.monotonic()
    await asyncio.wait_for(b.wait_leader(), 5)  # b retries every ttl/3 = 1 s
    assert time.monotonic() - released < 1.5  # not the 3 s of the lease's expiry
    assert b.is_leader and b.fencing_token == 2
    await b.close()
    store.close()


async def test_a_db_leader_leads_on_until_its_own_lease_ends_no_longer(
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
