"""Job requests (issue 18): each job's total request (`request_cpu_millis`,
`request_memory_bytes`: its pod's request times parallelism, `kjs.core.requests.job_requests`),
summed per (state, cluster, queue) from one index that replaces (state, cluster_id) — which it still
serves, as its prefix — and placement keys that carry the queue and namespace
(`queue|namespace|route`, `kjs.core.routing.placement_key_of`).

Unfinished jobs get both here, computed from their stored spec a page at a time; a job without
requests counts as the built-in default (100m CPU, 128Mi: the migration does not read the
configuration). Finished jobs keep 0: nothing counts them. With `kjs migrate --sql` (no rows to
read) they keep 0 and their old key, which placement reads as no key (those jobs are tried one
by one, as before).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from alembic import context, op

from kjs.core.models import JobSpec
from kjs.core.requests import job_requests
from kjs.core.routing import PLACEMENT_KEY_MAX, placement_key

revision = "0012"
down_revision = "0011"

OLD_INDEX = "ix_jobs_state_cluster_id"
INDEX = "ix_jobs_state_cluster_queue_requests"
FINAL_STATES = ("succeeded", "failed", "cancelled")  # as of this revision
PAGE = 1000


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("request_cpu_millis", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "jobs",
        sa.Column("request_memory_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.drop_index(OLD_INDEX, table_name="jobs")
    op.create_index(
        INDEX,
        "jobs",
        ["state", "cluster_id", "queue", "request_cpu_millis", "request_memory_bytes"],
        unique=False,
    )
    if not context.is_offline_mode():
        _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Requests and key of every unfinished job, from its spec, a page at a time (by id)."""
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("state", sa.String()),
        sa.column("spec", sa.Text()),
        sa.column("placement_key", sa.String()),
        sa.column("request_cpu_millis", sa.BigInteger()),
        sa.column("request_memory_bytes", sa.BigInteger()),
    )
    last = ""
    while True:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.spec)
            .where(jobs.c.state.not_in(FINAL_STATES), jobs.c.id > last)
            .order_by(jobs.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        values = [_values_of(job_id, spec) for job_id, spec in rows]
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("job_id"))
            .values(
                placement_key=sa.bindparam("key"),
                request_cpu_millis=sa.bindparam("cpu"),
                request_memory_bytes=sa.bindparam("memory"),
            ),
            values,
        )
        last = rows[-1][0]


def _values_of(job_id: str, spec: str) -> dict[str, object]:
    try:
        job_spec = msgspec.json.decode(spec, type=JobSpec)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # Unreadable: no key (placement tries it on its own, and fails it there), no request.
        return {"job_id": job_id, "key": None, "cpu": 0, "memory": 0}
    requests = job_requests(job_spec)
    return {
        "job_id": job_id,
        "key": _key_of(job_spec),
        "cpu": requests.cpu_millis,
        "memory": requests.memory_bytes,
    }


def _key_of(spec: JobSpec) -> str | None:
    """The key as of this revision, `queue|namespace|route` (0014 adds the priority)."""
    route = placement_key(spec.cluster, spec.cluster_selector)
    key = None if route is None else f"{spec.queue}|{spec.namespace}|{route}"
    return key if key is not None and len(key) <= PLACEMENT_KEY_MAX else None


def downgrade() -> None:
    op.drop_index(INDEX, table_name="jobs")
    op.create_index(OLD_INDEX, "jobs", ["state", "cluster_id"], unique=False)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request_memory_bytes")
        batch.drop_column("request_cpu_millis")
