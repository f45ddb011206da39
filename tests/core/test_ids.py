"""New job and cron-job ids: UUIDs whose text sorts by creation time (the store's primary-key
index grows at its edge), still valid RFC 9562 UUIDs to every client."""

from __future__ import annotations

import time
import uuid

from kjs.core.ids import new_id


def test_a_new_id_is_a_version_7_uuid_in_its_canonical_text() -> None:
    text = new_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_start_with_their_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    text = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= uuid.UUID(text).int >> 80 <= after


def test_an_id_made_a_millisecond_later_sorts_after_and_ids_do_not_repeat() -> None:
    first = new_id()
    start = time.monotonic_ns()
    while time.monotonic_ns() - start < 2_000_000:
        pass  # into a later millisecond
    later = [new_id() for _ in range(10_000)]
    assert all(first < other for other in later)
    assert len(set(later)) == len(later)
