"""Ids of new jobs and cron jobs: UUID v4 strings (CONTRACT §3). Kubernetes object names end with
the first 8 hex digits of the id, so those must be random: time-ordered ids (UUIDv7, tried for
the store's index locality) gave same-named jobs submitted within a minute the same Job name."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
