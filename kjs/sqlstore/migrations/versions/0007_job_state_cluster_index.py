"""Jobs are counted by state and cluster from an index alone.

Placement counts the jobs occupying each cluster on every pass, and the leader's gauges count
every job by state and cluster every few seconds: with (state, cluster_id) indexed, both read
only the index (a range per state), never the table's rows.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"

INDEX = "ix_jobs_state_cluster_id"


def upgrade() -> None:
    op.create_index(op.f(INDEX), "jobs", ["state", "cluster_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(INDEX), table_name="jobs")
