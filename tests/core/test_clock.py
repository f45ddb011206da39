"""The one clock: UTC-aware, replaceable for a block and restored after it."""

from __future__ import annotations

import datetime as dt

from kjs.core import clock

FIXED = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_the_clock_is_utc_aware() -> None:
    assert clock.now().tzinfo is not None and clock.now().utcoffset() == dt.timedelta(0)


def test_a_test_can_set_the_time_for_a_block_and_gets_the_real_one_back() -> None:
    with clock.use(lambda: FIXED):
        assert clock.now() == FIXED
    assert clock.now() > FIXED - dt.timedelta(days=365 * 10) and clock.now() != FIXED
