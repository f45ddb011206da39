"""Ids of new jobs and cron jobs: UUIDs (RFC 9562 version 7) that start with their creation
time in milliseconds. Still opaque UUIDs to clients; to the store, keys that arrive in time
order land at the right edge of its primary-key index instead of on a random page of it (a
batch of random keys dirties a page per key; the write, not the parsing, bounded batch submit)."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 7 << 76
_VARIANT_RFC = 0b10 << 62


def new_id() -> str:
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 random bits: 12 + 62 of them used
    value = (
        (millis & (1 << 48) - 1) << 80
        | _VERSION_7
        | (random >> 68) << 64
        | _VARIANT_RFC
        | random & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))
