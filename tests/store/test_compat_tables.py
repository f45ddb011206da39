"""The compat plugin's own table, `compat_jobs`, kept by its migration branch: its records
(`CompatStore`) on SQLite and on the real MariaDB of the test env, and databases made by an
older kjs — when kjs's revision 0003 made the table — upgraded with their rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import msgspec
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kjs.core.models import CronSpec
from kjs.core.plugins import Plugins
from kjs.core.protocols import NameTaken
from kjs.core.records import CronRecord
from kjs.plugins.compat import store as compat_store
from kjs.plugins.compat.store import FORGET_AFTER, CompatRecord, CompatStore
from kjs.sqlstore import tables
from kjs.sqlstore.migrate import SCRIPTS
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job
from tests.store.test_store_contract import schema_diff

WITH_COMPAT = Plugins(builtins=("kjs.plugins.compat",), autoload=False, disabled=[])
WITHOUT_COMPAT = Plugins(
    builtins=("kjs.plugins.compat",), autoload=False, disabled=["kjs.plugins.compat"]
)


@pytest.fixture
def store(engine: sa.Engine) -> SqlStore:
    store = SqlStore(engine, describe="test", plugins=WITH_COMPAT)
    store.migrate()
    return store


@pytest.fixture
def records(store: SqlStore) -> CompatStore:
    return compat_store.records_of(store)


def _record(name: str, kind: str = "once", job_id: str | None = None) -> CompatRecord:
    return CompatRecord(
        job_id=job_id or str(uuid.uuid4()),
        kind=kind,
        job_name=name,
        job_exec_time=1700000000,
        meta='{"log_collect": "true"}',
        command="echo,hi",
        created_at=NOW,
        updated_at=NOW,
    )


def _job(store: SqlStore, n: int, namespace: str = "ops") -> str:
    job = make_job(n)
    job = msgspec.structs.replace(job, spec=msgspec.structs.replace(job.spec, namespace=namespace))
    return store.create_job(job).id


def test_the_table_is_the_plugins_and_matches_its_migration(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        assert schema_diff(conn, compat_store.metadata) == []
        assert schema_diff(conn, tables.metadata) == []
    assert "compat_jobs" not in tables.metadata.tables


def test_records_keep_their_order_and_a_live_name_is_unique(
    store: SqlStore, records: CompatStore
) -> None:
    first = records.add(_record("backup", job_id=_job(store, 1)))
    second = records.add(_record("restore", job_id=_job(store, 2)))
    assert first.id < second.id
    records.add(_record("backup", kind="cron"))  # once and cron names are apart
    with pytest.raises(NameTaken):
        records.add(_record("backup"))
    records.save(msgspec.structs.replace(first, deleted=True))  # deleting frees the name
    again = records.add(_record("backup", job_id=_job(store, 3)))
    assert records.get(first.job_id) == msgspec.structs.replace(first, deleted=True)
    total, page = records.page("once", offset=1, limit=10)
    assert total == 3
    assert [r.job_id for r in page] == [second.job_id, again.job_id]
    # Past the end, however far (an offset no database column could hold): nothing.
    assert records.page("once", offset=2**70, limit=10) == (3, [])
    records.forget(again.job_id)
    assert records.get(again.job_id) is None


def test_records_added_together_are_kept_but_a_taken_name_only_fails_its_own(
    store: SqlStore, records: CompatStore
) -> None:
    def live(name: str, n: int) -> CompatRecord:  # a record whose job is there
        return _record(name, job_id=_job(store, n))

    records.add(live("nightly", 0))
    added = records.add_many(
        [live("a", 1), live("nightly", 2), live("b", 3), live("a", 4), _record("c", kind="cron")]
    )
    assert [r is None for r in added] == [False, True, False, True, False]
    kept = [r for r in added if r is not None]
    assert [records.get(r.job_id) for r in kept] == kept  # committed, with their ids
    assert kept[0].id < kept[1].id < kept[2].id


def test_records_added_together_without_a_clash_get_their_ids_in_order(
    store: SqlStore, records: CompatStore
) -> None:
    added = records.add_many([_record(f"n{n}", job_id=_job(store, n)) for n in range(5)])
    assert all(r is not None for r in added)
    ids = [r.id for r in added if r is not None]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [records.get(r.job_id) for r in added if r is not None] == added


def test_records_are_added_one_by_one_where_the_database_cannot_return_many_ids(
    store: SqlStore, records: CompatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MySQL (and MariaDB before 10.5) has no INSERT … RETURNING of many rows.
    dialect = records.engine.dialect
    monkeypatch.setattr(dialect, "insert_executemany_returning_sort_by_parameter_order", False)
    monkeypatch.setattr(dialect, "insert_executemany_returning", False)
    added = records.add_many([_record(f"m{n}", job_id=_job(store, n)) for n in range(3)])
    assert [r is not None and records.get(r.job_id) == r for r in added] == [True] * 3


async def test_adds_of_requests_at_the_same_time_each_get_their_own_answer(
    store: SqlStore, records: CompatStore
) -> None:
    wanted = [_record(f"job-{n}", job_id=_job(store, n)) for n in range(20)]
    wanted.append(_record("job-3", job_id=_job(store, 20)))
    results = await asyncio.gather(
        *(records.add_grouped(r) for r in wanted), return_exceptions=True
    )
    assert [isinstance(r, NameTaken) for r in results] == [False] * 20 + [True]
    assert records.page("once", offset=0, limit=100)[0] == 20


def test_pages_count_and_show_only_the_namespaces_asked_for(
    store: SqlStore, records: CompatStore
) -> None:
    def compat_job(n: int, namespace: str) -> CompatRecord:
        return records.add(_record(f"n{n}", job_id=_job(store, n, namespace)))

    a1, b1, a2, b2, a3 = (
        compat_job(i, ns) for i, ns in enumerate(["team-a", "team-b", "team-a", "team-b", "team-a"])
    )
    total, page = records.page("once", 0, 2, namespaces=["team-a"])
    assert (total, [r.job_id for r in page]) == (3, [a1.job_id, a2.job_id])
    total, page = records.page("once", 2, 2, namespaces=["team-a"])
    assert (total, [r.job_id for r in page]) == (3, [a3.job_id])
    assert records.page("once", 0, 10, namespaces=["team-a", "team-b"])[0] == 5
    assert records.page("once", 0, 10, namespaces=[]) == (0, [])
    assert records.page("cron", 0, 10, namespaces=["team-a"]) == (0, [])
    # A job moved by an update counts where it is now.
    store.update_job(
        b1.job_id,
        lambda j: msgspec.structs.replace(
            j, spec=msgspec.structs.replace(j.spec, namespace="team-a")
        ),
    )
    total, page = records.page("once", 0, 10, namespaces=["team-a"])
    assert (total, [r.job_id for r in page]) == (4, [a1.job_id, b1.job_id, a2.job_id, a3.job_id])
    assert [r.job_id for r in records.page("once", 0, 10, ["team-b"])[1]] == [b2.job_id]
    spec = {"name": "c", "namespace": "team-b", "image": "alpine", "schedule": "0 3 * * *"}
    cron = CronRecord(
        id=str(uuid.uuid4()),
        spec=msgspec.convert(spec, CronSpec),
        k8s_name="c-x",
        created_at=NOW,
        updated_at=NOW,
    )
    store.create_cron(cron)
    records.add(_record("c", kind="cron", job_id=cron.id))
    assert records.page("cron", 0, 10, namespaces=["team-a"]) == (0, [])
    assert records.page("cron", 0, 10, namespaces=["team-b"])[0] == 1


def test_the_records_of_jobs_removed_by_retention_are_not_listed_and_free_their_names(
    store: SqlStore, records: CompatStore
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - FORGET_AFTER - dt.timedelta(days=40)
    old = store.create_job(
        make_job(1, state="succeeded", finished_at=long_ago, created_at=long_ago)
    )
    kept = records.add(
        msgspec.structs.replace(_record("nightly", job_id=old.id), updated_at=long_ago)
    )
    # Being submitted: its job is not there yet, its name is held all the same.
    submitting = records.add(
        msgspec.structs.replace(_record("fresh"), updated_at=dt.datetime.now(dt.UTC))
    )
    assert store.delete_older_than(long_ago + dt.timedelta(days=1))["jobs"] == 1
    assert records.page("once", 0, 10) == (0, [])
    again = records.add(_record("nightly", job_id=_job(store, 2)))
    assert records.get(kept.job_id) is None and records.get(again.job_id) is not None
    with pytest.raises(NameTaken):
        records.add(_record("fresh"))
    assert records.get(submitting.job_id) is not None


# The table as kjs's revision 0003 made it (before it was the plugin's: the same definition).
OLD_0003 = sa.MetaData(naming_convention=tables.NAMING_CONVENTION)
compat_store.compat_jobs.to_metadata(OLD_0003)


@pytest.mark.parametrize("revision", ["0003", "0005"])
def test_a_database_of_an_older_kjs_keeps_its_compat_rows(engine: sa.Engine, revision: str) -> None:
    store = SqlStore(engine, describe="test", plugins=WITH_COMPAT)
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    job = make_job(1)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)  # kjs's own history alone, as it was then
        OLD_0003.create_all(conn)  # what revision 0003 made then
        row = store._job_row(job)
        del row["queue"]  # revision 0010's column
        del row["request_cpu_millis"], row["request_memory_bytes"]  # revision 0012's
        del row["priority"]  # revision 0014's
        del row["gang"]  # revision 0015's
        if revision == "0003":
            del row["placement_key"]  # the columns of revision 0003 only
        conn.execute(tables.jobs.insert(), row)
        old = _record("backup", job_id=job.id)
        values = msgspec.to_builtins(old, builtin_types=(dt.datetime,))
        del values["id"]
        conn.execute(compat_store.compat_jobs.insert(), {**values, "live_name": "backup"})
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        assert list(versions) == [revision]

    store.migrate()

    records = compat_store.records_of(store)
    found = records.get(job.id)
    assert found is not None and found.job_name == "backup" and found.id == 1
    assert records.page("once", 0, 10, namespaces=["ops"]) == (1, [found])
    with pytest.raises(NameTaken):  # still live, still holding its name
        records.add(_record("backup"))
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        assert sorted(versions) == ["0015", "compat_0001"]
        assert schema_diff(conn, compat_store.metadata) == []
        assert schema_diff(conn, tables.metadata) == []
    store.migrate()  # again: nothing to do, nothing lost
    assert records.get(job.id) == found


def test_without_the_compat_plugin_there_is_no_compat_table(engine: sa.Engine) -> None:
    SqlStore(engine, describe="test", plugins=WITHOUT_COMPAT).migrate()
    assert "compat_jobs" not in sa.inspect(engine).get_table_names()
    assert "jobs" in sa.inspect(engine).get_table_names()


def test_a_compat_table_outlives_the_plugin_being_disabled(engine: sa.Engine) -> None:
    store = SqlStore(engine, describe="test", plugins=WITH_COMPAT)
    store.migrate()
    compat_store.records_of(store).add(_record("kept", job_id=_job(store, 1)))
    SqlStore(engine, describe="test", plugins=WITHOUT_COMPAT).migrate()
    store.migrate()
    assert compat_store.records_of(store).page("once", 0, 10)[0] == 1
