"""The store is split by concern: the SQL stores offer every part; a store without the optional
ones (logs, leases) is refused by the backends that need them, saying which and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from kjs.core.backends import BuildContext
from kjs.core.config import ConfigError
from kjs.core.protocols import (
    ClusterStore,
    CronStore,
    JobStore,
    LeaseStore,
    LogStore,
    OutboxStore,
    Store,
)
from kjs.plugins import election_db, logs_db
from kjs.plugins.store_sqlite import engine_for
from kjs.sqlstore.store import SqlStore


class JobsOnly:
    """A store offering nothing but what the protocols check by name (no logs, no leases)."""

    def create_job(self) -> None: ...


def test_the_sql_store_offers_every_part(tmp_path: Path) -> None:
    store = SqlStore(engine_for(str(tmp_path / "kjs.db")), describe="sqlite")
    try:
        for part in (Store, JobStore, CronStore, OutboxStore, ClusterStore, LogStore, LeaseStore):
            assert isinstance(store, part), part.__name__
    finally:
        store.close()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (logs_db._make, 'log_sink: "db" keeps logs in the store, and this store (JobsOnly)'),
        (election_db._make, 'election: "db" holds a lease in the store, and this store (JobsOnly)'),
    ],
)
def test_a_backend_that_needs_an_optional_part_refuses_a_store_without_it(
    make: object, words: str
) -> None:
    assert not isinstance(JobsOnly(), LogStore) and not isinstance(JobsOnly(), LeaseStore)
    with pytest.raises(ConfigError, match="choose another") as refused:
        make(BuildContext(settings=None, store=JobsOnly()))  # type: ignore[operator]
    assert words in str(refused.value)
