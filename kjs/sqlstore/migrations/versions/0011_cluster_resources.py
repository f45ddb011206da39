"""Cluster resources (issue 18): each cluster's last reported CPU, memory and pods (allocatable,
free, largest free on one node, the moment they are from, partial or not), one JSON column
(`records.ClusterResources`) read with the rest of the row; NULL for a cluster whose agent does
not report them.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("clusters", sa.Column("resources", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("clusters", "resources")
