"""Idempotency keys are scoped: one job per (principal, namespace, key), with its request.

Before, `jobs.idempotency_key` was unique across everyone, so one team's key could return
another team's job. Now `idempotency_scope` (SHA-256 of principal, namespace and key) is the
unique one, and `idempotency_request` (SHA-256 of the canonical request) lets a replay with a
different body be refused (409). `idempotency_key` stays, as sent, no longer unique.

Existing jobs keep their key but get no scope (who sent it was never stored): a key used before
this revision starts a new job when it is sent again.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"

OLD_UNIQUE = "uq_jobs_idempotency_key"
NEW_UNIQUE = "uq_jobs_idempotency_scope"
# UTC, naive; microseconds on MySQL too.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _jobs_as_of_0004() -> sa.Table:
    """The table this revision starts from: SQLite's batch mode copies it into a new one, and
    with `kjs migrate --sql` there is no database to read it from."""
    return sa.Table(
        "jobs",
        sa.MetaData(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.String(length=40), nullable=True),
        sa.Column("k8s_name", sa.String(length=63), nullable=False),
        sa.Column("spec", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("run_at", DATETIME, nullable=True),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.Column("dispatched_at", DATETIME, nullable=True),
        sa.Column("started_at", DATETIME, nullable=True),
        sa.Column("finished_at", DATETIME, nullable=True),
        sa.Column("exit_codes", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("cron_id", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("placement_key", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("idempotency_key", name=OLD_UNIQUE),
        sa.Index("ix_jobs_cluster_id_created_at_id", "cluster_id", "created_at", "id"),
        sa.Index("ix_jobs_created_at_id", "created_at", "id"),
        sa.Index("ix_jobs_cron_id_created_at_id", "cron_id", "created_at", "id"),
        sa.Index("ix_jobs_name_created_at_id", "name", "created_at", "id"),
        sa.Index("ix_jobs_state_created_at_id", "state", "created_at", "id"),
        sa.Index("ix_jobs_state_run_at", "state", "run_at"),
        sa.Index(
            "ix_jobs_state_placement_key_created_at_run_at",
            "state",
            "placement_key",
            "created_at",
            "run_at",
        ),
    )


def upgrade() -> None:
    offline = {"copy_from": _jobs_as_of_0004()} if context.is_offline_mode() else {}
    with op.batch_alter_table("jobs", schema=None, **offline) as batch_op:  # type: ignore[arg-type]
        batch_op.drop_constraint(OLD_UNIQUE, type_="unique")
        batch_op.add_column(sa.Column("idempotency_scope", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("idempotency_request", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f(NEW_UNIQUE), ["idempotency_scope"])


def downgrade() -> None:
    # Keys that are no longer unique across everyone keep only their oldest job's.
    jobs = sa.table("jobs", sa.column("id", sa.String()), sa.column("idempotency_key", sa.String()))
    if not op.get_context().as_sql:
        conn = op.get_bind()
        seen: set[str] = set()
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.idempotency_key)
            .where(jobs.c.idempotency_key.is_not(None))
            .order_by(sa.text("created_at"), jobs.c.id)
        ).all()
        for job_id, key in rows:
            if key in seen:
                conn.execute(jobs.update().where(jobs.c.id == job_id).values(idempotency_key=None))
            seen.add(key)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(NEW_UNIQUE), type_="unique")
        batch_op.drop_column("idempotency_request")
        batch_op.drop_column("idempotency_scope")
        batch_op.create_unique_constraint(batch_op.f(OLD_UNIQUE), ["idempotency_key"])
