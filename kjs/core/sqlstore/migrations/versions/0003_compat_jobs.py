"""Jobs created through the original system's routes (the compatibility layer).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, naive; microseconds on MySQL too.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
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
