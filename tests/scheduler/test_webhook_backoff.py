"""Webhook retries back off exponentially, with full jitter, never beyond the configured cap."""

from __future__ import annotations

from kjs.scheduler.webhooks import backoff_s


def test_the_backoff_grows_from_two_seconds_and_stops_at_the_cap() -> None:
    first = [backoff_s(1, cap_s=600) for _ in range(200)]
    assert max(first) <= 2.0
    tenth = [backoff_s(10, cap_s=600) for _ in range(200)]
    assert max(tenth) > 2.0 * 10  # 2 * 2**9 = 1024, capped at 600: far above the first delay
    capped = [backoff_s(30, cap_s=5) for _ in range(200)]
    assert max(capped) <= 5.0
    assert min(capped) >= 0.0 and len(set(capped)) > 100  # jittered, not one fixed delay
