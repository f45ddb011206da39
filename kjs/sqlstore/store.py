"""The SQL store (SQLAlchemy Core, sync): the `Store` contract on SQLite and MySQL alike."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import sqlalchemy as sa

from kjs.core.errors import Gone
from kjs.core.messages import WEBHOOK_TOPIC
from kjs.core.models import CronSpec, JobSpec
from kjs.core.protocols import (
    ALL_KEYS,
    JOB_SORTS,
    AllKeys,
    Idempotency,
    IdempotencyConflict,
    JobChange,
    JobUpdate,
    OutboxDepth,
    PendingFeed,
    PendingReason,
    QueueInUse,
)
from kjs.core.queues import QueueDefinition, QueueRecord
from kjs.core.records import (
    ClusterRecord,
    ClusterResources,
    CronRecord,
    EventRecord,
    JobRecord,
    QueueUsage,
)
from kjs.core.requests import DEFAULT_REQUESTS, Requests, job_requests
from kjs.core.routing import placement_key_of
from kjs.core.states import FINAL_STATES, JobState
from kjs.core.usage import HOLDING
from kjs.sqlstore import tables as t

if TYPE_CHECKING:
    from kjs.core.plugins import Plugins

_json = msgspec.json.Encoder()
log = logging.getLogger(__name__)
R = TypeVar("R")


CREATE_JOBS_TRIES = 5
# What `queue_usage` counts: the unfinished states, and `lost` (its pods may still run).
USAGE_STATES = tuple(s for s in JobState if not s.is_final)
DEADLOCK_TRIES = 5
_MYSQL_DEADLOCK = 1213  # ER_LOCK_DEADLOCK: InnoDB rolled the transaction back


def _deadlock(error: sa.exc.DBAPIError) -> bool:
    args: tuple[Any, ...] = getattr(error.orig, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK


@dataclass(frozen=True)
class _BulkInsert:
    """An INSERT of given columns as the driver runs it: its SQL for the store's dialect, the
    order of its parameters (None: by name), and the bind processor of each column that has one
    (what SQLAlchemy applies to a value before the driver gets it)."""

    sql: str
    order: tuple[str, ...] | None
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    body: bytes
    job_id: str | None
    attempts: int


DEFAULT_SORT = "-created_at"
RARE_FILTER = 5000  # jobs: a list filter matching fewer drives (SqlStore._indexed)
# Each sort's keyset: the columns ordered by, the last one unique. `name` breaks ties by creation
# so that the (name, created_at, id) index serves it.
_SORT_KEYS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "updated_at": ("updated_at", "id"),
    "name": ("name", "created_at", "id"),
}
assert {s.lstrip("-") for s in JOB_SORTS} == set(_SORT_KEYS)
_TIMES = {"created_at", "updated_at"}


def _cursor(sort: str, values: Sequence[Any]) -> str:
    """An opaque cursor: the sort it was made for and the last row's keyset values."""
    plain = [sort, *(v.isoformat() if isinstance(v, dt.datetime) else v for v in values)]
    return base64.urlsafe_b64encode(msgspec.json.encode(plain)).decode()


def _parse_cursor(cursor: str, sort: str) -> list[Any]:
    """The keyset values of a cursor made for `sort` (ValueError, saying why, for any other)."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith("["):
            made_for, *values = msgspec.json.decode(text)
        else:  # before sorts: `created_at|id`, newest first
            made_for, values = DEFAULT_SORT, text.split("|", 1)
        keys = _SORT_KEYS[str(made_for).lstrip("-")]
        if len(values) != len(keys) or not all(isinstance(v, str) for v in values):
            raise ValueError("not a keyset")
        values = [_instant(v) if k in _TIMES else v for k, v in zip(keys, values, strict=True)]
    except (ValueError, UnicodeDecodeError, OverflowError, KeyError, msgspec.DecodeError) as e:
        raise ValueError("cursor is not one this server handed out") from e
    if made_for != sort:
        raise ValueError(f"cursor was made for sort={made_for}, not sort={sort}: list again")
    return values


def _instant(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text)
    if at.tzinfo is None:  # ours always carry their offset
        raise ValueError("no UTC offset")
    return at.astimezone(dt.UTC)


def _after(
    columns: Sequence[sa.ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> Any:
    """Rows past the keyset `values` in the order of `columns` (expanded, not a row-value
    comparison: both databases then read the index from the right place)."""
    first, value = columns[0], values[0]
    beyond = first < value if descending else first > value
    if len(columns) == 1:
        return beyond
    return sa.or_(beyond, sa.and_(first == value, _after(columns[1:], values[1:], descending)))


_NAME_ALPHABET = "-0123456789abcdefghijklmnopqrstuvwxyz"  # a DNS-1123 label's, in collation order


def _prefix_end(prefix: str) -> str | None:
    """The least name above every name starting with `prefix` (a DNS-1123 label's start), None
    if there is none: `name >= prefix AND name < end` is a range either database reads from an
    index (SQLite's LIKE is case-insensitive and reads none)."""
    for i in range(len(prefix) - 1, -1, -1):
        position = _NAME_ALPHABET.index(prefix[i])
        if position < len(_NAME_ALPHABET) - 1:
            return prefix[:i] + _NAME_ALPHABET[position + 1]
    return None  # all `z`: every name from `prefix` on starts with it


def _name_starts(prefix: str, indexed: bool) -> sa.ColumnElement[bool]:
    """Names starting with `prefix`: a range an index reads (`indexed`), else an expression
    checked row by row (and for a prefix no name has, said exactly rather than by collation)."""
    name = t.jobs.c.name
    if indexed and not prefix.strip(_NAME_ALPHABET):
        end = _prefix_end(prefix)
        return sa.and_(name >= prefix, name < end) if end is not None else name >= prefix
    return sa.func.substr(name, 1, len(prefix)) == prefix


def _equals(value: Any) -> Callable[[Any], Any]:
    return lambda column: column == value


@dataclass(frozen=True)
class _Candidate:
    """A list filter an index can read: its jobs' ids (`matching`, read from that index alone),
    whether that index has the list's order, and the filters it reads (`_job_filters`'
    `indexed`: a label is `label:<key>`)."""

    matching: sa.Select[Any]
    ordered: bool
    reads: frozenset[str]


def _driver_candidates(sort: str, filters: dict[str, Any]) -> list[_Candidate]:
    """The filters of a list that an index can read, the most specific first (`SqlStore._indexed`
    walks the first one with the list's order when every filter is common)."""
    j, lab = t.jobs.c, t.job_labels.c
    by = sort.lstrip("-")
    out: list[_Candidate] = []

    def add(conditions: list[Any], ordered: bool, reads: set[str]) -> None:
        out.append(_Candidate(sa.select(j.id).where(*conditions), ordered, frozenset(reads)))

    namespace, state = filters.get("namespace"), filters.get("state")
    if namespace is not None and state is not None:  # (namespace, state, created_at, id)
        add(
            [j.namespace == namespace, j.state == state], by == "created_at", {"namespace", "state"}
        )
    for key in ("name", "cron_id"):
        if filters.get(key) is not None:
            add([j[key] == filters[key]], by in ("created_at", "name"), {key})
    if namespace is not None and state is None:  # (namespace, <each sort>) indexes
        add(
            [j.namespace == namespace],
            True,
            {"namespace", "name_prefix"} if by == "name" else {"namespace"},
        )
    # A state (pending, running, failed: a few % each) before a cluster (one of a few).
    for key in ("state", "cluster_id") if namespace is None else ("cluster_id",):
        if filters.get(key) is not None:
            add([j[key] == filters[key]], by == "created_at", {key})
    if filters.get("name_prefix"):
        add([_name_starts(filters["name_prefix"], True)], by == "name", {"name_prefix"})
    if filters.get("namespaces") is not None and namespace is None:
        add([j.namespace.in_(filters["namespaces"])], False, {"namespaces"})
        if state is not None:  # (namespace, state, created_at, id), a range per namespace
            add(
                [j.namespace.in_(filters["namespaces"]), j.state == state],
                False,
                {"namespaces", "state"},
            )
    for key, value in (filters.get("labels") or {}).items():
        out.append(
            _Candidate(
                sa.select(lab.job_id).where(lab.key == key, lab.value == value),
                False,
                frozenset({f"label:{key}"}),
            )
        )
    after, before = filters.get("created_after"), filters.get("created_before")
    if by == "created_at" and (after is not None or before is not None):
        bounds = [j.created_at >= after] if after is not None else []
        bounds += [j.created_at < before] if before is not None else []
        add(bounds, True, {"created"})
    return out


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that writes (for the store and for plugins' own tables alike)."""
    # `kjs_write` lets the SQLite store begin with IMMEDIATE: a read-then-write transaction
    # then never fails half-way on "database is locked".
    with engine.connect() as conn:
        conn.execution_options(kjs_write=True)
        with conn.begin():
            yield conn


_TAKE_SEQS_MYSQL = "UPDATE sequences SET value = LAST_INSERT_ID(value + %s) WHERE name = 'jobs'"
_TAKE_SEQS_RETURNING = "UPDATE sequences SET value = value + ? WHERE name = 'jobs' RETURNING value"


def _take_seqs(conn: sa.Connection, count: int) -> int:
    """The first of `count` new job seqs. Taken before the transaction locks anything else, and
    held (the counter's row lock) until it commits: transactions that change jobs commit in seq
    order, so a watcher that has read seq n has read every change before it."""
    if count == 0:
        return _sequence(conn, "jobs") + 1
    # On the DB-API cursor: this runs in every transaction that writes jobs, and SQLAlchemy's
    # execution path costs more CPU than the statement (measured: 10 % of a submit on MariaDB).
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "mysql":  # the new value comes back as the insert id
            cursor.execute(_TAKE_SEQS_MYSQL, (count,))
            last = cursor.lastrowid if cursor.rowcount else None
        else:  # SQLite
            cursor.execute(_TAKE_SEQS_RETURNING, (count,))
            row = cursor.fetchone()
            last = row[0] if row else None
    finally:
        cursor.close()
    if last is None:  # a database emptied by hand (tests): the counter starts again
        conn.execute(t.sequences.insert(), {"name": "jobs", "value": count})
        last = count
    return int(last) - count + 1


def _give_back_seqs(conn: sa.Connection, last_used: int) -> None:
    """The counter back to `last_used`, its tail unused (the transaction still holds it): a
    transaction that changed fewer jobs than it took seqs for does not move the watch position
    past its last change, so watchers are not woken for nothing."""
    seqs = t.sequences.c
    conn.execute(
        t.sequences.update()
        .where(seqs.name == "jobs", seqs.value > last_used)
        .values(value=last_used)
    )


def _sequence(conn: sa.Connection, name: str) -> int:
    value = conn.execute(sa.select(t.sequences.c.value).where(t.sequences.c.name == name)).scalar()
    return int(value or 0)


def _as_it_was(row: sa.Row[Any]) -> JobRecord | dict[str, Any]:
    """A deleted job for its tombstone; a row that cannot be read as a job, as its plain
    columns (`job_changes` skips a tombstone it cannot read)."""
    try:
        return SqlStore._job(row)
    except (msgspec.DecodeError, ValueError, TypeError, KeyError):
        return {k: v for k, v in row._mapping.items() if isinstance(v, str | int | None)}


def _matches(
    job: JobRecord,
    *,
    state: str | None = None,
    cluster_id: str | None = None,
    name: str | None = None,
    cron_id: str | None = None,
    labels: dict[str, str] | None = None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    namespaces: list[str] | None = None,
    namespace: str | None = None,
    name_prefix: str | None = None,
) -> bool:
    """`SqlStore._job_filters` for one job in memory (a deleted job's last state)."""
    return (
        (namespaces is None or job.spec.namespace in namespaces)
        and namespace in (None, job.spec.namespace)
        and (name_prefix is None or job.spec.name.startswith(name_prefix))
        and state in (None, str(job.state))
        and cluster_id in (None, job.cluster_id)
        and name in (None, job.spec.name)
        and cron_id in (None, job.cron_id)
        and all(job.spec.labels.get(k) == v for k, v in (labels or {}).items())
        and (created_after is None or job.created_at >= created_after)
        and (created_before is None or job.created_at < created_before)
    )


def _accepted_event(job: JobRecord) -> dict[str, Any]:
    """A new job's first event row."""
    return {
        "job_id": job.id,
        "attempt": job.attempt,
        "state": str(job.state),
        "at": job.created_at,
        "reason": "Accepted",
        "cluster_id": None,
    }


UPDATE_CHUNK = 500  # job ids read (and locked) by one statement of update_jobs


class _UpdateBatch:
    """The writes of one `update_jobs` transaction, gathered and sent as a few statements: the
    jobs read and locked by id (in id order), each change applied in memory in the updates'
    order, then one executemany per set of changed columns, and one each for the events,
    manifests and outbox rows. Per job, a statement each cost more than the writes themselves."""

    def __init__(self, store: SqlStore, conn: sa.Connection, seq: int) -> None:
        self.store, self.conn, self.next_seq = store, conn, seq
        self.rows: dict[str, dict[str, Any]] = {}  # as stored (then as changed so far)
        self.jobs: dict[str, JobRecord] = {}
        self.changed: dict[str, dict[str, Any]] = {}  # per job: its columns to set
        self.events: list[dict[str, Any]] = []
        self.manifests: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.acknowledged: set[str] = set()

    def lock(self, ids: Sequence[str]) -> None:
        j = t.jobs
        for row in self.conn.execute(
            sa.select(j).where(j.c.id.in_(ids)).order_by(j.c.id).with_for_update()
        ):
            self.rows[row.id] = dict(row._mapping)
            self.jobs[row.id] = self.store._job(row)

    def apply(self, update: JobUpdate) -> tuple[JobRecord, JobRecord] | None:
        job_id = update.job_id
        before = self.jobs.get(job_id)
        if before is None:
            return None
        after = update.change(before)
        if after is not None:
            self._change(job_id, before, after, update)
        if update.acknowledge is not None and update.acknowledge(after or before):
            # Its open dispatch goes, and so would the ones this transaction added before.
            self.acknowledged.add(job_id)
            self.outbox = [row for row in self.outbox if row["job_id"] != job_id]
        return None if after is None else (before, after)

    def _change(self, job_id: str, before: JobRecord, after: JobRecord, update: JobUpdate) -> None:
        stored = self.rows[job_id]
        spec = _json.encode(after.spec).decode()
        # The request figure is the one computed when the spec was written (submit, edit): a
        # state change keeps it, whatever this replica's default_requests.
        values = self.store._job_row(after, spec=spec, requests=spec != stored["spec"])
        # Only the columns that change: SQLite rewrites the entries of every index that has a
        # column the UPDATE sets (the jobs table has many), changed or not.
        values = {k: v for k, v in values.items() if k != "id" and stored[k] != v}
        values["seq"] = self.next_seq
        self.next_seq += 1
        stored.update(values)
        self.changed.setdefault(job_id, {}).update(values)
        self.jobs[job_id] = after
        if after.spec.labels != before.spec.labels:
            labels = t.job_labels
            self.conn.execute(labels.delete().where(labels.c.job_id == job_id))
            if after.spec.labels:
                self.conn.execute(
                    labels.insert(),
                    [
                        {"job_id": job_id, "key": k, "value": v}
                        for k, v in after.spec.labels.items()
                    ],
                )
        for topic, body in update.outbox(after):
            self.outbox.append(
                {
                    "topic": topic,
                    "body": body,
                    "job_id": job_id if topic.startswith("kjs.dispatch.") else None,
                    "available_at": after.updated_at,
                    "attempts": 0,
                }
            )
        if update.manifest is not None:
            # An attempt is dispatched once: every way back to pending takes a new attempt (a
            # move off a silent cluster, a rerun, an edit of a dispatched job): this row is new.
            self.manifests.append(
                {"job_id": job_id, "attempt": after.attempt, "manifest": update.manifest}
            )
        if (event := update.event(after)) is not None:
            row = msgspec.to_builtins(event, builtin_types=(dt.datetime,))
            del row["seq"]  # the table's id
            self.events.append(row)

    def write(self) -> None:
        """Everything gathered, in as few statements as the changes allow."""
        conn, j = self.conn, t.jobs
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for job_id, values in self.changed.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({**values, "_id": job_id})
        for columns, params in by_columns.items():
            statement = (
                j.update()
                .where(j.c.id == sa.bindparam("_id"))
                .values({c: sa.bindparam(c) for c in columns})
            )
            conn.execute(statement, params)
        if self.acknowledged:
            conn.execute(t.outbox.delete().where(t.outbox.c.job_id.in_(sorted(self.acknowledged))))
        if self.outbox:
            conn.execute(t.outbox.insert(), self.outbox)
        if self.manifests:
            conn.execute(t.job_manifests.insert(), self.manifests)
        if self.events:
            conn.execute(t.job_events.insert(), self.events)


class SqlStore:
    """One engine, one transaction per method. Writers lock the rows they change."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        describe: str,
        plugins: Plugins | None = None,
        default_requests: Requests = DEFAULT_REQUESTS,
    ) -> None:
        self.engine = engine
        # One pod's request when a job names none (`[scheduling] default_requests`): a job's
        # total request is computed when its row is written.
        self.default_requests = default_requests
        self.describe = describe  # "SQLite at …" / "MySQL at host:port", for error messages
        # Whose migration branches `migrate` applies beside kjs's own (None: the plugins the
        # environment enables, found when migrating).
        self.plugins = plugins
        self._unreadable: set[str] = set()
        self._bulk_inserts: dict[tuple[str, tuple[str, ...]], _BulkInsert | None] = {}
        # How many status changes the server should have in flight to write as one group
        # (`kjs.scheduler.consumer`): SQLite's single writer gains from large groups (128: +33 %
        # placements/s in bench/schedule.py against 16); on MariaDB larger groups placed no
        # more and held placement's writes back (pass p50 0.25 → 0.4-1.7 s), so it keeps 16.
        self.status_writes_in_flight = 128 if engine.dialect.name == "sqlite" else 16

    # -- plumbing --------------------------------------------------------------------------------

    def _tx(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return write_transaction(self.engine)

    def _insert_many(
        self, conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """`conn.execute(table.insert(), rows)` (rows with the same keys) for a fraction of its
        cost per row: the statement is compiled once, each value but None goes through its
        column's bind processor, and the driver's executemany gets the lot (what SQLAlchemy
        does, less its general machinery; errors are SQLAlchemy's as ever). Only for columns
        that bind None as NULL (every column of kjs's tables: no JSON or pickled types)."""
        if not rows:
            return
        keys = tuple(rows[0])
        if (table.name, keys) not in self._bulk_inserts:
            self._bulk_inserts[table.name, keys] = self._bulk_insert(table, keys)
        plan = self._bulk_inserts[table.name, keys]
        if plan is None:  # a statement this shortcut does not know how to run
            conn.execute(table.insert(), list(rows))
            return
        processors = plan.processors
        if plan.order is None:
            named = []
            for row in rows:
                values = dict(row)
                for key, process in processors:
                    if (value := values[key]) is not None:  # NULL binds as NULL in these tables
                        values[key] = process(value)
                named.append(values)
            conn.exec_driver_sql(plan.sql, named)
            return
        order = plan.order
        at = [(order.index(key), process) for key, process in processors]
        positional = []
        for row in rows:
            ordered = [row[key] for key in order]
            for i, process in at:
                if (value := ordered[i]) is not None:  # NULL binds as NULL in these tables
                    ordered[i] = process(value)
            positional.append(tuple(ordered))
        conn.exec_driver_sql(plan.sql, positional)

    def _bulk_insert(self, table: sa.Table, keys: tuple[str, ...]) -> _BulkInsert | None:
        dialect = self.engine.dialect
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        # Only a plain INSERT of exactly these columns, one parameter each, named after them.
        if set(compiled.binds) != set(keys) or compiled.params.keys() != set(keys):
            return None
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        if order is not None and sorted(order) != sorted(keys):
            return None
        processors = tuple(
            (key, process)
            for key in keys
            if (process := table.c[key].type.dialect_impl(dialect).bind_processor(dialect))
            is not None
        )
        return _BulkInsert(str(compiled), order, processors)

    def migrate(self) -> None:
        from kjs.core.plugins import Plugins
        from kjs.sqlstore.migrate import upgrade

        plugins = self.plugins if self.plugins is not None else Plugins()
        upgrade(self.engine, plugins.migrations(), plugins.disabled_migrations())

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs ------------------------------------------------------------------------------------

    def _page(
        self,
        query: sa.Select[Any],
        table: sa.Table,
        limit: int,
        cursor: str | None,
        record: Callable[[sa.Row[Any]], R],
        sort: str = DEFAULT_SORT,
    ) -> tuple[list[R], str | None]:
        """Keyset pagination in `sort` order (newest first by default): one page and the next
        cursor."""
        keys = _SORT_KEYS[sort.lstrip("-")]
        columns = [table.c[key] for key in keys]
        descending = sort.startswith("-")
        if cursor:
            values = _parse_cursor(cursor, sort)
            # The same rows, with the first column's bound said alone as well: a range both
            # databases read from the index in order (with only the OR, SQLite read both of its
            # branches and sorted them: 1.7 s 5,000 rows into a list with a time range).
            first = columns[0] <= values[0] if descending else columns[0] >= values[0]
            query = query.where(first, _after(columns, values, descending))
        order = [c.desc() if descending else c.asc() for c in columns]
        query = query.order_by(*order).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        items = [record(r) for r in rows[:limit]]
        if len(rows) <= limit or not items:
            return items, None
        last = rows[limit - 1]._mapping
        return items, _cursor(sort, [last[key] for key in keys])

    def _job_row(
        self, job: JobRecord, *, spec: str | None = None, requests: bool = True
    ) -> dict[str, Any]:
        """The job's row; `spec` its spec's JSON when known already. Without `requests`, no
        request figures (a state change keeps the ones computed when the spec was written)."""
        figures = job_requests(job.spec, self.default_requests) if requests else None
        row = {
            "id": job.id,
            "name": job.spec.name,
            "namespace": job.spec.namespace,
            "state": str(job.state),
            "attempt": job.attempt,
            "cluster_id": job.cluster_id,
            "k8s_name": job.k8s_name,
            "spec": _json.encode(job.spec).decode() if spec is None else spec,
            "run_at": job.run_at,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "dispatched_at": job.dispatched_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "exit_codes": _json.encode(job.exit_codes).decode(),
            "reason": job.reason,
            "message": job.message,
            "cron_id": job.cron_id,
            "idempotency_key": job.idempotency_key,
            "placement_key": placement_key_of(job.spec, job.priority),
            "queue": job.spec.queue,
            "priority": job.priority,
            "gang": job.spec.gang,
        }
        if figures is not None:
            row["request_cpu_millis"] = figures.cpu_millis
            row["request_memory_bytes"] = figures.memory_bytes
        return row

    @staticmethod
    def _job(row: sa.Row[Any]) -> JobRecord:
        m = row._mapping
        return JobRecord(
            id=m["id"],
            spec=msgspec.json.decode(m["spec"], type=JobSpec),
            state=JobState(m["state"]),
            attempt=m["attempt"],
            cluster_id=m["cluster_id"],
            k8s_name=m["k8s_name"],
            run_at=m["run_at"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            dispatched_at=m["dispatched_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            exit_codes=msgspec.json.decode(m["exit_codes"]),
            reason=m["reason"],
            message=m["message"],
            cron_id=m["cron_id"],
            idempotency_key=m["idempotency_key"],
            priority=m["priority"],
        )

    def _insert_outbox(
        self,
        conn: sa.Connection,
        messages: Sequence[tuple[str, bytes]],
        job_id: str | None,
        now: dt.datetime,
    ) -> None:
        if messages:
            conn.execute(
                t.outbox.insert(),
                [
                    {
                        "topic": topic,
                        "body": body,
                        "job_id": job_id if topic.startswith("kjs.dispatch.") else None,
                        "available_at": now,
                        "attempts": 0,
                    }
                    for topic, body in messages
                ],
            )

    def create_job(
        self,
        job: JobRecord,
        outbox: Sequence[tuple[str, bytes]] = (),
        idempotency: Idempotency | None = None,
    ) -> JobRecord:
        row = self._job_row(job)
        if idempotency is not None:
            row["idempotency_scope"] = idempotency.scope
            row["idempotency_request"] = idempotency.request
        try:
            with self._tx() as conn:
                row["seq"] = row["added_seq"] = _take_seqs(conn, 1)
                conn.execute(t.jobs.insert(), row)
                if job.spec.labels:
                    conn.execute(
                        t.job_labels.insert(),
                        [
                            {"job_id": job.id, "key": k, "value": v}
                            for k, v in job.spec.labels.items()
                        ],
                    )
                self._insert_outbox(conn, outbox, job.id, job.created_at)
                conn.execute(t.job_events.insert(), _accepted_event(job))
        except sa.exc.IntegrityError:
            # Created already (a retried create, or the first job of this idempotency scope).
            existing = self.get_job(job.id)
            if existing is None and idempotency is not None:
                found = self.get_job_by_idempotency(idempotency.scope)
                existing = found[0] if found else None
            if existing is not None:
                return existing
            raise
        return job

    def create_jobs(self, jobs: Sequence[tuple[JobRecord, Idempotency | None]]) -> list[JobRecord]:
        """Many jobs in one transaction: one SELECT for the idempotency scopes already held,
        then one executemany INSERT per table (jobs, labels, events). A concurrent batch that
        took a scope first makes the INSERT fail on the unique scope (or, on MySQL, the two
        deadlock), and so does a job id stored already (a retried create): the transaction is
        rolled back and run again, now also looking the ids up, and finds them."""
        if not jobs:
            return []
        for attempt in range(1, CREATE_JOBS_TRIES + 1):
            try:
                with self._tx() as conn:
                    return self._create_jobs(conn, jobs, look_up_ids=attempt > 1)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as e:
                retry = isinstance(e, sa.exc.IntegrityError) or _deadlock(e)
                if not retry or attempt == CREATE_JOBS_TRIES:
                    raise
                log.info("create_jobs: %s; trying again (%d)", e.orig, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _create_jobs(
        self,
        conn: sa.Connection,
        jobs: Sequence[tuple[JobRecord, Idempotency | None]],
        *,
        look_up_ids: bool,
    ) -> list[JobRecord]:
        j = t.jobs.c
        scopes = sorted({key.scope for _, key in jobs if key is not None})
        held: list[sa.ColumnElement[bool]] = [j.idempotency_scope.in_(scopes)] if scopes else []
        if look_up_ids:  # new ids are new: only a retry looks for one stored already
            held.append(j.id.in_([job.id for job, _ in jobs]))
        by_id: dict[str, JobRecord] = {}
        by_scope: dict[str, tuple[JobRecord, str | None]] = {}
        found_rows = conn.execute(sa.select(t.jobs).where(sa.or_(*held))) if held else ()
        for held_row in found_rows:
            found = self._job(held_row)
            by_id[found.id] = found
            if (scope := held_row._mapping["idempotency_scope"]) is not None:
                by_scope[scope] = (found, held_row._mapping["idempotency_request"])
        stored: list[JobRecord] = []
        new: list[tuple[JobRecord, Idempotency | None]] = []
        for index, (job, key) in enumerate(jobs):
            if (existing := by_id.get(job.id)) is not None:
                stored.append(existing)
                continue
            if key is not None:
                if (holder := by_scope.get(key.scope)) is not None:
                    if holder[1] != key.request:
                        raise IdempotencyConflict(index, holder[0].id)
                    stored.append(holder[0])
                    continue
                by_scope[key.scope] = (job, key.request)
            by_id[job.id] = job
            stored.append(job)
            new.append((job, key))
        if not new:
            return stored
        rows: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        seq = _take_seqs(conn, len(new))
        # Scopes in one order, whoever inserts them: two batches sharing scopes wait for each
        # other instead of deadlocking (MySQL locks each unique key as it inserts it).
        for job, key in (
            sorted(new, key=lambda pair: pair[1].scope if pair[1] else "") if scopes else new
        ):
            row = self._job_row(job)
            row["idempotency_scope"] = key.scope if key else None
            row["idempotency_request"] = key.request if key else None
            row["seq"] = row["added_seq"] = seq
            seq += 1
            rows.append(row)
            labels += [{"job_id": job.id, "key": k, "value": v} for k, v in job.spec.labels.items()]
            events.append(_accepted_event(job))
        self._insert_many(conn, t.jobs, rows)
        self._insert_many(conn, t.job_labels, labels)
        self._insert_many(conn, t.job_events, events)
        return stored

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id)).first()
        return self._job(row) if row else None

    def get_jobs(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        found: dict[str, JobRecord] = {}
        unique = sorted(set(job_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), UPDATE_CHUNK):
                chunk = unique[start : start + UPDATE_CHUNK]
                for row in conn.execute(sa.select(t.jobs).where(t.jobs.c.id.in_(chunk))):
                    found[row.id] = self._job(row)
        return [found.get(job_id) for job_id in job_ids]

    def get_job_by_idempotency(self, scope: str) -> tuple[JobRecord, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.jobs).where(t.jobs.c.idempotency_scope == scope)).first()
        return (self._job(row), row._mapping["idempotency_request"]) if row else None

    def list_jobs(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        state: str | None = None,
        cluster_id: str | None = None,
        name: str | None = None,
        cron_id: str | None = None,
        labels: dict[str, str] | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        namespaces: list[str] | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        sort: str = DEFAULT_SORT,
    ) -> tuple[list[JobRecord], str | None]:
        """`limit` at a time in `sort` order (`JOB_SORTS`), keyset-paginated."""
        if sort not in JOB_SORTS:
            raise ValueError(f"sort must be one of {', '.join(JOB_SORTS)}")
        filters: dict[str, Any] = {
            "state": state,
            "cluster_id": cluster_id,
            "name": name,
            "cron_id": cron_id,
            "labels": labels,
            "created_after": created_after,
            "created_before": created_before,
            "namespaces": namespaces,
            "namespace": namespace,
            "name_prefix": name_prefix,
        }
        indexed = self._indexed(sort, filters)
        by = sort.lstrip("-")
        # The page's ids first, read from indexes alone where the filters allow (a row read
        # only to be refused costs MariaDB a page of its table: ~50 µs at 10^6 jobs), then
        # their rows.
        keys = [t.jobs.c[key] for key in _SORT_KEYS[by]]
        ids = self._job_filters(
            sa.select(*keys),
            **filters,
            indexed=indexed,
            # SQLite reads a row by its rowid as fast as an index entry: no probes there.
            probe=by == "created_at" and self.engine.dialect.name != "sqlite",
        )
        page, next_cursor = self._page(ids, t.jobs, limit, cursor, lambda row: row.id, sort)
        if not page:
            return [], next_cursor
        with self.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(sa.select(t.jobs).where(t.jobs.c.id.in_(page)))}
        return [self._job(rows[i]) for i in page if i in rows], next_cursor  # none deleted since

    def _indexed(self, sort: str, filters: dict[str, Any]) -> frozenset[str]:
        """The filters a list reads from an index (`_job_filters`' `indexed`); the others are
        checked row by row, written so that neither database can read them from an index.

        Left to itself a planner may walk a common filter's index checking a rare one row by
        row (a rare or empty pair reads every job of the first: up to 1 s at 10^6 jobs), or
        read every job of a token's namespaces to sort them. So each filter an index can read
        is counted from that index alone, up to RARE_FILTER, and the rarest under it drives:
        at most RARE_FILTER jobs are read (in the sort's order when its index has it, else
        sorted). When every filter is common, the sort's order is walked (a page is soon
        found) through the index of the most specific filter that has that order, if any."""
        candidates = _driver_candidates(sort, filters)
        ordered = [c for c in candidates if c.ordered]
        if not candidates or (len(candidates) == 1 and ordered):
            return ordered[0].reads if ordered else frozenset()
        counts = sa.select(
            *(
                sa.select(sa.func.count())
                .select_from(c.matching.limit(RARE_FILTER).subquery())
                .scalar_subquery()
                for c in candidates
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(counts).one()
        rarest = min(range(len(candidates)), key=lambda i: row[i])
        if row[rarest] < RARE_FILTER:
            return candidates[rarest].reads
        return ordered[0].reads if ordered else frozenset()

    @staticmethod
    def _job_filters(
        query: sa.Select[Any],
        *,
        state: str | None = None,
        cluster_id: str | None = None,
        name: str | None = None,
        cron_id: str | None = None,
        labels: dict[str, str] | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        namespaces: list[str] | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        indexed: frozenset[str] | None = None,
        probe: bool = False,
    ) -> sa.Select[Any]:
        """The filters as conditions. `indexed`: the filters (`_Candidate.reads`) a database
        may read from an index (None: every one); each other one is written as an expression
        no index serves, so that it is checked on the rows the others read."""
        j = t.jobs.c

        # On MariaDB, checks as joins after the driving index's table (STRAIGHT_JOIN keeps that
        # order): a dependent subquery per row costs about twice a join's lookup. Not when a
        # label drives: that is a semi-join, which STRAIGHT_JOIN would turn into a subquery.
        joins = probe and indexed is not None and not any(k.startswith("label:") for k in indexed)

        def check(key: str, column: str, test: Callable[[Any], Any], join: bool = True) -> Any:
            nonlocal query
            if indexed is None or key in indexed:
                return test(j[column])
            if not probe or (key == "namespaces" and not 0 < len(namespaces or []) <= 8):
                return test(j[column] + "")  # an expression: no index reads it
            if key == "namespaces":  # one probe each: MariaDB reads a whole range for an IN
                probes = (check("namespace", column, _equals(n), False) for n in namespaces or [])
                return sa.or_(*probes)
            # The row's entry in the column's (column, created_at, id) index: read from that
            # index alone, where the row itself would be read from the table.
            other = t.jobs.alias(f"probe_{key}")
            hint = f"FORCE INDEX (ix_jobs_{column}_created_at_id)"
            if joins and join:
                same = sa.and_(other.c.created_at == j.created_at, other.c.id == j.id)
                query = query.join(other, sa.and_(test(other.c[column]), same))
                query = query.with_hint(other, hint, "mysql")
                return None
            entry = (
                sa.select(sa.func.count())
                .select_from(other)
                .where(test(other.c[column]), other.c.created_at == j.created_at)
                .where(other.c.id == j.id)
                .with_hint(other, hint, "mysql")
            )
            return entry.scalar_subquery() > 0

        if namespaces is not None:
            query = query.where(check("namespaces", "namespace", lambda c: c.in_(namespaces)))
        for key, value in (
            ("state", state),
            ("cluster_id", cluster_id),
            ("name", name),
            ("cron_id", cron_id),
            ("namespace", namespace),
        ):
            if value is not None:
                condition = check(key, key, _equals(value))  # None: joined to `query`
                if condition is not None:
                    query = query.where(condition)
        if name_prefix:
            query = query.where(
                _name_starts(name_prefix, indexed is None or "name_prefix" in indexed)
            )
        lab = t.job_labels.c
        for n, (key, value) in enumerate((labels or {}).items()):
            if indexed is None or f"label:{key}" in indexed:  # the label index's jobs
                query = query.where(
                    j.id.in_(sa.select(lab.job_id).where(lab.key == key, lab.value == value))
                )
            elif joins:  # each row read by another index is checked by its primary key
                label = t.job_labels.alias(f"label_{n}")
                query = query.join(
                    label,
                    sa.and_(label.c.job_id == j.id, label.c.key == key, label.c.value == value),
                )
            else:
                query = query.where(
                    sa.select(lab.value).where(lab.job_id == j.id, lab.key == key).scalar_subquery()
                    == value
                )
        # A time range stays readable: it narrows whichever (…, created_at, id) index drives.
        if created_after is not None:
            query = query.where(j.created_at >= created_after)
        if created_before is not None:
            query = query.where(j.created_at < created_before)
        return query.prefix_with("STRAIGHT_JOIN", dialect="mysql") if joins else query

    def update_job(
        self,
        job_id: str,
        change: Callable[[JobRecord], JobRecord | None],
        outbox: Callable[[JobRecord], Sequence[tuple[str, bytes]]] = lambda job: (),
        event: Callable[[JobRecord], EventRecord | None] = lambda job: None,
    ) -> tuple[JobRecord, JobRecord] | None:
        return self.update_jobs([JobUpdate(job_id, change, outbox, event)])[0]

    def update_jobs(self, updates: Sequence[JobUpdate]) -> list[tuple[JobRecord, JobRecord] | None]:
        # Rows locked in job id order (one job's updates keep theirs): two writers with the
        # same jobs in other orders (replicas consuming news, placement) cannot deadlock.
        order = sorted(range(len(updates)), key=lambda i: updates[i].job_id)

        def write(conn: sa.Connection) -> list[tuple[JobRecord, JobRecord] | None]:
            first = _take_seqs(conn, len(updates))
            batch = _UpdateBatch(self, conn, first)
            ids = sorted({u.job_id for u in updates})
            for start in range(0, len(ids), UPDATE_CHUNK):
                batch.lock(ids[start : start + UPDATE_CHUNK])
            results: list[tuple[JobRecord, JobRecord] | None] = [None] * len(updates)
            for i in order:
                results[i] = batch.apply(updates[i])
            batch.write()
            if batch.next_seq < first + len(updates):  # some unused (placement uses all)
                _give_back_seqs(conn, batch.next_seq - 1)
            return results

        return self._write_retried(write)

    def _write_retried(self, write: Callable[[sa.Connection], R]) -> R:
        """`write` in a transaction, run again when MySQL rolls it back as a deadlock victim
        (a lock wait cycle with another writer: the other went through)."""
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                with self._tx() as conn:
                    return write(conn)
            except sa.exc.OperationalError as e:
                if not _deadlock(e) or attempt == DEADLOCK_TRIES:
                    raise
                log.info("deadlock victim; writing again (%d): %s", attempt, e.orig)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _put_manifest(conn: sa.Connection, job_id: str, attempt: int, manifest: bytes) -> None:
        # An attempt is dispatched once: every way back to pending takes a new attempt (a move
        # off a silent cluster, a rerun, an edit of a dispatched job), so this row is new.
        conn.execute(
            t.job_manifests.insert(), {"job_id": job_id, "attempt": attempt, "manifest": manifest}
        )

    def gang_holder(self, namespace: str, gang: str) -> str | None:
        j = t.jobs.c
        final = [str(s) for s in FINAL_STATES]
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(j.id)
                .where(j.namespace == namespace, j.gang == gang, j.state.not_in(final))
                .limit(1)
            ).scalar()

    def job_manifest(self, job_id: str, attempt: int) -> bytes | None:
        m = t.job_manifests.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(m.manifest).where(m.job_id == job_id, m.attempt == attempt)
            ).scalar()
        return None if found is None else bytes(found)

    def job_events(self, job_id: str, after: int = 0) -> list[EventRecord]:
        # One job's events are written by transactions that hold its row (and the job seqs):
        # their ids grow in commit order, so a reader never passes an id still uncommitted.
        e = t.job_events.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.job_events).where(e.job_id == job_id, e.id > after).order_by(e.id)
            ).all()
        return [
            EventRecord(seq=r._mapping["id"], **{k: v for k, v in r._mapping.items() if k != "id"})
            for r in rows
        ]

    # -- job watch -------------------------------------------------------------------------------

    def watch_position(self) -> int:
        with self.engine.connect() as conn:
            return _sequence(conn, "jobs")

    def job_changes(self, after: int, *, limit: int, **filters: Any) -> tuple[list[JobChange], int]:
        j = t.jobs.c
        with self.engine.connect() as conn:
            # Read first: every change up to `position` is committed (seqs commit in order).
            position = _sequence(conn, "jobs")
            if after > position or after < _sequence(conn, "jobs_kept_from"):
                raise Gone(f"watch_cursor {after} is not in the history kept: list again")
            query = self._job_filters(sa.select(t.jobs), **filters)
            rows = conn.execute(
                query.where(j.seq > after, j.seq <= position).order_by(j.seq).limit(limit)
            ).all()
            stones = conn.execute(
                sa.select(t.job_tombstones)
                .where(t.job_tombstones.c.seq > after, t.job_tombstones.c.seq <= position)
                .order_by(t.job_tombstones.c.seq)
                .limit(limit)
            ).all()
        reached = position  # how far both reads are complete
        if len(rows) == limit:
            reached = min(reached, rows[-1]._mapping["seq"])
        if len(stones) == limit:
            reached = min(reached, stones[-1]._mapping["seq"])
        readable = {job.id: job for job in self._readable_jobs(rows)}
        changes = [
            JobChange(
                m["seq"], "ADDED" if m["added_seq"] > after else "MODIFIED", readable[m["id"]]
            )
            for row in rows
            if (m := row._mapping)["seq"] <= reached and m["id"] in readable
        ]
        for stone in stones:
            seq = stone._mapping["seq"]
            try:
                job = msgspec.json.decode(stone._mapping["job"], type=JobRecord)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # a job that could not be read when it was deleted either
            if seq <= reached and _matches(job, **filters):
                changes.append(JobChange(seq, "DELETED", job))
        changes.sort(key=lambda change: change.seq)
        return changes, reached

    def pending_since(self, after: int | None, limit: int) -> PendingFeed:
        j, stones, seqs = t.jobs.c, t.job_tombstones.c, t.sequences.c
        pending_ = JobState.PENDING.value
        with self.engine.connect() as conn:
            # Read first: every change up to `position` is committed (seqs commit in order).
            kept = dict(
                conn.execute(
                    sa.select(seqs.name, seqs.value).where(
                        seqs.name.in_(["jobs", "jobs_kept_from"])
                    )
                ).all()
            )
            position = int(kept.get("jobs") or 0)
            if after is None or after > position or after < int(kept.get("jobs_kept_from") or 0):
                rows = conn.execute(sa.select(t.jobs).where(j.state == pending_)).all()
                return PendingFeed(self._keyed(rows), [], position, snapshot=True)
            if after == position:
                return PendingFeed([], [], position)  # nothing changed (a pass's usual answer)
            # The changed jobs' ids and states from the seq index, and the deleted ones' (state
            # NULL), in seq order; then the pending ones whole (most changed jobs are not).
            changes = conn.execute(
                sa.union_all(
                    sa.select(j.id.label("id"), j.seq.label("seq"), j.state.label("state")).where(
                        j.seq > after, j.seq <= position
                    ),
                    sa.select(stones.job_id, stones.seq, sa.null()).where(
                        stones.seq > after, stones.seq <= position
                    ),
                )
                .order_by(sa.column("seq"))
                .limit(limit)
            ).all()
            reached = changes[-1][1] if len(changes) == limit else position
            wanted = [row[0] for row in changes if row[2] == pending_]
            rows = []
            for first in range(0, len(wanted), 500):  # by id alone: SQLite would take the
                found = conn.execute(  # state's index for `AND state = ...` (30x slower)
                    sa.select(t.jobs).where(j.id.in_(wanted[first : first + 500]))
                ).all()
                rows += [row for row in found if row._mapping["state"] == pending_]
        jobs = self._keyed(rows)
        still = {job.id for _, job in jobs}
        gone = [row[0] for row in changes if row[0] not in still]
        return PendingFeed(jobs, gone, reached, more=reached < position)

    def _keyed(self, rows: Sequence[sa.Row[Any]]) -> list[tuple[str | None, JobRecord]]:
        """Readable rows' jobs with their placement keys."""
        found = []
        for row in rows:
            for job in self._readable_jobs([row]):
                found.append((row._mapping["placement_key"], job))
        return found

    def count_jobs_by_cluster(self, state: JobState) -> dict[str, int]:
        """How many jobs are in `state`, per cluster."""
        counts = self.count_jobs_by_cluster_and_state([state])
        return {cluster: by_state[state] for cluster, by_state in counts.items()}

    def count_jobs_by_cluster_and_state(
        self, states: Sequence[JobState]
    ) -> dict[str, dict[JobState, int]]:
        j = t.jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(j.cluster_id, j.state, sa.func.count())
                .where(j.state.in_([s.value for s in states]))
                .where(j.cluster_id.is_not(None))
                .group_by(j.cluster_id, j.state)
            ).all()
        counts: dict[str, dict[JobState, int]] = {}
        for cluster, state, count in rows:
            counts.setdefault(cluster, {})[JobState(state)] = int(count)
        return counts

    def _sum(self, column: sa.ColumnElement[int]) -> sa.ColumnElement[Any]:
        """A sum of requested amounts that cannot fail: SQLite's `sum()` raises "integer
        overflow" past int64, its `total()` is a float (exact to 2^53) and never does; MariaDB
        sums a BIGINT as a DECIMAL."""
        if self.engine.dialect.name == "sqlite":
            return sa.func.total(column)
        return sa.func.sum(column)

    def queue_usage(self, states: Sequence[JobState] | None = None) -> list[QueueUsage]:
        j = t.jobs.c
        wanted = USAGE_STATES if states is None else states
        with self.engine.connect() as conn:
            rows = conn.execute(  # reads ix_jobs_state_cluster_queue_requests alone
                sa.select(
                    j.state,
                    j.cluster_id,
                    j.queue,
                    sa.func.count(),
                    self._sum(j.request_cpu_millis),
                    self._sum(j.request_memory_bytes),
                )
                .where(j.state.in_([s.value for s in wanted]))
                .group_by(j.state, j.cluster_id, j.queue)
            ).all()
        return [
            QueueUsage(
                queue=queue,
                cluster_id=cluster,
                state=JobState(state),
                jobs=int(count),
                cpu_millis=int(cpu or 0),
                memory_bytes=int(memory or 0),
            )
            for state, cluster, queue, count, cpu, memory in rows
        ]

    def count_jobs_by_state(
        self, states: Sequence[JobState]
    ) -> dict[tuple[JobState, str | None], int]:
        j = t.jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(  # reads ix_jobs_state_cluster_id alone, a range per state
                sa.select(j.state, j.cluster_id, sa.func.count())
                .where(j.state.in_([s.value for s in states]))
                .group_by(j.state, j.cluster_id)
            ).all()
        return {(JobState(state), cluster): int(count) for state, cluster, count in rows}

    def log_chunk_counts(self, job_id: str, attempt: int) -> dict[tuple[str, str], tuple[int, int]]:
        """(chunks, bytes) stored per (pod, container) of one attempt."""
        c = t.job_logs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.pod, c.container, sa.func.count(), sa.func.sum(c.size))
                .where(c.job_id == job_id, c.attempt == attempt)
                .group_by(c.pod, c.container)
            ).all()
        return {(pod, container): (int(n), int(size or 0)) for pod, container, n, size in rows}

    @staticmethod
    def _due(query: sa.Select[Any], now: dt.datetime) -> sa.Select[Any]:
        j = t.jobs.c
        return query.where(j.state == JobState.PENDING.value).where(
            sa.or_(j.run_at.is_(None), j.run_at <= now)
        )

    def due_jobs(
        self,
        now: dt.datetime,
        limit: int,
        placement_key: str | AllKeys | None = ALL_KEYS,
        *,
        after: tuple[dt.datetime, str] | None = None,
    ) -> list[JobRecord]:
        j = t.jobs.c
        query = self._due(sa.select(t.jobs), now)
        if placement_key is None:
            query = query.where(j.placement_key.is_(None))
        elif not isinstance(placement_key, AllKeys):
            query = query.where(j.placement_key == placement_key)
        if after is not None:  # the next page: a range of the key's index from the cursor on
            query = query.where(
                j.created_at >= after[0], _after([j.created_at, j.id], after, False)
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(j.created_at, j.id).limit(limit)).all()
        return list(self._readable_jobs(rows))

    def started_since(
        self,
        since: Mapping[str, dt.datetime],
        states: Sequence[JobState],
        whenever: Sequence[JobState] = (),
    ) -> dict[str, tuple[int, int, int]]:
        j = t.jobs.c
        if not since:
            return {}
        # The cluster as an expression: no index on it is read (see below).
        cluster_of = sa.func.coalesce(j.cluster_id, "")
        recent = [
            sa.and_(cluster_of == cluster, sa.or_(j.started_at.is_(None), j.started_at > at))
            for cluster, at in since.items()
        ]
        if whenever:
            recent.append(j.state.in_([s.value for s in whenever]))
        # Reads the placed states' ranges of an index led by state, and the row of each job
        # found there for its started_at: one per placed job (what clusters run now, not
        # their history; SQLite, without statistics, would otherwise read every job a cluster
        # ever had from its (cluster_id, created_at, id) index).
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    j.cluster_id,
                    sa.func.count(),
                    self._sum(j.request_cpu_millis),
                    self._sum(j.request_memory_bytes),
                )
                .where(j.state.in_([s.value for s in (*states, *whenever)]))
                .where(cluster_of.in_(list(since)))
                .where(sa.or_(*recent))
                .group_by(j.cluster_id)
            ).all()
        return {c: (int(n), int(cpu or 0), int(mem or 0)) for c, n, cpu, mem in rows}

    def due_pages(
        self, now: dt.datetime, pages: Sequence[tuple[str | None, int]]
    ) -> list[list[JobRecord]]:
        """One statement for all the keys (a UNION ALL of each key's range of its index): a
        statement each cost more than their rows, most keys having a few due jobs."""
        if not pages:
            return []
        j = t.jobs.c
        limits: dict[str | None, int] = {}
        for key, limit in pages:
            limits[key] = max(limit, limits.get(key, 0))
        members = []
        for key, limit in limits.items():
            query = self._due(sa.select(t.jobs), now)
            query = query.where(
                j.placement_key.is_(None) if key is None else j.placement_key == key
            )
            members.append(sa.select(query.order_by(j.created_at, j.id).limit(limit).subquery()))
        statement = members[0] if len(members) == 1 else sa.union_all(*members)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        rows_of: dict[str | None, list[sa.Row[Any]]] = {key: [] for key in limits}
        for row in rows:
            rows_of[row._mapping["placement_key"]].append(row)
        by_key: dict[str | None, list[JobRecord]] = {}
        for key, found in rows_of.items():  # (a UNION ALL's order is not its members')
            by_key[key] = sorted(self._readable_jobs(found), key=lambda j: (j.created_at, j.id))
        return [by_key[key][:limit] for key, limit in pages]

    def _readable_jobs(self, rows: Sequence[sa.Row[Any]]) -> Iterator[JobRecord]:
        """The rows as jobs, less those that cannot be read (a row written by hand or by a bug):
        each is logged once, and never keeps the others from being placed."""
        for row in rows:
            try:
                yield self._job(row)
            except (msgspec.DecodeError, ValueError, TypeError, KeyError) as e:
                if row.id not in self._unreadable:
                    self._unreadable.add(row.id)
                    log.error("job %s cannot be read from the store, left alone: %s", row.id, e)

    def due_placement_keys(self, now: dt.datetime) -> list[tuple[str | None, int]]:
        """Each placement key of the due jobs with how many, the one with the oldest job first
        (read from the (state, placement_key, created_at, id, run_at) index alone)."""
        j = t.jobs.c
        query = (
            self._due(sa.select(j.placement_key, sa.func.count()), now)
            .group_by(j.placement_key)
            .order_by(sa.func.min(j.created_at), j.placement_key)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(key, int(count)) for key, count in rows]

    def queue_positions(
        self, queue: str, keys: Sequence[tuple[int, dt.datetime, str]], now: dt.datetime
    ) -> list[int]:
        """Each (priority, created_at, id)'s place among the queue's due pending jobs in
        placement's order — highest priority first, then oldest, then by id (1 = next) — in one
        statement: counts of the gaps between consecutive keys in that order, summed here, so
        the line is read once up to the last key however many keys there are. Each count is a
        range of the index on (queue, state, priority, created_at, id, run_at), read alone: the
        jobs of one priority from one key to the next, or of the priorities between two keys'
        (bench/queue_position.py)."""
        if not keys:
            return []
        j = t.jobs.c
        ordered = sorted(set(keys), key=lambda k: (-k[0], k[1], k[2]))

        def count(*bounds: Any) -> Any:
            return self._due(sa.select(sa.func.count()), now).where(j.queue == queue, *bounds)

        def before(key: tuple[int, dt.datetime, str]) -> list[Any]:
            # A bound on created_at alone too: the range both databases seek.
            at_and_id = [j.created_at, j.id]
            return [j.priority == key[0], j.created_at <= key[1], _after(at_and_id, key[1:], True)]

        def from_on(key: tuple[int, dt.datetime, str]) -> list[Any]:  # itself included
            at, job_id = key[1:]
            return [
                j.priority == key[0],
                j.created_at >= at,
                sa.or_(j.created_at > at, sa.and_(j.created_at == at, j.id >= job_id)),
            ]

        gaps: list[tuple[int, Any]] = []  # (the key it is ahead of, its count)
        for i, key in enumerate(ordered):
            if i == 0:  # every higher priority, then this one's jobs before it
                gaps += [(i, count(j.priority > key[0])), (i, count(*before(key)))]
                continue
            previous = ordered[i - 1]
            if previous[0] == key[0]:  # from the previous key on, to this one
                gaps.append((i, count(*from_on(previous), *before(key)[1:])))
            else:  # the rest of the previous key's priority, those between, this one's start
                gaps += [
                    (i, count(*from_on(previous))),
                    (i, count(j.priority < previous[0], j.priority > key[0])),
                    (i, count(*before(key))),
                ]
        with self.engine.connect() as conn:
            counts = conn.execute(sa.select(*(g.scalar_subquery() for _, g in gaps))).one()
        ahead = [0] * len(ordered)
        for (i, _), n in zip(gaps, counts, strict=True):
            ahead[i] += int(n)
        positions, before_it = {}, 0
        for key, n in zip(ordered, ahead, strict=True):
            before_it += n
            positions[key] = before_it + 1
        return [positions[key] for key in keys]

    def set_pending_reason(
        self,
        placement_key: str,
        reason: str,
        message: str,
        now: dt.datetime,
        *,
        created_after: dt.datetime | None = None,
    ) -> int:
        with self._tx() as conn:
            return self._set_pending_reason(
                conn, placement_key, reason, message, now, created_after=created_after
            )

    def set_pending_reasons(self, now: dt.datetime, told: Sequence[PendingReason]) -> None:
        if not told:
            return
        with self._tx() as conn:  # one transaction: a pass's reasons cost one commit
            for one in told:
                changed = self._set_pending_reason(
                    conn,
                    one.placement_key,
                    one.reason,
                    one.message,
                    now,
                    created_after=one.created_after,
                )
                if one.created_after is not None and changed < one.at_least:
                    self._set_pending_reason(conn, one.placement_key, one.reason, one.message, now)

    @staticmethod
    def _set_pending_reason(
        conn: sa.Connection,
        placement_key: str,
        reason: str,
        message: str,
        now: dt.datetime,
        *,
        created_after: dt.datetime | None = None,
    ) -> int:
        j = t.jobs.c
        query = (
            sa.update(t.jobs)
            .where(j.state == JobState.PENDING.value, j.placement_key == placement_key)
            .where(sa.or_(j.run_at.is_(None), j.run_at <= now))
            # Only the rows that say something else: a group's rewrite costs its changed rows.
            .where(
                sa.or_(
                    j.reason.is_(None),
                    j.message.is_(None),
                    j.reason != reason,
                    j.message != message,
                )
            )
            .values(reason=reason, message=message[:1000])
        )
        if created_after is not None:  # a range of the (state, placement_key, created_at) index
            query = query.where(j.created_at > created_after)
        return int(conn.execute(query).rowcount or 0)

    def namespace_usage(self, namespaces: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        j = t.jobs.c
        if not namespaces:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    j.namespace,
                    sa.func.count(),
                    self._sum(j.request_cpu_millis),
                    self._sum(j.request_memory_bytes),
                )
                .where(j.namespace.in_(list(namespaces)))
                .where(j.state.in_([s.value for s in HOLDING]))
                .group_by(j.namespace)
            ).all()
        return {ns: (int(n), int(cpu or 0), int(mem or 0)) for ns, n, cpu, mem in rows}

    def next_run_at(self, after: dt.datetime | None = None) -> dt.datetime | None:
        j = t.jobs.c
        query = sa.select(sa.func.min(j.run_at)).where(j.state == JobState.PENDING.value)
        if after is not None:  # due already (and maybe waiting for room): not a timer's business
            query = query.where(j.run_at > after)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return (
            None
            if value is None
            else t.UTCDateTime().process_result_value(value, self.engine.dialect)
        )

    # -- outbox ----------------------------------------------------------------------------------

    def outbox_due(self, now: dt.datetime, limit: int, webhooks: bool = False) -> list[OutboxRow]:
        """Due queue messages, or (webhooks=True) due webhook deliveries."""
        o = t.outbox.c
        kind = o.topic == WEBHOOK_TOPIC if webhooks else o.topic != WEBHOOK_TOPIC
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(o.id, o.topic, o.body, o.job_id, o.attempts)
                .where(o.available_at <= now, kind)
                .order_by(o.id)
                .limit(limit)
            ).all()
        return [OutboxRow(*r) for r in rows]

    def outbox_sent(self, item_id: int, *, retry_at: dt.datetime | None) -> None:
        self.outbox_sent_many([(item_id, retry_at)])

    def outbox_sent_many(self, items: Sequence[tuple[int, dt.datetime | None]]) -> None:
        o = t.outbox
        done = sorted(item_id for item_id, retry_at in items if retry_at is None)
        again: dict[dt.datetime, list[int]] = {}
        for item_id, retry_at in sorted(items, key=lambda item: item[0]):
            if retry_at is not None:
                again.setdefault(retry_at, []).append(item_id)

        def write(conn: sa.Connection) -> None:
            if done:
                conn.execute(o.delete().where(o.c.id.in_(done)))
            for retry_at, ids in again.items():
                conn.execute(
                    o.update()
                    .where(o.c.id.in_(ids))
                    .values(available_at=retry_at, attempts=o.c.attempts + 1)
                )

        if items:
            self._write_retried(write)

    def outbox_ack(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute(t.outbox.delete().where(t.outbox.c.job_id == job_id))

    def add_outbox(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Outbox rows on their own (a redelivery asked for through the API)."""
        with self._tx() as conn:
            self._insert_outbox(conn, messages, None, dt.datetime.now(dt.UTC))

    def record_callback(
        self, job_id: str, event_id: str, url: str, at: dt.datetime, result: Any
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                t.callback_attempts.insert(),
                {
                    "job_id": job_id,
                    "event_id": event_id,
                    "url": url,
                    "at": at,
                    "status_code": result.status_code,
                    "error": result.error,
                    "duration_ms": result.duration_ms,
                    "delivered": result.delivered,
                },
            )

    def list_callbacks(self, job_id: str) -> list[dict[str, Any]]:
        c = t.callback_attempts.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    c.event_id, c.url, c.at, c.status_code, c.error, c.duration_ms, c.delivered
                )
                .where(c.job_id == job_id)
                .order_by(c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def outbox_next_at(self, webhooks: bool = False) -> dt.datetime | None:
        """When the earliest queue message (or webhook delivery) is due, for its task's timer."""
        o = t.outbox.c
        kind = o.topic == WEBHOOK_TOPIC if webhooks else o.topic != WEBHOOK_TOPIC
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.min(o.available_at)).where(kind)).scalar()
        return None if value is None else value.replace(tzinfo=dt.UTC)

    def outbox_available_at(self, job_id: str) -> dt.datetime | None:
        o = t.outbox.c
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(o.available_at)).where(o.job_id == job_id)
            ).scalar()
        return None if value is None else value.replace(tzinfo=dt.UTC)

    def outbox_depth(self, now: dt.datetime) -> OutboxDepth:
        o = t.outbox.c
        webhook, due = o.topic == WEBHOOK_TOPIC, o.available_at <= now
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(webhook, due, sa.func.count()).group_by(webhook, due))
            counts = {(bool(w), bool(d)): int(n) for w, d, n in rows}
        return OutboxDepth(
            messages_due=counts.get((False, True), 0),
            messages_waiting=counts.get((False, False), 0),
            webhooks_due=counts.get((True, True), 0),
            webhooks_waiting=counts.get((True, False), 0),
        )

    def outbox_size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar_one())

    # -- clusters --------------------------------------------------------------------------------

    @staticmethod
    def _cluster(row: sa.Row[Any]) -> ClusterRecord:
        m = dict(row._mapping)
        m["labels"] = msgspec.json.decode(m["labels"])
        if m["resources"] is not None:
            m["resources"] = msgspec.json.decode(m["resources"], type=ClusterResources)
        return ClusterRecord(**m)

    def upsert_cluster(self, cluster: ClusterRecord) -> None:
        """Record a heartbeat; a cordon set through the API is kept."""
        values = msgspec.to_builtins(cluster, builtin_types=(dt.datetime,))
        values["labels"] = _json.encode(cluster.labels).decode()
        # One JSON column: placement reads it with the rest of the row, and a figure added
        # later needs no migration.
        resources = cluster.resources
        values["resources"] = None if resources is None else _json.encode(resources).decode()
        del values["state"]
        with self._tx() as conn:
            existing = conn.execute(
                sa.select(t.clusters.c.cordoned)
                .where(t.clusters.c.id == cluster.id)
                .with_for_update()
            ).first()
            if existing is None:
                conn.execute(t.clusters.insert(), values)
            else:
                del values["cordoned"]
                conn.execute(
                    t.clusters.update().where(t.clusters.c.id == cluster.id).values(values)
                )

    def get_cluster(self, cluster_id: str) -> ClusterRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.clusters).where(t.clusters.c.id == cluster_id)).first()
        return self._cluster(row) if row else None

    def list_clusters(self) -> list[ClusterRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.clusters).order_by(t.clusters.c.id)).all()
        return [self._cluster(r) for r in rows]

    def set_cordoned(self, cluster_id: str, cordoned: bool) -> ClusterRecord | None:
        with self._tx() as conn:
            conn.execute(
                t.clusters.update().where(t.clusters.c.id == cluster_id).values(cordoned=cordoned)
            )
        return self.get_cluster(cluster_id)

    # -- queues ----------------------------------------------------------------------------------

    @staticmethod
    def _queue(row: sa.Row[Any]) -> QueueRecord:
        m = row._mapping
        return QueueRecord(
            name=m["name"],
            definition=msgspec.json.decode(m["definition"], type=QueueDefinition),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    def list_queues(self) -> list[QueueRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.queues).order_by(t.queues.c.name)).all()
        return [self._queue(r) for r in rows]

    def get_queue(self, name: str) -> QueueRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.queues).where(t.queues.c.name == name)).first()
        return None if row is None else self._queue(row)

    def put_queue(self, queue: QueueRecord) -> tuple[QueueRecord, bool]:
        q = t.queues
        definition = _json.encode(queue.definition).decode()

        def write(conn: sa.Connection) -> tuple[QueueRecord, bool]:
            # Two puts of a new name at once: on MySQL one is a deadlock victim, written again.
            row = conn.execute(sa.select(q).where(q.c.name == queue.name).with_for_update()).first()
            if row is None:
                conn.execute(
                    q.insert().values(
                        name=queue.name,
                        definition=definition,
                        created_at=queue.created_at,
                        updated_at=queue.updated_at,
                    )
                )
                return queue, True
            conn.execute(
                q.update()
                .where(q.c.name == queue.name)
                .values(definition=definition, updated_at=queue.updated_at)
            )
            return msgspec.structs.replace(queue, created_at=row._mapping["created_at"]), False

        return self._write_retried(write)

    def delete_queue(self, name: str) -> bool:
        q, j = t.queues, t.jobs
        final = [str(s) for s in JobState if s.is_final]
        with self._tx() as conn:
            # The row locked first: a concurrent put or delete of the queue waits for this one.
            row = conn.execute(
                sa.select(q.c.name).where(q.c.name == name).with_for_update()
            ).first()
            if row is None:
                return False
            unfinished = conn.execute(
                sa.select(sa.func.count())
                .select_from(j)
                .where(j.c.queue == name, j.c.state.not_in(final))
            ).scalar_one()
            crons = self._crons_in_queue(conn, name)
            if unfinished or crons:
                raise QueueInUse(name, unfinished, crons)
            conn.execute(q.delete().where(q.c.name == name))
        return True

    @staticmethod
    def _crons_in_queue(conn: sa.Connection, name: str) -> int:
        """Cron jobs (not deleted) whose runs go into queue `name`. The queue is inside the spec:
        a LIKE narrows the rows (a queue name has no LIKE wildcard), the decoded spec decides."""
        c = t.cronjobs.c
        specs = conn.execute(
            sa.select(c.spec).where(c.deleted.is_(False), c.spec.like(f'%"queue":"{name}"%'))
        ).scalars()
        return sum(msgspec.json.decode(spec, type=CronSpec).queue == name for spec in specs)

    # -- logs ------------------------------------------------------------------------------------

    def append_log(
        self,
        job_id: str,
        attempt: int,
        pod: str,
        container: str,
        seq: int,
        data: bytes,
        truncated: bool,
    ) -> bool:
        row = {"data": zlib.compress(data), "size": len(data), "truncated": truncated}
        key = {"job_id": job_id, "attempt": attempt, "pod": pod, "container": container, "seq": seq}
        try:
            with self._tx() as conn:
                conn.execute(
                    t.job_logs.insert(), {**key, **row, "created_at": dt.datetime.now(dt.UTC)}
                )
            return True
        except sa.exc.IntegrityError:
            pass
        # Stored already: keep it, unless this is a longer version of a chunk sent early; and
        # mark it if the log is now known to be cut there (the mark stays once set).
        c = t.job_logs.c
        this = [c[k] == v for k, v in key.items()]
        longer = {"data": row["data"], "size": row["size"]}
        if truncated:
            longer["truncated"] = True
        with self._tx() as conn:
            updated = conn.execute(
                t.job_logs.update().where(*this, c.size < len(data)).values(longer)
            ).rowcount
            if truncated and not updated:
                updated = conn.execute(
                    t.job_logs.update().where(*this, c.truncated.is_(False)).values(truncated=True)
                ).rowcount
        return bool(updated)

    def read_logs(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        pod: str | None = None,
        container: str | None = None,
        after: dict[tuple[str, str], int] | None = None,
    ) -> list[tuple[str, str, int, bytes]]:
        c = t.job_logs.c
        query = sa.select(c.pod, c.container, c.seq, c.data).where(c.job_id == job_id)
        for column, value in ((c.attempt, attempt), (c.pod, pod), (c.container, container)):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.attempt, c.pod, c.container, c.seq)).all()
        after = after or {}
        return [
            (p, ctr, seq, zlib.decompress(data))
            for p, ctr, seq, data in rows
            if seq > after.get((p, ctr), -1)
        ]

    def truncated_logs(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        """The (pod, container)s of an attempt whose log was cut at the cap."""
        c = t.job_logs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.pod, c.container).where(
                    c.job_id == job_id, c.attempt == attempt, c.truncated.is_(True)
                )
            ).all()
        return {(pod, container) for pod, container in rows}

    def delete_logs_older_than(self, before: dt.datetime, batch: int = 1000) -> int:
        """Retention of the `db` log sink: remove chunks first stored before `before`, a batch
        at a time so no transaction grows large; returns how many."""
        c = t.job_logs.c
        pk = list(t.job_logs.primary_key.columns)
        removed = 0
        while True:
            with self._tx() as conn:
                rows = conn.execute(sa.select(*pk).where(c.created_at < before).limit(batch)).all()
                if not rows:
                    return removed
                conn.execute(
                    t.job_logs.delete().where(sa.tuple_(*pk).in_([tuple(r) for r in rows]))
                )
                removed += len(rows)

    # -- cron ------------------------------------------------------------------------------------

    def create_cron(self, cron: CronRecord, outbox: Sequence[tuple[str, bytes]] = ()) -> CronRecord:
        with self._tx() as conn:
            conn.execute(t.cronjobs.insert(), self._cron_row(cron))
            self._insert_outbox(conn, outbox, cron.id, cron.created_at)
        return cron

    @staticmethod
    def _cron_row(cron: CronRecord) -> dict[str, Any]:
        values: dict[str, Any] = msgspec.to_builtins(cron, builtin_types=(dt.datetime,))
        values["spec"] = _json.encode(cron.spec).decode()
        values["name"], values["namespace"] = cron.spec.name, cron.spec.namespace
        return values

    @staticmethod
    def _cron(row: sa.Row[Any]) -> CronRecord:
        m = dict(row._mapping)
        m["spec"] = msgspec.json.decode(m.pop("spec"), type=CronSpec)
        del m["name"], m["namespace"]
        return CronRecord(**m)

    def get_cron(self, cron_id: str) -> CronRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.cronjobs).where(t.cronjobs.c.id == cron_id)).first()
        return self._cron(row) if row else None

    def list_crons(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        namespaces: list[str] | None = None,
        name: str | None = None,
    ) -> tuple[list[CronRecord], str | None]:
        """Cron jobs not deleted, newest first, keyset-paginated like jobs."""
        c = t.cronjobs.c
        query = sa.select(t.cronjobs).where(c.deleted.is_(False))
        if namespaces is not None:
            query = query.where(c.namespace.in_(namespaces))
        if name is not None:
            query = query.where(c.name == name)
        return self._page(query, t.cronjobs, limit, cursor, self._cron)

    def update_cron(
        self,
        cron_id: str,
        change: Callable[[CronRecord], CronRecord | None],
        outbox: Callable[[CronRecord], Sequence[tuple[str, bytes]]] = lambda cron: (),
    ) -> tuple[CronRecord, CronRecord] | None:
        """Like update_job: read locked, change, write with outbox messages, in one transaction."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.cronjobs).where(t.cronjobs.c.id == cron_id).with_for_update()
            ).first()
            if row is None:
                return None
            before = self._cron(row)
            after = change(before)
            if after is None:
                return None
            values = self._cron_row(after)
            del values["id"]
            conn.execute(t.cronjobs.update().where(t.cronjobs.c.id == cron_id).values(values))
            self._insert_outbox(conn, outbox(after), cron_id, after.updated_at)
        return before, after

    def pending_crons(self, limit: int) -> list[CronRecord]:
        """Native cron jobs whose CronJob object is still to be sent to a cluster."""
        c = t.cronjobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.cronjobs)
                .where(c.deleted.is_(False), c.state == "pending")
                .order_by(c.created_at)
                .limit(limit)
            ).all()
        return [self._cron(r) for r in rows]

    def due_crons(self, now: dt.datetime, limit: int) -> list[CronRecord]:
        """Managed cron jobs whose next fire time has come."""
        c = t.cronjobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.cronjobs)
                .where(c.deleted.is_(False), c.next_run_at <= now)
                .order_by(c.next_run_at)
                .limit(limit)
            ).all()
        return [self._cron(r) for r in rows]

    def next_cron_at(self) -> dt.datetime | None:
        c = t.cronjobs.c
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.min(c.next_run_at)).where(c.deleted.is_(False))
            ).scalar()
        return None if value is None else value.replace(tzinfo=dt.UTC)

    def fire_cron(
        self,
        cron_id: str,
        fire_at: dt.datetime,
        next_run_at: dt.datetime | None,
        run: JobRecord | None,
    ) -> bool:
        """Record one tick of a managed cron job, with its run, exactly once (across replicas):
        False when that tick was fired already. `run` None: the tick is skipped."""
        try:
            with self._tx() as conn:
                seq = _take_seqs(conn, 1) if run is not None else 0  # the seqs first, always
                conn.execute(
                    t.cron_ticks.insert(),
                    {"cron_id": cron_id, "fire_at": fire_at, "job_id": run.id if run else ""},
                )
                conn.execute(
                    t.cronjobs.update()
                    .where(t.cronjobs.c.id == cron_id)
                    .values(
                        next_run_at=next_run_at,
                        last_run_at=fire_at if run else t.cronjobs.c.last_run_at,
                    )
                )
                if run is not None:
                    conn.execute(
                        t.jobs.insert(), {**self._job_row(run), "seq": seq, "added_seq": seq}
                    )
                    conn.execute(
                        t.job_events.insert(),
                        {
                            "job_id": run.id,
                            "attempt": 1,
                            "state": str(run.state),
                            "at": run.created_at,
                            "reason": "CronTick",
                        },
                    )
        except sa.exc.IntegrityError:
            return False
        return True

    def cron_run_counts(self, cron_id: str) -> tuple[int, int, int]:
        """(runs in all, runs succeeded, runs not finished) of a cron job."""
        j = t.jobs.c
        unfinished = [s.value for s in JobState if not s.is_final]
        with self.engine.connect() as conn:
            total, succeeded, active = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(sa.case((j.state == "succeeded", 1), else_=0)), 0),
                    sa.func.coalesce(
                        sa.func.sum(sa.case((j.state.in_(unfinished), 1), else_=0)), 0
                    ),
                ).where(j.cron_id == cron_id)
            ).one()
        return int(total), int(succeeded), int(active)

    # -- retention -------------------------------------------------------------------------------

    def delete_older_than(self, before: dt.datetime, batch: int = 1000) -> dict[str, int]:
        """Remove finished jobs (with their labels and events) and events older than `before`,
        a batch at a time so no transaction grows large. Logs are the log sink's: retention
        removes them through it (`LogSink.delete_older_than`)."""
        removed = {"jobs": 0, "job_events": 0}
        j, final = t.jobs.c, [s.value for s in JobState if s.is_final]
        while True:
            with self._tx() as conn:
                # The seqs first: no job changes meanwhile (a rerun makes one unfinished).
                seq = _take_seqs(conn, batch)
                gone = conn.execute(
                    sa.select(t.jobs).where(j.state.in_(final), j.finished_at < before).limit(batch)
                ).all()
                ids = [row._mapping["id"] for row in gone]
                _give_back_seqs(conn, seq + len(ids) - 1)
                if not ids:
                    break
                at = dt.datetime.now(dt.UTC)
                conn.execute(
                    t.job_tombstones.insert(),
                    [
                        {
                            "seq": seq + n,
                            "job_id": row._mapping["id"],
                            "job": _json.encode(_as_it_was(row)).decode(),
                            "deleted_at": at,
                        }
                        for n, row in enumerate(gone)
                    ],
                )
                for table in (t.job_labels, t.job_events, t.job_manifests):
                    conn.execute(table.delete().where(table.c.job_id.in_(ids)))
                conn.execute(t.jobs.delete().where(j.id.in_(ids)))
                removed["jobs"] += len(ids)
        self._forget_tombstones(before)
        e = t.job_events
        while True:
            with self._tx() as conn:
                rows = conn.execute(
                    sa.select(*e.primary_key.columns).where(e.c.at < before).limit(batch)
                ).all()
                if not rows:
                    break
                pk = list(e.primary_key.columns)
                conn.execute(e.delete().where(sa.tuple_(*pk).in_([tuple(r) for r in rows])))
                removed["job_events"] += len(rows)
        return removed

    def _forget_tombstones(self, before: dt.datetime) -> None:
        """Deletions older than `before` are forgotten: a watch cursor from before the newest of
        them can no longer resume (410), as it could miss a DELETED."""
        stones = t.job_tombstones
        with self._tx() as conn:
            last = conn.execute(
                sa.select(sa.func.max(stones.c.seq)).where(stones.c.deleted_at < before)
            ).scalar()
            if last is None:
                return
            conn.execute(stones.delete().where(stones.c.seq <= last))
            kept_from = t.sequences.c
            if conn.execute(
                sa.select(kept_from.value).where(kept_from.name == "jobs_kept_from")
            ).first():
                conn.execute(
                    t.sequences.update()
                    .where(kept_from.name == "jobs_kept_from", kept_from.value < last)
                    .values(value=last)
                )
            else:  # a database emptied by hand (tests)
                conn.execute(t.sequences.insert(), {"name": "jobs_kept_from", "value": last})

    # -- leader lease ----------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float, now: dt.datetime) -> int | None:
        expires = now + dt.timedelta(seconds=ttl_s)
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.leases).where(t.leases.c.name == name).with_for_update()
            ).first()
            if row is None:
                try:
                    conn.execute(
                        t.leases.insert(),
                        {"name": name, "holder": holder, "expires_at": expires, "token": 1},
                    )
                except sa.exc.IntegrityError:
                    return None  # another replica created it first
                return 1
            m = row._mapping
            if m["holder"] == holder and m["expires_at"] is not None and m["expires_at"] > now:
                conn.execute(
                    t.leases.update().where(t.leases.c.name == name).values(expires_at=expires)
                )
                return int(m["token"])
            if m["holder"] is None or m["expires_at"] is None or m["expires_at"] <= now:
                token = int(m["token"]) + 1
                conn.execute(
                    t.leases.update()
                    .where(t.leases.c.name == name)
                    .values(holder=holder, expires_at=expires, token=token)
                )
                return token
            return None

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(
                t.leases.update()
                .where(t.leases.c.name == name, t.leases.c.holder == holder)
                .values(holder=None, expires_at=None)
            )
