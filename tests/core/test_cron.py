"""The cron grammar accepts and rejects exactly what Kubernetes' CronJob validation does."""

from __future__ import annotations

import datetime as dt

import pytest

from kjs.core.cron import CronError, check_time_zone, parse_schedule


@pytest.mark.parametrize(
    "spec",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 * * 0",
        "0 0 1 1 *",
        "0 9-17 * * MON-FRI",
        "0 0 ? * *",
        "15,45 * * * *",
        "5/15 * * * *",
        " 0 0 * * * ",
        "0 0 1,,2 * *",
        "0 0 * jan,Jul sun",
        "+5 * * * *",
        "0-59/7 0-23/2 1-31 1-12 0-6",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 1h30m",
        "@every 90s",
        "@every 1.5h",
    ],
)
def test_accepts_what_kubernetes_accepts(spec: str) -> None:
    parse_schedule(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("0 * * * * *", "expected exactly 5 fields, found 6: [0 * * * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("*/-1 * * * *", "negative number (-1) not allowed: -1"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("0 0 L * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
        (
            "0 0 * * 1#2",
            'failed to parse int from 1#2: strconv.Atoi: parsing "1#2": invalid syntax',
        ),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@hourly ", "unrecognized descriptor: @hourly "),
        ("@every xyz", 'failed to parse duration @every xyz: time: invalid duration "xyz"'),
        ("TZ=UTC * * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        (
            "CRON_TZ=Europe/Paris 0 * * * *",
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ),
    ],
)
def test_rejects_what_kubernetes_rejects_with_its_words(spec: str, message: str) -> None:
    with pytest.raises(CronError) as e:
        parse_schedule(spec)
    assert str(e.value) == message


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("*/15 * * * *", "2026-11-27T10:07:30+00:00", "2026-11-27T10:15:00+00:00"),
        ("*/15 * * * *", "2026-11-27T10:15:00+00:00", "2026-11-27T10:30:00+00:00"),
        ("0 0 * * 0", "2026-11-25T12:00:00+00:00", "2026-11-29T00:00:00+00:00"),  # Wed -> Sun
        ("0 0 13 * 5", "2026-11-07T00:00:00+00:00", "2026-11-13T00:00:00+00:00"),  # 13th or Fri
        ("0 0 13 * 5", "2026-11-13T00:00:00+00:00", "2026-11-20T00:00:00+00:00"),
        ("0 0 * * 5", "2026-11-13T00:00:00+00:00", "2026-11-20T00:00:00+00:00"),  # Fridays only
        ("0 0 29 2 *", "2026-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("@hourly", "2026-12-31T23:59:00+00:00", "2027-01-01T00:00:00+00:00"),
        ("@every 90s", "2026-11-27T10:00:00+00:00", "2026-11-27T10:01:30+00:00"),
    ],
)
def test_fire_times(spec: str, after: str, expected: str) -> None:
    assert parse_schedule(spec).next_after(at(after)) == at(expected)


def test_fire_times_follow_the_time_zone_and_skip_a_missing_wall_time() -> None:
    nine_in_berlin = parse_schedule("0 9 * * *")
    assert nine_in_berlin.next_after(at("2026-07-01T10:00:00+00:00"), "Europe/Berlin") == at(
        "2026-07-02T07:00:00+00:00"
    )
    # 02:30 does not exist in Berlin on 2026-03-29 (clocks jump from 02:00 to 03:00).
    half_past_two = parse_schedule("30 2 * * *")
    assert half_past_two.next_after(at("2026-03-28T12:00:00+00:00"), "Europe/Berlin") == at(
        "2026-03-30T00:30:00+00:00"
    )


def test_a_schedule_that_never_fires_has_no_next_time() -> None:
    assert parse_schedule("0 0 30 2 *").next_after(at("2026-01-01T00:00:00+00:00")) is None


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_time_zones_kubernetes_knows(zone: str) -> None:
    check_time_zone(zone)


@pytest.mark.parametrize("zone", ["", "Local", "Mars/Olympus", " UTC"])
def test_time_zones_kubernetes_refuses(zone: str) -> None:
    with pytest.raises(CronError):
        check_time_zone(zone)
