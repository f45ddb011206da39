"""Migration 0014 (priorities) on SQLite and MariaDB: a database of revision 0013 with jobs in
it gets `jobs.priority` (0 for them), the queue index in placement's order, and placement keys
that carry the priority for its unfinished jobs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kjs.core.routing import group_of
from kjs.core.states import JobState
from kjs.sqlstore import tables
from kjs.sqlstore.migrate import SCRIPTS
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job, routed
from tests.store.test_store_contract import empty_store, migrated, schema_diff

__all__ = ["migrated"]  # the fixture, used through empty_store


def test_a_0013_database_gets_priorities_and_keys_that_carry_them(
    request: pytest.FixtureRequest, migrated: SqlStore, tmp_path: Path
) -> None:
    gpu = msgspec.structs.replace(make_job(0).spec, queue="gpu")
    pending = routed(1, "c1")
    running = routed(2, ["c2", "c1"], selector={"zone": "a"}, state=JobState.RUNNING)
    queued = [make_job(3, spec=gpu), make_job(4, spec=gpu)]
    done = routed(5, "c1", state=JobState.SUCCEEDED)
    jobs = [pending, running, *queued, done]
    with empty_store(migrated, request, tmp_path) as store:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0013")  # the revision before priorities
            for job in jobs:
                row = store._job_row(job)
                del row["priority"]  # revision 0014's
                del row["gang"]  # revision 0015's
                # The key as revision 0012 spelled it: queue|namespace|route.
                queue, namespace, _, route = row["placement_key"].split("|", 3)
                row["placement_key"] = f"{queue}|{namespace}|{route}"
                row["spec"] = row["spec"].replace(',"priority_class":null', "")  # as stored then
                conn.execute(tables.jobs.insert(), row)
        store.migrate()
        j = tables.jobs.c
        with store.engine.connect() as conn:
            rows = {
                r.id: (r.placement_key, r.priority)
                for r in conn.execute(sa.select(j.id, j.placement_key, j.priority))
            }
            assert schema_diff(conn, tables.metadata) == []  # the new index, the old one gone
        assert rows == {
            pending.id: ('default|ops|0|{"c":"c1"}', 0),
            running.id: ('default|ops|0|{"c":["c2","c1"],"s":{"zone":"a"}}', 0),
            queued[0].id: ("gpu|ops|0|", 0),
            queued[1].id: ("gpu|ops|0|", 0),
            done.id: ('default|ops|{"c":"c1"}', 0),  # final: nothing reads its key
        }
        assert group_of(rows[pending.id][0]) is not None
        # The jobs read back with priority 0, and their place in line is counted as before.
        read = store.get_job(queued[1].id)
        assert read is not None and read.priority == 0 and read.spec.priority_class is None
        keys = [(0, job.created_at, job.id) for job in queued]
        assert store.queue_positions("gpu", keys, NOW) == [1, 2]
        assert store.due_placement_keys(NOW) == [('default|ops|0|{"c":"c1"}', 1), ("gpu|ops|0|", 2)]
