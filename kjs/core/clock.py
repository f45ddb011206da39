"""The one clock of kjs's own code: timezone-aware UTC, replaceable in one place (tests that need
a fixed or moving time call `use`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Clock = Callable[[], dt.datetime]


def system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_source: Clock = system_now


def now() -> dt.datetime:
    """The current time, in UTC."""
    return _source()


@contextmanager
def use(clock: Clock) -> Iterator[None]:
    """Read the time from `clock` inside the block (and only there)."""
    global _source
    previous, _source = _source, clock
    try:
        yield
    finally:
        _source = previous
