"""Nothing now (the table `compat_jobs` is the compat plugin's).

It made the compatibility layer's table `compat_jobs`, now the compat plugin's own, in its
migration branch (`kjs/plugins/compat/migrations/`), whose first revision adopts the table this
revision made in databases that have it and makes it in those that do not. Kept, doing nothing,
so that databases at revisions 0003 to 0005 still find their history.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
