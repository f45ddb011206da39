"""The web UI's API (issue 17): each attempt's manifest as dispatched (`job_manifests`), and the
indexes that keep the jobs list fast at 10^6 jobs in its new orders and filter: `sort` by
`updated_at`, `namespace=` with each sort (`name` is served by the existing (name, created_at,
id) index), and `namespace=` with `state=` (a rare pair otherwise reads every job of the
state). See bench/ui_api.py for the figures behind each index.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"

INDEXES = {
    "ix_jobs_updated_at_id": ["updated_at", "id"],
    "ix_jobs_namespace_created_at_id": ["namespace", "created_at", "id"],
    "ix_jobs_namespace_state_created_at_id": ["namespace", "state", "created_at", "id"],
    "ix_jobs_namespace_updated_at_id": ["namespace", "updated_at", "id"],
    "ix_jobs_namespace_name_created_at_id": ["namespace", "name", "created_at", "id"],
}


def upgrade() -> None:
    op.create_table(
        "job_manifests",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "manifest", sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("job_id", "attempt", name=op.f("pk_job_manifests")),
    )
    for name, columns in INDEXES.items():
        op.create_index(op.f(name), "jobs", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(op.f(name), table_name="jobs")
    op.drop_table("job_manifests")
