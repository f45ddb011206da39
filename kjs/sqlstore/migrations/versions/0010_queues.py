"""Queues (issue 18): each job's queue (`jobs.queue`, `default` for the jobs there are), indexed
with the state to count a queue's unfinished jobs from the index alone (a queue in use is not
deleted), and with creation order to count the due pending jobs ahead of one (its
`queue_position`) from it alone too; and the queues defined over the API (`queues`).

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010"
down_revision = "0008"

INDEX = "ix_jobs_queue_state_created_at_id_run_at"
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("queue", sa.String(length=63), nullable=False, server_default="default")
    )
    op.create_index(
        op.f(INDEX), "jobs", ["queue", "state", "created_at", "id", "run_at"], unique=False
    )
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queues")),
    )


def downgrade() -> None:
    op.drop_table("queues")
    op.drop_index(op.f(INDEX), table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("queue")
