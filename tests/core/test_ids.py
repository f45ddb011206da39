"""New job and cron-job ids: UUID v4 strings (CONTRACT §3), whose first 8 hex digits end the
job's Kubernetes object name, so they differ between jobs made one right after the other."""

from __future__ import annotations

import uuid

from kjs.core.ids import new_id


def test_a_new_id_is_a_version_4_uuid_in_its_canonical_text() -> None:
    text = new_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_made_back_to_back_differ_in_their_first_8_hex_digits() -> None:
    prefixes = {new_id()[:8] for _ in range(1000)}
    assert len(prefixes) >= 999  # 32 random bits: a clash in 1,000 is a 1-in-10,000 event
