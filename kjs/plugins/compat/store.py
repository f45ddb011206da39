"""The compat plugin's own table, `compat_jobs` (its Alembic branch `compat`, in `migrations/`),
and the small store over it, on the SQL store's engine.

Each row is a job or cron job created through the original system's routes: the request as the
original stored it, its list order (`id`), and the name rule — unique among the ones of its
kind that are not deleted (`live_name` is NULL once deleted)."""

from __future__ import annotations

import contextlib
import datetime as dt
import weakref
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from msgspec import Struct

from kjs.core.group_commit import GroupCommit
from kjs.core.protocols import NameTaken
from kjs.sqlstore.store import write_transaction
from kjs.sqlstore.tables import NAMING_CONVENTION, UTCDateTime

# A once job's record whose job is gone this long (removed by retention) is forgotten when its
# name is wanted again; younger, it may be one whose job is still being submitted.
FORGET_AFTER = dt.timedelta(minutes=10)

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

compat_jobs = sa.Table(
    "compat_jobs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("job_id", sa.String(36), nullable=False, unique=True),
    sa.Column("kind", sa.String(4), nullable=False),
    sa.Column("job_name", sa.String(255), nullable=False),
    sa.Column("live_name", sa.String(255)),
    sa.Column("job_exec_time", sa.BigInteger, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("schedule", sa.String(255)),
    sa.Column("deleted", sa.Boolean, nullable=False),
    # Counters carried over by `kjs import-legacy` (NULL: created on kjs).
    sa.Column("imported_times", sa.Integer),
    sa.Column("imported_successes", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "live_name"),
)

# kjs's tables, read (never written) for where a record's job or cron job is now: named here,
# not imported, as a third-party plugin would.
_owners = {
    "once": sa.table("jobs", sa.column("id"), sa.column("namespace")),
    "cron": sa.table("cronjobs", sa.column("id"), sa.column("namespace")),
}


class CompatRecord(Struct, kw_only=True):
    """A job or cron job created through the original system's routes, as it asked for it."""

    id: int = 0  # list order, assigned by the store
    job_id: str
    kind: str  # "once" | "cron"
    job_name: str
    job_exec_time: int = 0
    meta: str = ""  # the request's metadata, as JSON text
    command: str = ""  # comma-separated, as sent
    schedule: str | None = None
    deleted: bool = False
    imported_times: int | None = None  # carried over by `kjs import-legacy`
    imported_successes: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class CompatStore:
    """The records, one transaction per method (blocking: call it through `asyncio.to_thread`
    from a route)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._adding = GroupCommit(self.add_many)

    def _tx(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return write_transaction(self.engine)

    @staticmethod
    def _record(row: sa.Row[Any]) -> CompatRecord:
        m = dict(row._mapping)
        del m["live_name"]
        return CompatRecord(**m)

    @staticmethod
    def _values(record: CompatRecord) -> dict[str, Any]:
        values: dict[str, Any] = msgspec.to_builtins(record, builtin_types=(dt.datetime,))
        values["live_name"] = None if record.deleted else record.job_name
        return values

    def add(self, record: CompatRecord) -> CompatRecord:
        """Keep a new record (its `id` assigned); NameTaken if a live one of its kind has its
        name."""
        (added,) = self.add_many([record])
        return _kept(record, added)

    def add_many(self, records: Sequence[CompatRecord]) -> list[CompatRecord | None]:
        """Keep new records in one transaction (each `id` assigned), None for each whose name a
        live record of its kind has (the others are kept all the same)."""
        dialect = self.engine.dialect
        # One statement needs RETURNING of many rows in order (SQLite, MariaDB 10.5+; not MySQL).
        at_once = len(records) > 1 and dialect.insert_executemany_returning_sort_by_parameter_order
        with self._tx() as conn:
            if at_once:
                try:
                    with conn.begin_nested():
                        return self._add_all(conn, records)
                except sa.exc.IntegrityError:
                    pass  # a name is taken: record by record then, each in a savepoint of its own
            return [self._add(conn, record) for record in records]

    def _add_all(
        self, conn: sa.Connection, records: Sequence[CompatRecord]
    ) -> list[CompatRecord | None]:
        """All the records in one statement (one round trip, not three a record), their ids
        returned in order; IntegrityError if any name is taken."""
        rows = [self._values(record) for record in records]
        for row in rows:
            del row["id"]
        insert = compat_jobs.insert().returning(compat_jobs.c.id, sort_by_parameter_order=True)
        ids = [int(row.id) for row in conn.execute(insert, rows)]
        return [msgspec.structs.replace(r, id=i) for r, i in zip(records, ids, strict=True)]

    async def add_grouped(self, record: CompatRecord) -> CompatRecord:
        """`add`, in one transaction with the records other requests add at the same time."""
        (added,) = await self._adding.write([record])
        return _kept(record, added)

    def _add(self, conn: sa.Connection, record: CompatRecord) -> CompatRecord | None:
        values = self._values(record)
        del values["id"]
        for again in (True, False):
            try:
                with conn.begin_nested():  # a name taken undoes this record only
                    result = conn.execute(compat_jobs.insert(), values)
            except sa.exc.IntegrityError:
                if again and self._forget_removed(conn, record.kind, record.job_name):
                    continue
                return None
            key = result.inserted_primary_key
            assert key is not None
            return msgspec.structs.replace(record, id=int(key[0]))
        return None

    @staticmethod
    def _forget_removed(conn: sa.Connection, kind: str, name: str) -> bool:
        """Forget the live record named `name` if its once job was removed (by retention)."""
        if kind != "once":
            return False
        c, jobs = compat_jobs.c, _owners["once"]
        gone = sa.and_(
            c.kind == kind,
            c.live_name == name,
            c.updated_at < dt.datetime.now(dt.UTC) - FORGET_AFTER,
            ~sa.exists().where(jobs.c.id == c.job_id),
        )
        return bool(conn.execute(compat_jobs.delete().where(gone)).rowcount)

    def get(self, job_id: str) -> CompatRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(compat_jobs).where(compat_jobs.c.job_id == job_id)).first()
        return None if row is None else self._record(row)

    def page(
        self, kind: str, offset: int, limit: int, namespaces: list[str] | None = None
    ) -> tuple[int, list[CompatRecord]]:
        """The records of `kind` in list order, from `offset`; and how many there are. Only
        those whose job (or cron job) is there, and, given `namespaces`, in one of them (an
        update may have moved it)."""
        c, owner = compat_jobs.c, _owners[kind]
        query = sa.select(compat_jobs).join(owner, owner.c.id == c.job_id).where(c.kind == kind)
        if namespaces is not None:
            query = query.where(owner.c.namespace.in_(namespaces))
        with self.engine.connect() as conn:
            total = int(
                conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
            )
            if offset >= total:  # past the end (an offset too large for the database, too)
                return total, []
            rows = conn.execute(query.order_by(c.id).offset(offset).limit(limit)).all()
        return total, [self._record(r) for r in rows]

    def save(self, record: CompatRecord) -> None:
        values = self._values(record)
        del values["id"], values["job_id"]
        with self._tx() as conn:
            conn.execute(compat_jobs.update().where(compat_jobs.c.job_id == record.job_id), values)

    def forget(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute(compat_jobs.delete().where(compat_jobs.c.job_id == job_id))


def _kept(record: CompatRecord, added: CompatRecord | None) -> CompatRecord:
    """The record as added, or NameTaken if a live one of its kind had its name."""
    if added is None:
        raise NameTaken(f"{record.kind} job {record.job_name!r} exists")
    return added


class NotSqlStore(RuntimeError):
    """The configured store keeps no SQL tables: the compatibility records need one."""


# Keyed by the kjs store (which holds the engine; a CompatStore holds the engine, not the store,
# so an entry goes with its store).
_stores: weakref.WeakKeyDictionary[object, CompatStore] = weakref.WeakKeyDictionary()


def records_of(store: object) -> CompatStore:
    """The records kept beside `store` (a SQL store: SQLite, MySQL/MariaDB); one CompatStore
    per store, so that the requests' adds are grouped."""
    engine = getattr(store, "engine", None)
    if not isinstance(engine, sa.Engine):
        raise NotSqlStore(
            f"the compat plugin keeps its records in a SQL store; {type(store).__name__} is none"
        )
    if (records := _stores.get(store)) is None:
        records = _stores[store] = CompatStore(engine)
    return records
