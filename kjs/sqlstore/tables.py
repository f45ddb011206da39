"""Table definitions shared by the SQLite and MySQL stores (and checked against the migrations)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive UTC with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def LongText() -> sa.types.TypeEngine[str]:
    """Text that holds a whole job spec (up to the 1 MiB body limit) on MySQL too."""
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def Blob() -> sa.types.TypeEngine[bytes]:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("namespace", sa.String(63), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("cluster_id", sa.String(40)),
    sa.Column("k8s_name", sa.String(63), nullable=False),
    sa.Column("spec", LongText(), nullable=False),
    sa.Column("run_at", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("dispatched_at", UTCDateTime()),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("exit_codes", sa.Text, nullable=False),
    sa.Column("reason", sa.String(255)),
    sa.Column("message", sa.Text),
    sa.Column("cron_id", sa.String(36)),
    # The client's Idempotency-Key as sent (not unique: keys are scoped, see below).
    sa.Column("idempotency_key", sa.String(255)),
    # SHA-256 of (principal, namespace, key): a key names one job per principal and namespace.
    sa.Column("idempotency_scope", sa.String(64), unique=True),
    # SHA-256 of the canonical request sent with the key: a replay must match it.
    sa.Column("idempotency_request", sa.String(64)),
    # The job's route (`cluster`, `cluster_selector`) as one canonical string (see
    # kjs.core.routing.placement_key): placement skips the jobs of a route whose clusters are
    # all full without reading them. NULL: a route too long for it, tried job by job.
    sa.Column("placement_key", sa.String(512)),
    # The watch's order (kjs.sqlstore.store: `sequences`): the seq of the job's last change, and
    # of its creation (a watcher that starts after it gets ADDED, else MODIFIED).
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("added_seq", sa.BigInteger, nullable=False, server_default="0"),
    # The job's queue (its spec's `queue`, kept here to be counted and filtered by).
    sa.Column("queue", sa.String(63), nullable=False, server_default="default"),
    # Its total request (kjs.core.requests.job_requests of its spec), summed per queue and
    # cluster for limits and usage.
    sa.Column("request_cpu_millis", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("request_memory_bytes", sa.BigInteger, nullable=False, server_default="0"),
    # Its priority class's value when it was written (kjs.core.priorities): placement's order
    # within a queue, highest first.
    sa.Column("priority", sa.BigInteger, nullable=False, server_default="0"),
    # Its gang's id (`JobSpec.gang`; NULL: none): a batch may not reuse one held by unfinished
    # jobs of the namespace (`gang_holder`). Placement finds a gang by its placement key.
    sa.Column("gang", sa.String(63)),
    sa.Index(None, "seq"),
    # Keyset pagination: newest first, by (created_at, id), optionally within one filter.
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "state", "created_at", "id"),
    sa.Index(None, "cluster_id", "created_at", "id"),
    sa.Index(None, "name", "created_at", "id"),
    sa.Index(None, "cron_id", "created_at", "id"),
    # The jobs list's other orders, alone or within one namespace (bench/ui_api.py).
    sa.Index(None, "updated_at", "id"),
    sa.Index(None, "namespace", "created_at", "id"),
    sa.Index(None, "namespace", "state", "created_at", "id"),  # the UI's usual pair
    sa.Index(None, "namespace", "updated_at", "id"),
    sa.Index(None, "namespace", "name", "created_at", "id"),
    sa.Index(None, "state", "run_at"),  # due pending jobs
    # Jobs counted by state and cluster (placement's load, the leader's gauges), and their
    # requests summed per (state, cluster, queue) (`queue_usage`), from this alone.
    sa.Index(
        "ix_jobs_state_cluster_queue_requests",
        "state",
        "cluster_id",
        "queue",
        "request_cpu_millis",
        "request_memory_bytes",
    ),
    # Due pending jobs per placement key in placement's order (created_at, id); run_at last so
    # that counting the due jobs of each key reads this index alone.
    sa.Index(None, "state", "placement_key", "created_at", "id", "run_at"),
    # A queue's unfinished jobs (a queue in use is not deleted), and its due pending jobs in
    # placement's order (priority descending: ranges of it), counted from here alone
    # (`queue_positions`).
    sa.Index(None, "queue", "state", "priority", "created_at", "id", "run_at"),
    sa.Index(None, "namespace", "gang", "state"),
)

# The Kubernetes object of each attempt as it was dispatched (`GET /jobs/{id}/manifest`): the
# JSON the dispatch message carried, written in the placement transaction.
job_manifests = sa.Table(
    "job_manifests",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("manifest", Blob(), nullable=False),
)

job_labels = sa.Table(
    "job_labels",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(317), primary_key=True),
    sa.Column("value", sa.String(63), nullable=False),
    sa.Index(None, "key", "value", "job_id"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(255)),
    sa.Column("message", sa.Text),
    sa.Column("pod", sa.String(253)),
    sa.Column("exit_code", sa.Integer),
    sa.Column("cluster_id", sa.String(40)),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "job_id", "id"),
    sa.Index(None, "at"),
)

job_logs = sa.Table(
    "job_logs",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("pod", sa.String(253), primary_key=True),
    sa.Column("container", sa.String(63), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", Blob(), nullable=False),  # zlib-compressed
    sa.Column("size", sa.Integer, nullable=False),  # uncompressed bytes, for the cap
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "created_at"),
)

clusters = sa.Table(
    "clusters",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("running", sa.Integer, nullable=False),
    sa.Column("pending", sa.Integer, nullable=False),
    sa.Column("last_heartbeat", UTCDateTime()),
    sa.Column("cordoned", sa.Boolean, nullable=False),
    # The agent's last resource figures as JSON (`records.ClusterResources`); NULL: none.
    sa.Column("resources", sa.Text),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("body", Blob(), nullable=False),
    # Set for a dispatch: it stays until the agent acknowledges the job.
    sa.Column("job_id", sa.String(36)),
    sa.Column("available_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Index(None, "available_at"),
    sa.Index(None, "job_id"),
)

cronjobs = sa.Table(
    "cronjobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("namespace", sa.String(63), nullable=False),
    sa.Column("spec", LongText(), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("cluster_id", sa.String(40)),
    sa.Column("k8s_name", sa.String(63), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("next_run_at", UTCDateTime()),
    sa.Column("last_run_at", UTCDateTime()),
    sa.Column("runs_total", sa.Integer, nullable=False),
    sa.Column("runs_succeeded", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "next_run_at"),
)

cron_ticks = sa.Table(
    "cron_ticks",
    metadata,
    # One row per fired tick: the primary key makes "one run per tick" hold across replicas.
    sa.Column("cron_id", sa.String(36), primary_key=True),
    sa.Column("fire_at", UTCDateTime(), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
)

callback_attempts = sa.Table(
    "callback_attempts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("delivered", sa.Boolean, nullable=False),
    sa.Index(None, "job_id", "id"),
)

# Queues defined over the API (`PUT /api/v1/queues/{name}`); those of the configuration are not
# stored. `definition`: the QueueDefinition's JSON.
queues = sa.Table(
    "queues",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255)),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("token", sa.BigInteger, nullable=False),  # fencing: grows with each new holder
)


# Counters kept in rows, so that taking one locks it until commit. `jobs`: the seq of the newest
# job change; every transaction that changes jobs takes its seqs here first, so on MySQL too
# transactions that change jobs commit in seq order and a watcher never passes a seq whose
# transaction is still open. `jobs_kept_from`: the oldest seq a watch can resume from (deletions
# before it are forgotten).
sequences = sa.Table(
    "sequences",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# Jobs deleted by retention, for watchers (DELETED), kept as long as the retention keeps jobs.
job_tombstones = sa.Table(
    "job_tombstones",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("job", LongText(), nullable=False),  # the job as it was (a JobRecord's JSON)
    sa.Column("deleted_at", UTCDateTime(), nullable=False),
    sa.Index(None, "deleted_at"),
)
