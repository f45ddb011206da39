"""Job gangs (issue 19): each job's gang id (`jobs.gang`, `JobSpec.gang`; NULL for the jobs
there are), indexed by namespace, so that a batch does not reuse the id of a gang whose jobs are
unfinished. Placement finds a gang's members by their placement key (the gang is in its route),
so no key changes here: jobs there are have no gang.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"

INDEX = "ix_jobs_namespace_gang_state"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("gang", sa.String(63), nullable=True))
    op.create_index(INDEX, "jobs", ["namespace", "gang", "state"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="jobs")
    op.drop_column("jobs", "gang")
