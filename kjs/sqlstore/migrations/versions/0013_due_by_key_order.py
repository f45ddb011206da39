"""A placement key's due jobs in placement's order from its index alone: (state,
placement_key, created_at, id, run_at) replaces (state, placement_key, created_at, run_at).

Placement reads a key's due jobs oldest first, then by id (`created_at, id`: pages go on from a
cursor). Without `id` in the key's index, SQLite's planner walked (state, created_at, id) instead,
for its order, and read every older due job of every other key on the way: with 10,000 jobs
waiting for a full cluster, a page of one new job for a free cluster cost ~7 ms, not ~0.3 ms
(bench/placement_blocked.py). Counting the due jobs per key still reads this index alone.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"

OLD_INDEX = "ix_jobs_state_placement_key_created_at_run_at"
INDEX = "ix_jobs_state_placement_key_created_at_id_run_at"


def upgrade() -> None:
    op.drop_index(OLD_INDEX, table_name="jobs")
    op.create_index(
        INDEX, "jobs", ["state", "placement_key", "created_at", "id", "run_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="jobs")
    op.create_index(
        OLD_INDEX, "jobs", ["state", "placement_key", "created_at", "run_at"], unique=False
    )
