"""`kjs import-legacy`: an original installation's database (its schema, on the real MariaDB)
copied into kjs twice — jobs, states, counters and logs once, nothing twice."""

from __future__ import annotations

import asyncio
import gzip
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import TestClient

from kjs.cli import main
from kjs.core import components
from kjs.core.config import load
from kjs.plugins.compat.legacy import import_legacy
from kjs.server import create_app
from tests.compat_plugin import needs_compat
from tests.deployment import fresh_database

pytestmark = [pytest.mark.mysql, needs_compat]
SCHEMA = Path(__file__).parents[1] / "legacy" / "create_table.sql"
T0 = int(time.time()) - 86_400  # a day ago (older would fall to kjs's retention)


@pytest.fixture
def legacy(mysql_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """A legacy database with one once job in each state, a cron job, and logs."""
    with fresh_database(mysql_env["admin_url"]) as url:
        engine = sa.create_engine(url)
        ids = {name: str(uuid.uuid4()) for name in ("waiting", "running", "failed", "ok", "gone")}
        ids["nightly"] = str(uuid.uuid4())
        states = {"waiting": -1, "running": 0, "failed": 1, "ok": 2, "gone": 3}
        with engine.begin() as conn:
            for statement in SCHEMA.read_text().split(";"):
                if statement.strip() and not statement.strip().startswith("--"):
                    conn.execute(sa.text(statement))
            for i, (name, state) in enumerate(states.items()):
                conn.execute(
                    sa.text(
                        "INSERT INTO once_job (job_id, job_name, namespace, image, command,"
                        " job_exec_time, metadata, create_time, update_time) VALUES"
                        " (:id, :name, 'ops', 'busybox', 'echo,hi', 0, :meta, :t, :u)"
                    ),
                    {
                        "id": ids[name],
                        "name": name,
                        "meta": '{"log_collect":"true"}' if name == "ok" else "",
                        "t": T0 + i,
                        "u": T0 + 100 + i,
                    },
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO job_status (job_id, job_type, job_state, job_times,"
                        " job_success_times, job_exec_information, create_time, update_time)"
                        " VALUES (:id, 0, :state, :times, :ok, :info, :t, :u)"
                    ),
                    {
                        "id": ids[name],
                        "state": state,
                        "times": 0 if state == -1 else 2,
                        "ok": 1 if name in ("ok", "gone") else 0,
                        "info": '{"failure":"type=Failed stauts=True cause=BackoffLimitExceeded"}'
                        if name == "failed"
                        else None,
                        "t": T0 + i,
                        "u": T0 + 100 + i,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO cron_job (job_id, job_name, schedule, namespace, image, command,"
                    " metadata, create_time, update_time) VALUES"
                    " (:id, 'nightly', '0 3 * * *', 'ops', 'busybox', 'date', '', :t, :t)"
                ),
                {"id": ids["nightly"], "t": T0},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO job_status (job_id, job_type, job_state, job_times,"
                    " job_success_times, create_time, update_time)"
                    " VALUES (:id, 1, 0, 7, 6, :t, :t)"
                ),
                {"id": ids["nightly"], "t": T0},
            )
            for job, pod, text in [
                ("ok", "ok-abcde", b"first part\n"),
                ("ok", "ok-abcde", b"second part\n"),
                ("nightly", "nightly-29000-xyz", b"Thu Nov 26 03:00:00 UTC 2026\n"),
            ]:
                conn.execute(
                    sa.text(
                        "INSERT INTO job_logs (job_id, pod_name, run_logs, create_time)"
                        " VALUES (:id, :pod, :logs, :t)"
                    ),
                    {"id": ids[job], "pod": pod, "logs": gzip.compress(text), "t": T0},
                )
        engine.dispose()
        yield url, ids


def data(response: Any) -> Any:
    body = response.json()
    assert body["code"] in (0, 200), body
    return body["data"]


def test_import_twice_copies_everything_once(
    legacy: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids = legacy
    monkeypatch.setenv("KJS_DATA_DIR", str(tmp_path))
    first = CliRunner().invoke(main, ["import-legacy", "--dsn", url])
    assert first.exit_code == 0, first.output
    assert "imported: 5 once jobs, 1 cron jobs, 3 log records" in first.output
    again = CliRunner().invoke(main, ["import-legacy", "--dsn", url])
    assert again.exit_code == 0, again.output
    assert "imported: 0 once jobs, 0 cron jobs, 0 log records" in again.output
    assert "there already: 5 once jobs, 1 cron jobs; skipped: 0" in again.output

    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "election": "single"})
    with TestClient(create_app(settings)) as client:
        listed = data(client.get("/api/once_job/lists?page_size=10"))
        assert listed["total"] == 5  # not ten: the second import added nothing
        assert [r["job_name"] for r in listed["data"]] == [
            "waiting",
            "running",
            "failed",
            "ok",
            "gone",
        ]
        by_name = {r["job_name"]: r for r in listed["data"]}
        # The original's states, as it showed them; counters carried over.
        assert {n: r["job_state"] for n, r in by_name.items()} == {
            "waiting": 3,  # not started before the import: not run by kjs (no --run-pending)
            "running": 0,
            "failed": 1,
            "ok": 2,
            "gone": 3,
        }
        assert (by_name["ok"]["job_times"], by_name["ok"]["job_success_times"]) == (2, 1)
        assert "BackoffLimitExceeded" in by_name["failed"]["job_exec_information"]
        assert by_name["ok"]["create_time"] == T0 + 3
        kjs_states = {n: client.get(f"/api/v1/jobs/{ids[n]}").json()["state"] for n in by_name}
        assert kjs_states == {
            "waiting": "cancelled",
            "running": "lost",
            "failed": "failed",
            "ok": "succeeded",
            "gone": "succeeded",  # deleted after succeeding once
        }
        (logs,) = data(client.get(f"/api/job_logs/{ids['ok']}"))
        assert (logs["pod_name"], logs["logs"]) == ("ok-abcde", "first part\nsecond part\n")
        cron = data(client.get(f"/api/cron_job/describe/{ids['nightly']}"))
        assert (cron["schedule"], cron["job_times"], cron["job_success_times"]) == (
            "0 3 * * *",
            7,
            6,
        )
        (cron_log,) = data(client.get(f"/api/job_logs/{ids['nightly']}"))
        assert cron_log["logs"] == "Thu Nov 26 03:00:00 UTC 2026\n"
        # The name of a job deleted on the original is free; a live one's is not.
        assert (
            client.post(
                "/api/once_job/create",
                json={
                    "job_name": "gone",
                    "namespace": "ops",
                    "image": "busybox",
                    "command": "true",
                },
            ).json()["code"]
            == 200
        )
        assert (
            client.post(
                "/api/once_job/create",
                json={"job_name": "ok", "namespace": "ops", "image": "busybox", "command": "true"},
            ).json()["code"]
            == 105
        )


def test_the_logs_go_to_the_configured_log_sink_not_the_store(
    legacy: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, ids = legacy
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "log_sink": "memory"})
    built = components.build(settings)
    built.store.migrate()
    report = import_legacy(built.store, url, log_sink=built.log_sink)
    assert report.imported == {"once": 5, "cron": 1, "logs": 3}
    logs = asyncio.run(built.log_sink.read(ids["ok"]))
    assert logs == [
        ("ok-abcde", "ok", 0, b"first part\n"),
        ("ok-abcde", "ok", 1, b"second part\n"),
    ]
    assert built.store.read_logs(ids["ok"]) == []  # the store's own log table: not used


def test_an_unreachable_legacy_database_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KJS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main, ["import-legacy", "--dsn", "mysql+pymysql://u:p@127.0.0.1:1/nothing"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("kjs: import-legacy: ") and result.output.count("\n") == 1
