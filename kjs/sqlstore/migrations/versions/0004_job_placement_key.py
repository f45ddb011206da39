"""Jobs keep their placement key (their route as one string), indexed for due-job selection.

Placement reads the due jobs route by route and skips a route whose clusters are all full
without loading its jobs (see kjs.scheduler.placement). Existing unfinished jobs get their key here,
computed from their stored spec; with `kjs migrate --sql` (no rows to read) they keep NULL,
which placement handles by trying those jobs one by one, as before.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import context, op

from kjs.core.routing import placement_key

revision = "0004"
down_revision = "0003"

INDEX = "ix_jobs_state_placement_key_created_at_run_at"
FINAL_STATES = ("succeeded", "failed", "cancelled")  # as of this revision
PAGE = 1000


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placement_key", sa.String(length=512), nullable=True))
        batch_op.create_index(
            batch_op.f(INDEX), ["state", "placement_key", "created_at", "run_at"], unique=False
        )
    if not context.is_offline_mode():
        _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """The key of every unfinished job, from its spec, a page at a time (by id)."""
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
        keys = [{"job_id": job_id, "key": _key_of(spec)} for job_id, spec in rows]
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("job_id"))
            .values(placement_key=sa.bindparam("key")),
            keys,
        )
        last = rows[-1][0]


def _key_of(spec: str) -> str | None:
    # The spec as plain data: only the two routing fields matter, whatever else it holds.
    try:
        data: Any = msgspec.json.decode(spec)
        return placement_key(data.get("cluster"), data.get("cluster_selector") or {})
    except (msgspec.DecodeError, msgspec.EncodeError, AttributeError, TypeError):
        return None  # unreadable: placement tries the job on its own (and fails it there)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(INDEX))
        batch_op.drop_column("placement_key")
