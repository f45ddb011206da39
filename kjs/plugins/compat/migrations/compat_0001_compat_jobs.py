"""The compat plugin's branch begins: the table `compat_jobs`.

A database that kjs's own revision 0003 brought to this schema (before the table was the
plugin's) keeps its table and rows: it is adopted, not made again. Revision 0003 is kept in
kjs's history as a revision that does nothing.

Revision ID: compat_0001
Revises: (the base of the branch `compat`)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

# UTC, naive; microseconds on MySQL too.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "compat_0001"
down_revision = None
branch_labels = ("compat",)
depends_on = None


def upgrade() -> None:
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("compat_jobs"):
        return  # made by kjs's revision 0003: adopted as it is
    op.create_table(
        "compat_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("live_name", sa.String(length=255), nullable=True),
        sa.Column("job_exec_time", sa.BigInteger(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("schedule", sa.String(length=255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("imported_times", sa.Integer(), nullable=True),
        sa.Column("imported_successes", sa.Integer(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compat_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_compat_jobs_job_id")),
        sa.UniqueConstraint("kind", "live_name", name=op.f("uq_compat_jobs_kind_live_name")),
    )


def downgrade() -> None:
    op.drop_table("compat_jobs")
