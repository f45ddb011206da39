"""What the client commands print, as pure functions: kubectl's ages, the JSONPath subset, and
table alignment."""

from __future__ import annotations

import datetime as dt

import click
import pytest

from kjs.cli.output import JOBS, JsonPath, JsonPathError, OutputFormat, Table, age, human_duration

NOW = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (3 * 60 + 25, "3m25s"),
        (9 * 60, "9m"),
        (10 * 60 + 59, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (2 * 3600 + 5, "120m"),  # under 3 h kubectl counts minutes
        (5 * 3600 + 30 * 60, "5h30m"),
        (30 * 3600, "30h"),
        (4 * 86400, "4d"),
        (4 * 86400 + 3 * 3600, "4d3h"),
        (100 * 86400, "100d"),
        (3 * 365 * 86400, "3y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400 + 10 * 86400, "9y"),
    ],
)
def test_ages_have_kubectls_precision(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_an_age_is_read_from_an_rfc3339_time() -> None:
    assert age("2025-06-01T11:57:00Z", NOW) == "3m"
    assert age("2025-06-01T11:59:55+00:00", NOW) == "5s"
    assert age("2025-05-28T12:00:00Z", NOW) == "4d"
    assert age(None, NOW) == ""


DOC = {
    "items": [
        {"id": "a1", "name": "one", "state": "failed", "labels": {"team": "x"}, "attempt": 2},
        {"id": "b2", "name": "two", "state": "succeeded", "labels": {}, "attempt": 1},
        {"id": "c3", "name": "three", "state": "running", "labels": {"team": "y"}, "ok": True},
    ],
    "next_cursor": None,
}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{.items[*].id}", "a1 b2 c3"),
        ("{.items[0].name}", "one"),
        ("{.items[-1].name}", "three"),
        ("{.items[1:3].state}", "succeeded running"),
        ("{$.items[0]['name']}", "one"),
        ("{.items[0].labels}", '{"team": "x"}'),
        ("{.items[2].ok}", "true"),
        ("{.next_cursor}", ""),
        ("{.items[9].name}", ""),
        ("{..team}", "x y"),
        ("first: {.items[0].id}!", "first: a1!"),
        (
            '{range .items[*]}{.id}{"\\t"}{.state}{"\\n"}{end}',
            "a1\tfailed\nb2\tsucceeded\nc3\trunning\n",
        ),
        ("{range .items[*]}[{@.attempt}]{end}", "[2][1][]"),
    ],
)
def test_jsonpath_renders_kubectls_subset(template: str, rendered: str) -> None:
    assert JsonPath(template).render(DOC) == rendered


def test_a_job_as_an_object_answers_paths_from_its_root() -> None:
    assert JsonPath("{.state}").render({"id": "x", "state": "pending"}) == "pending"


@pytest.mark.parametrize(
    "template", ["", "{.items[*]", "{range .items[*]}{.id}", "{end}", "{.items[?(@.x)]}", "{items}"]
)
def test_a_template_outside_the_subset_is_refused(template: str) -> None:
    with pytest.raises(JsonPathError):
        JsonPath(template)


def test_the_output_option_names_what_it_takes() -> None:
    kind = OutputFormat()
    assert kind.convert("wide", None, None) == "wide"
    assert kind.convert("jsonpath={.id}", None, None) == "jsonpath={.id}"
    with pytest.raises(click.BadParameter, match="one of table, wide, name, json, yaml"):
        kind.convert("xml", None, None)
    with pytest.raises(click.BadParameter, match="unclosed"):
        kind.convert("jsonpath={.id", None, None)


def job(id_: str, name: str, state: str, created: str) -> dict[str, object]:
    return {"id": id_, "name": name, "namespace": "ns", "state": state, "created_at": created}


def test_a_table_aligns_columns_and_later_rows_keep_the_first_widths() -> None:
    table = Table(JOBS, wide=False)
    first = table.lines([job("1", "short", "pending", "2025-06-01T11:59:00Z")], now=NOW)
    assert first == [
        "ID   NAME    NAMESPACE   STATE     AGE",
        "1    short   ns          pending   60s",
    ]
    # A row printed while watching: no header again, the same columns.
    later = table.lines([job("2", "other", "running", "2025-06-01T10:00:00Z")], now=NOW)
    assert later == ["2    other   ns          running   120m"]


def test_no_headers_and_wide() -> None:
    table = Table(JOBS, wide=True, headers=False)
    row = {
        **job("1", "n", "failed", "2025-06-01T11:00:00Z"),
        "cluster_id": "c1",
        "attempt": 2,
        "reason": "BackoffLimitExceeded",
        "started_at": "2025-06-01T11:50:00Z",
        "finished_at": "2025-06-01T11:55:30Z",
    }
    (line,) = table.lines([row], now=NOW)
    assert line.split() == [
        "1",
        "n",
        "ns",
        "failed",
        "c1",
        "2",
        "BackoffLimitExceeded",
        "10m",
        "4m30s",
        "5m30s",
        "60m",
    ]
