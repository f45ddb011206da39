"""Job changes are numbered for watchers: `jobs.seq` (last change) and `jobs.added_seq`, the
counter `sequences`, and `job_tombstones` for jobs that retention deletes.

Existing jobs get seq 0: a watch starts after the list it follows, and they are in it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"

DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column(
        "jobs", sa.Column("added_seq", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_index(op.f("ix_jobs_seq"), "jobs", ["seq"], unique=False)
    sequences = op.create_table(
        "sequences",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sequences")),
    )
    op.bulk_insert(
        sequences, [{"name": "jobs", "value": 0}, {"name": "jobs_kept_from", "value": 0}]
    )
    op.create_table(
        "job_tombstones",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("job", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("deleted_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_job_tombstones")),
    )
    op.create_index(
        op.f("ix_job_tombstones_deleted_at"), "job_tombstones", ["deleted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_job_tombstones_deleted_at"), table_name="job_tombstones")
    op.drop_table("job_tombstones")
    op.drop_table("sequences")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_seq"))
        batch_op.drop_column("added_seq")
        batch_op.drop_column("seq")
