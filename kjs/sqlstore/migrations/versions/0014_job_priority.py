"""Job priorities (issue 19): each job's priority (`jobs.priority`: its priority class's value,
resolved when it is written; 0 for the jobs there are, which have no class), placement keys that
carry it (`queue|namespace|priority|route`, `kjs.core.routing.placement_key_of`), and the queue
index in placement's order within a queue — (queue, state, priority, created_at, id, run_at)
replaces (queue, state, created_at, id, run_at) — so that a job's `queue_position` still counts
ranges of one index.

Unfinished jobs get the new key here, from their stored spec, a page at a time. With `kjs
migrate --sql` (no rows to read) they keep their old key, which placement reads as no key (those
jobs are tried one by one) until they are written again.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from alembic import context, op

from kjs.core.models import JobSpec
from kjs.core.routing import placement_key_of

revision = "0014"
down_revision = "0013"

OLD_INDEX = "ix_jobs_queue_state_created_at_id_run_at"
INDEX = "ix_jobs_queue_state_priority_created_at_id_run_at"
FINAL_STATES = ("succeeded", "failed", "cancelled")  # as of this revision
PAGE = 1000


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("priority", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.drop_index(OLD_INDEX, table_name="jobs")
    op.create_index(
        INDEX, "jobs", ["queue", "state", "priority", "created_at", "id", "run_at"], unique=False
    )
    if not context.is_offline_mode():
        _recompute_keys(op.get_bind())


def _recompute_keys(conn: sa.Connection) -> None:
    """The key of every unfinished job, from its spec, with priority 0, a page at a time."""
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("state", sa.String()),
        sa.column("spec", sa.Text()),
        sa.column("placement_key", sa.String()),
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
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("job_id"))
            .values(placement_key=sa.bindparam("key")),
            [{"job_id": job_id, "key": _key_of(spec)} for job_id, spec in rows],
        )
        last = rows[-1][0]


def _key_of(spec: str) -> str | None:
    try:
        job_spec = msgspec.json.decode(spec, type=JobSpec)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # unreadable: no key (placement tries it on its own, and fails it there)
    return placement_key_of(job_spec, 0)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="jobs")
    op.create_index(
        OLD_INDEX, "jobs", ["queue", "state", "created_at", "id", "run_at"], unique=False
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
