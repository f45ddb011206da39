"""Why a log is empty, and when a follow asks the agent to stream (pure decisions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from kjs.core.models import JobSpec
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.scheduler.lognotes import (
    no_logs_note,
    note_line,
    other_logs_note,
    printable,
    streams_on_request,
)

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def job(state: JobState, log_collect: str = "on_failure", **fields: Any) -> JobRecord:
    spec = msgspec.convert(
        {"name": "hello", "namespace": "default", "image": "busybox", "log_collect": log_collect},
        JobSpec,
    )
    placed = {"cluster_id": "c1"} if state != JobState.PENDING else {}
    return JobRecord(
        id="j1",
        spec=spec,
        state=state,
        k8s_name="hello-j1",
        created_at=AT,
        updated_at=AT,
        **{**placed, **fields},
    )


@pytest.mark.parametrize("state", [JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING])
def test_a_follow_asks_to_stream_a_default_job_on_its_cluster(state: JobState) -> None:
    assert streams_on_request(job(state), 1)


@pytest.mark.parametrize(
    ("record", "attempt"),
    [
        (job(JobState.PENDING), 1),  # not on a cluster yet: asked once it is
        (job(JobState.RUNNING, "always"), 1),  # streams already
        (job(JobState.RUNNING, "never"), 1),  # its logs are not to reach kjs
        (job(JobState.SUCCEEDED), 1),  # over: what was kept is all there is
        (job(JobState.RUNNING, attempt=2), 1),  # an earlier attempt
    ],
)
def test_a_follow_does_not_ask_otherwise(record: JobRecord, attempt: int) -> None:
    assert not streams_on_request(record, attempt)


@pytest.mark.parametrize(
    ("record", "note"),
    [
        (
            job(JobState.SUCCEEDED, started_at=AT),
            'no logs kept: log_collect is "on_failure" and the job succeeded; '
            'submit with "log_collect": "always" to keep them',
        ),
        (
            job(JobState.SUCCEEDED, "never", started_at=AT),
            'no logs kept: log_collect is "never"; '
            'submit with "log_collect": "always" to keep them',
        ),
        (job(JobState.PENDING), "no logs yet: the job has not started (it is pending)"),
        (job(JobState.CANCELLED), "no logs: the job was cancelled before it started"),
        (
            job(JobState.CANCELLED, started_at=AT),
            'no logs kept: log_collect is "on_failure" and the job was cancelled; '
            'submit with "log_collect": "always" to keep them',
        ),
        (
            job(JobState.RUNNING, started_at=AT),
            'no logs yet: log_collect is "on_failure", so they are kept only if the job fails; '
            "follow them (follow=true, kjs logs -f) to stream them now",
        ),
        (
            job(JobState.FAILED, reason="ImagePullBackOff"),
            "no logs: the job failed before any container ran (ImagePullBackOff)",
        ),
        (
            job(JobState.FAILED, exit_codes={"p": {"c": 1}}),
            "no logs: the job's containers wrote nothing (the job failed)",
        ),
        (
            job(JobState.SUCCEEDED, "always", started_at=AT),
            "no logs: the job's containers wrote nothing (the job succeeded)",
        ),
    ],
)
def test_the_note_says_why_in_a_users_words(record: JobRecord, note: str) -> None:
    assert no_logs_note(record, 1) == note


def test_the_note_of_an_earlier_attempt_and_of_a_filter() -> None:
    rerun = job(JobState.RUNNING, attempt=2)
    assert no_logs_note(rerun, 1).startswith("no logs for attempt 1: none were kept")
    assert no_logs_note(job(JobState.SUCCEEDED), 1, container="x").startswith(
        "no logs of container=x kept"
    )
    assert other_logs_note("p", None, ["p2/c", "p1/c"]) == (
        "no logs of pod=p; this attempt has logs of p1/c, p2/c"
    )


def test_the_body_line() -> None:
    assert note_line("why") == b"[kjs: why]\n"


def test_printable_is_one_line_of_ascii() -> None:
    assert printable("a\r\nb é\t") == "a\\r\\nb \\xe9\\t"
