"""What a `kjs server` process writes to stderr (`[logging] format` and `level`): one format for
kjs, uvicorn and Litestar, one line per job change, nothing an operator does not act on."""

from __future__ import annotations

import io
import json
import re
import signal
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from kjs.core.clock import now
from kjs.core.config import LoggingSettings
from kjs.core.logconfig import configure
from kjs.core.plugins import Plugins
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.scheduler import changes
from tests.processes import Server

JOB = {"name": "logged", "namespace": "default", "image": "busybox"}


def _run(tmp_path: Path, env: dict[str, str]) -> tuple[list[str], str]:
    """Start a server, submit and cancel a job, ask for a missing one, stop it (SIGTERM)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    server = Server(tmp_path / "data", env)
    server.start()
    try:
        created = server.api("POST", "/jobs", json=JOB)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        assert server.api("DELETE", f"/jobs/{job_id}").status_code in (200, 202)
        assert server.api("GET", "/jobs/no-such-job").status_code == 404
    finally:
        assert server.kill(signal.SIGTERM) == 0
    return server.log.read_text().splitlines(), job_id


def test_json_lines_name_each_job_change_and_nothing_else_is_noise(tmp_path: Path) -> None:
    lines, job_id = _run(tmp_path, {"KJS_LOGGING__FORMAT": "json"})
    records = [json.loads(line) for line in lines]  # every line, uvicorn's too, is JSON
    for record in records:
        assert {"timestamp", "level", "logger", "event"} <= record.keys(), record
    loggers = {r["logger"] for r in records}
    assert not any(name.startswith("alembic") for name in loggers), loggers
    assert not any("color_message" in r for r in records)
    about_job = [r for r in records if r.get("job_id") == job_id]
    assert [(r["event"], r["state"]) for r in about_job] == [
        ("job accepted", "pending"),
        ("job state changed", "cancelled"),
    ]
    accepted, cancelled = about_job
    assert accepted["name"] == "logged" and accepted["namespace"] == "default"
    assert cancelled["attempt"] == 1 and cancelled["previous"] == "pending"
    assert cancelled["reason"] == "Cancelled" and cancelled["level"] == "info"
    ready = [r["event"] for r in records if r["event"].startswith("kjs server ready")]
    assert ready and "http://127.0.0.1:" in ready[0]
    assert records[-1]["event"] == "kjs server stopped"
    # Start-up says what matters: the open API, leadership, ready. No library chatter.
    before_ready = records[: [r["event"] for r in records].index(ready[0]) + 1]
    assert len(before_ready) <= 4, [r["event"] for r in before_ready]


_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (DEBUG|INFO|WARNING|ERROR)\s+\S+: \S")


def test_text_lines_share_one_shape_and_a_level_filters_them(tmp_path: Path) -> None:
    lines, job_id = _run(tmp_path / "text", {})
    assert lines and all(_TEXT.match(line) for line in lines), lines
    (cancelled,) = [line for line in lines if "state=cancelled" in line]
    assert f"job_id={job_id}" in cancelled and "attempt=1" in cancelled

    quiet, _ = _run(tmp_path / "warn", {"KJS_LOGGING__LEVEL": "WARNING"})
    assert quiet and all(" INFO " not in line for line in quiet), quiet


def test_a_bad_logging_value_stops_the_process_naming_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "kjs", "server", "--data-dir", str(tmp_path)],
        env={"KJS_LOGGING__FORMAT": "yaml", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "logging.format" in done.stderr and "Traceback" not in done.stderr


def _captured(fmt: Literal["text", "json"]) -> io.StringIO:
    out = io.StringIO()
    configure(LoggingSettings(format=fmt), out)  # undone by tests/conftest.py
    return out


@pytest.fixture
def captured() -> io.StringIO:
    return _captured("json")


def test_a_state_change_line_names_attempt_cluster_state_and_reason(captured: io.StringIO) -> None:
    from kjs.core.models import JobSpec

    spec = JobSpec(name="j", namespace="default", image="busybox")
    at = now()
    before = JobRecord(
        id="j-1",
        spec=spec,
        state=JobState.RUNNING,
        attempt=2,
        cluster_id="east",
        k8s_name="j-1-a2",
        created_at=at,
        updated_at=at,
    )
    after = msgspec.structs.replace(
        before,
        state=JobState.FAILED,
        reason="BackoffLimitExceeded",
        message="the pod exited 1",
    )
    changes.state_changed(Plugins(), before, after)
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "job state changed" and record["logger"] == "kjs.jobs"
    assert (record["job_id"], record["attempt"], record["cluster"]) == ("j-1", 2, "east")
    assert (record["state"], record["previous"]) == ("failed", "running")
    assert (record["reason"], record["message"]) == ("BackoffLimitExceeded", "the pod exited 1")


@pytest.fixture
def captured_text() -> io.StringIO:
    return _captured("text")


def test_a_message_cannot_forge_a_text_line(captured_text: io.StringIO) -> None:
    forged = "x\n2026-01-01T00:00:00.0Z INFO    kjs.jobs: job state changed job_id=other"
    changes.log.info("job state changed", job_id="j-1", message=forged, reason="Back off")
    (line,) = captured_text.getvalue().splitlines()
    assert "message='x\\n2026" in line and "reason='Back off'" in line


def test_a_line_that_cannot_be_written_does_not_fail_the_change_it_tells(
    captured_text: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    captured_text.close()  # stderr gone: the job's change is stored all the same
    changes.log.info("job state changed", job_id="j-1")
    assert "Logging error" in capsys.readouterr().err


def test_a_batch_is_one_line_naming_its_count_ids_and_namespaces(captured: io.StringIO) -> None:
    from kjs.core.models import JobSpec

    at = now()
    jobs = [
        JobRecord(
            id=f"j-{i}",
            spec=JobSpec(name="j", namespace=namespace, image="busybox"),
            k8s_name=f"j-{i}",
            created_at=at,
            updated_at=at,
        )
        for i, namespace in enumerate(["b", "a", "b"])
    ]
    changes.accepted(jobs, "ci")
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "jobs accepted" and record["count"] == 3
    assert (record["first_job_id"], record["last_job_id"]) == ("j-0", "j-2")
    assert (record["namespaces"], record["by"]) == ("a,b", "ci")
