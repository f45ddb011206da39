"""Schemathesis over every operation of the served schema (`/schema/openapi.json`), bodies
included, against a real server on a socket (SQLite, in-memory queue, tokens configured), once
with a token of each scope: no answer is a 5xx, and every answer's status code, content type and
body are the ones the schema declares. A fixed seed and example count keep runs comparable.

Path ids are drawn, half the time, from what exists (a pending job, a cancelled one, a cron job
and its run, a cluster), so that edits, cancels and reruns reach the service, not only its 404.
`logs?follow=true` is not generated (`follow` is fixed to false: a followed job streams until it
ends; tests/server/test_slow_clients.py and the e2e tests follow by hand), and every request
is bounded by `--request-timeout`.
A failure it finds becomes a named test of that input (tests/api) and a fix."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from kjs.api.auth import hash_token
from kjs.core import messages
from kjs.core.config import load
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.schema

SEED = 20260101
EXAMPLES = 15  # per operation, phase and token
# But the read-only token: its reads answer as the others' do (no token here is limited to
# namespaces), and what it alone meets, a 403 for every write, comes whatever the body.
EXAMPLES_BY_SCOPE = {"read": 3}
TOKENS = {scope: f"{scope}-token" for scope in ("read", "submit", "admin")}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


JOB = {"name": "fuzzed", "namespace": "default", "image": "busybox", "command": ["true"]}


def _existing(live: LiveServer) -> dict[str, list[str]]:
    """Things for path ids to name: jobs (pending, cancelled, a cron run), a cron job, a
    cluster."""
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}

    def created(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = live.post(path, json=body, headers=admin)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    pending = created("/api/v1/jobs", JOB)
    cancelled = created("/api/v1/jobs", {**JOB, "name": "cancelled"})
    cancel = httpx.delete(f"{live.url}/api/v1/jobs/{cancelled['id']}", headers=admin, timeout=10)
    assert cancel.json()["state"] == "cancelled"
    cron = created(
        "/api/v1/cronjobs", {**JOB, "name": "nightly", "schedule": "0 3 * * *", "mode": "managed"}
    )
    run = created(f"/api/v1/cronjobs/{cron['id']}/trigger")
    heartbeat = messages.Heartbeat(cluster_id="c1", at=dt.datetime.now(dt.UTC), capacity=10)
    queue = live.app.state.components.queue
    live.call(queue.publish(messages.HEARTBEAT_TOPIC, messages.encode(heartbeat)))
    wait_until(
        lambda: live.get("/api/v1/clusters/c1", headers=admin).status_code == 200,
        timeout=10,
        what="the heartbeat to be recorded",
    )
    return {
        "job_ids": [pending["id"], cancelled["id"], run["id"]],
        "cron_ids": [cron["id"]],
        "cluster_ids": ["c1"],
    }


def _config(path: Path, existing: dict[str, list[str]]) -> Path:
    """schemathesis.toml: path ids half the time from `existing`; follow and watch never true
    (streams that end only when the job does, or never: tests/api/test_watch.py has them)."""
    lines = []
    for name, values in existing.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in existing:
        parameter = name.removesuffix("s")
        lines.append(f'"path.{parameter}" = {{ dictionary = "{name}", probability = 0.5 }}')
    lines.append('"query.follow" = false')
    lines.append('"query.watch" = false')
    path.write_text("\n".join(lines) + "\n")
    return path


class Server(NamedTuple):
    live: LiveServer
    existing: dict[str, list[str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("fuzz")),
            "auth": {
                "tokens": [
                    {"name": scope, "sha256": hash_token(token), "scopes": [scope]}
                    for scope, token in TOKENS.items()
                ]
            },
            "compat": {"delete_wait_s": 1},
        },
    )
    with live_server(create_app(settings)) as live:
        yield Server(live, _existing(live))


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is not installed: pip install -e '.[test]'"
    return [found]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scope", list(TOKENS))
def test_every_operation_answers_as_its_schema_says(
    server: Server, scope: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [
            *_schemathesis(),
            "--config-file",
            str(_config(tmp_path / "schemathesis.toml", server.existing)),
            "run",
            f"{server.live.url}/schema/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--mode",
            "all",
            "--max-examples",
            str(EXAMPLES_BY_SCOPE.get(scope, EXAMPLES)),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "5",
            "--header",
            f"Authorization: Bearer {TOKENS[scope]}",
            "--suppress-health-check",
            "too_slow,filter_too_much",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
        env={"PATH": str(Path(sys.executable).parent), "NO_COLOR": "1", "HOME": str(tmp_path)},
    )
    summary = run.stdout[-6000:]
    print(f"schemathesis ({scope} token, {time.monotonic() - started:.0f} s):\n{summary}")
    assert run.returncode == 0, f"{summary}\n{run.stderr[-3000:]}"
