"""The `kjs` client commands against `kjs up` on a test cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kjs.cli import main
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.live import LiveServer, live_kjs_up

pytestmark = pytest.mark.k8s


@pytest.fixture
def server(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[LiveServer]:
    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as live:
        yield live


def kjs(server: LiveServer, *args: str) -> Any:
    # --url right after the command: whatever follows `--` is the job's own command line
    return CliRunner().invoke(
        main, [args[0], "--url", server.url, *args[1:]], catch_exceptions=False
    )


def test_submit_wait_exits_by_the_outcome_and_ls_get_logs_events(
    server: LiveServer,
    k8s_namespace: str,
) -> None:
    ok = kjs(
        server,
        "submit",
        "--name",
        "ok",
        "--namespace",
        k8s_namespace,
        "--image",
        "busybox",
        "--wait",
        "-o",
        "json",
        "--",
        "sh",
        "-c",
        "echo hi",
    )
    assert ok.exit_code == 0, ok.output
    job = json.loads(ok.stdout)
    assert job["state"] == "succeeded"
    assert "ok: succeeded" in ok.stderr
    bad = kjs(
        server,
        "submit",
        "--name",
        "bad",
        "--namespace",
        k8s_namespace,
        "--image",
        "busybox",
        "--wait",
        "--",
        "sh",
        "-c",
        "exit 3",
    )
    assert bad.exit_code == 1 and "bad: failed" in bad.stderr
    listed = json.loads(kjs(server, "ls", "-o", "json").stdout)
    assert {j["name"] for j in listed["items"]} == {"ok", "bad"}
    table = kjs(server, "ls").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "NAMESPACE", "STATE"] and len(table) == 3
    assert kjs(server, "get", job["id"], "-o", "yaml").stdout.startswith("name: ok\n")
    states = [
        e["state"]
        for e in json.loads(kjs(server, "events", job["id"], "-o", "json").stdout)["items"]
    ]
    assert states[0] == "pending" and states[-1] == "succeeded"


def test_logs_follow_prints_lines_while_the_job_runs(
    server: LiveServer, k8s_namespace: str
) -> None:
    submitted = kjs(
        server,
        "submit",
        "--name",
        "ticker",
        "--namespace",
        k8s_namespace,
        "--image",
        "busybox",
        "--log-collect",
        "always",
        "-o",
        "json",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line $i; sleep 1; done",
    )
    job_id = json.loads(submitted.stdout)["id"]
    wait_until(
        lambda: server.get(f"/api/v1/jobs/{job_id}").json()["state"] == "running",
        timeout=30,
        what="the job to run",
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "kjs", "logs", job_id, "-f", "--url", server.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    lines = [follower.stdout.readline(), follower.stdout.readline()]
    state_then = server.get(f"/api/v1/jobs/{job_id}").json()["state"]
    rest = follower.stdout.read()
    assert follower.wait(30) == 0
    assert lines[0].startswith("==> "), follower.stderr.read() if follower.stderr else ""
    assert lines[1] == "line 1\n"
    assert state_then == "running"
    assert rest.endswith("line 5\n")


def test_errors_are_one_line_with_the_exit_codes_of_the_contract(
    server: LiveServer,
    k8s_namespace: str,
) -> None:
    invalid = kjs(
        server, "submit", "--name", "Bad_Name", "--namespace", k8s_namespace, "--image", "busybox"
    )
    assert invalid.exit_code == 2
    assert invalid.stderr.strip().startswith("kjs: name: a lowercase RFC 1123 label")
    missing = kjs(server, "get", "00000000-0000-4000-8000-000000000000")
    assert missing.exit_code == 2 and "not found" in missing.stderr
    away = CliRunner().invoke(main, ["ls", "--url", "http://127.0.0.1:9"])
    assert away.exit_code == 3
    assert away.stderr.startswith("kjs: kjs server at http://127.0.0.1:9 unreachable")
