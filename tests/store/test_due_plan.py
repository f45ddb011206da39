"""A placement key's due jobs are read from the key's own index: a page of one new job for a free
cluster does not walk the due jobs of every other key (with 10,000 jobs waiting for a full
cluster, SQLite's planner once walked (state, created_at, id) for the order: ~7 ms a page, not
~0.3 ms)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import sqlalchemy as sa

from kjs.core.routing import placement_key_of
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job
from tests.store.test_store_contract import migrated, store  # noqa: F401  (fixtures)

KEY_INDEX = "ix_jobs_state_placement_key_created_at_id_run_at"


def _routed(n: int, cluster: str) -> Any:
    job = make_job(n)
    return msgspec.structs.replace(job, spec=msgspec.structs.replace(job.spec, cluster=cluster))


def _plan(db: SqlStore, statement: str, params: Any) -> str:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return " ".join(str(row[-1]) for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN " + statement, params).mappings().all()
        return " ".join(f"{row['table']}:{row['key']}" for row in rows)


def test_a_keys_due_jobs_are_read_from_the_keys_index_in_placement_order(
    store: SqlStore,  # noqa: F811
) -> None:
    blocked = [_routed(n, "c1") for n in range(2_000)]
    free = _routed(2_000, "c2")
    store.create_jobs([(job, None) for job in [*blocked, free]])
    key = placement_key_of(free.spec)
    assert key is not None

    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        found = store.due_jobs(NOW + dt.timedelta(days=1), 200, placement_key=key)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    assert [j.id for j in found] == [free.id]
    (statement, params), *_ = seen
    assert KEY_INDEX in _plan(store, statement, params)

    # And a long key's pages, in order, from the same index.
    first = store.due_jobs(
        NOW + dt.timedelta(days=1), 200, placement_key=placement_key_of(blocked[0].spec)
    )
    cursor = (first[-1].created_at, first[-1].id)
    second = store.due_jobs(
        NOW + dt.timedelta(days=1),
        200,
        placement_key=placement_key_of(blocked[0].spec),
        after=cursor,
    )
    assert [j.id for j in first + second] == [j.id for j in blocked[:400]]
