"""The cron grammar Kubernetes CronJob accepts, and the fire times it implies.

Kubernetes validates `spec.schedule` with robfig/cron v3's `ParseStandard` (five fields or a
descriptor) and rejects `TZ=`/`CRON_TZ=` prefixes (time zones go in `timeZone`). croniter accepts
more than that (seconds fields, `L`, `#`, ...), so this module parses the grammar itself, with the
same error wording, and computes fire times with the same day-of-month/day-of-week rule.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_FIELDS = (
    ("minute", _Bounds(0, 59)),
    ("hour", _Bounds(0, 23)),
    ("day of month", _Bounds(1, 31)),
    ("month", _Bounds(1, 12, _MONTHS)),
    ("day of week", _Bounds(0, 6, _DAYS)),
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Go's time.ParseDuration grammar.
_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}


class CronError(ValueError):
    """A schedule Kubernetes would refuse; the message is the one it would give."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: allowed values per field, or a fixed interval (`@every`)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days_of_month: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    days_of_week: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every: dt.timedelta | None = None

    def next_after(self, after: dt.datetime, tz: str | None = None) -> dt.datetime | None:
        """The first fire time strictly after `after` (aware), in UTC; None if there is none."""
        if self.every is not None:
            step = max(self.every, dt.timedelta(seconds=1))
            return (after + step).replace(microsecond=0).astimezone(dt.UTC)
        zone = zoneinfo.ZoneInfo(tz) if tz else dt.UTC
        t = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        t += dt.timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
                continue
            local = t.replace(tzinfo=zone)
            # A wall time skipped by a DST jump does not exist: go on to the next one.
            if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != t:
                t += dt.timedelta(minutes=1)
                continue
            return local.astimezone(dt.UTC)
        return None

    def _day_matches(self, t: dt.datetime) -> bool:
        dom = t.day in self.days_of_month
        dow = (t.isoweekday() % 7) in self.days_of_week
        # robfig: when either field is a star, both must match; otherwise either may.
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow


def _number(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise CronError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    value = int(text)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def _value(text: str, bounds: _Bounds) -> int:
    if bounds.names and text.lower() in bounds.names:
        return bounds.names[text.lower()]
    return _number(text)


def _range(expr: str, bounds: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = low_high[0] in ("*", "?")
    if star:
        start, end = bounds.low, bounds.high
    else:
        start = _value(low_high[0], bounds)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _value(low_high[1], bounds)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _number(range_and_step[1])
        if len(low_high) == 1:  # "N/step" means "N-max/step"
            end = bounds.high
        if step > 1:
            star = False
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, bounds: _Bounds) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for expr in (part for part in text.split(",") if part):  # Go's FieldsFunc drops empties
        more, is_star = _range(expr, bounds)
        values |= more
        star = star or is_star
    return frozenset(values), star


def _go_duration_seconds(text: str) -> float:
    if not _GO_DURATION.fullmatch(text):
        raise CronError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
    sign = -1 if text.startswith("-") else 1
    parts = re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_schedule(spec: str) -> Schedule:
    """Parse `spec` exactly as Kubernetes does for a CronJob, or raise CronError."""
    if not spec:
        raise CronError("empty spec string")
    if "TZ" in spec:
        raise CronError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if spec.startswith("@"):
        if spec.startswith("@every "):
            seconds = _go_duration_seconds(spec.removeprefix("@every "))
            return Schedule(every=dt.timedelta(seconds=seconds))
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != len(_FIELDS):
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(text, bounds) for text, (_, bounds) in zip(fields, _FIELDS, strict=True)]
    return Schedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days_of_month=parsed[2][0],
        months=parsed[3][0],
        days_of_week=parsed[4][0],
        dom_star=parsed[2][1],
        dow_star=parsed[4][1],
    )


def check_time_zone(name: str) -> None:
    """Kubernetes' `timeZone` rule: an explicit IANA name this machine knows."""
    if not name or name.strip() != name or name.lower() == "local":
        raise CronError(
            "must be an explicit time zone as defined in https://www.iana.org/time-zones"
        )
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise CronError(f"unknown time zone {name}") from e
