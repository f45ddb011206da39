"""The `kjs` client commands against `kjs up` on a test cluster."""

from __future__ import annotations

import json
import signal
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
from tests.cli.support import Lines, process
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
        "sleep 1; echo hi",  # long enough to be seen running
    )
    assert ok.exit_code == 0, ok.output
    job = json.loads(ok.stdout)
    assert job["state"] == "succeeded"
    # Every state, in order, from the job's event stream (a poller would miss the fast ones).
    shown = [line.split(" (")[0] for line in ok.stderr.splitlines()]
    assert shown == ["ok: pending", "ok: dispatched", "ok: created", "ok: running", "ok: succeeded"]
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


def test_get_w_and_ls_w_see_a_job_to_its_end(server: LiveServer, k8s_namespace: str) -> None:
    submitted = kjs(
        server,
        "submit",
        "--name",
        "watched",
        "--namespace",
        k8s_namespace,
        "--image",
        "busybox",
        "-o",
        "jsonpath={.id}",
        "--",
        "sh",
        "-c",
        "sleep 2",
    )
    job_id = submitted.stdout.strip()
    getting = process(server, "get", job_id, "-w", "--no-headers")
    listing = process(server, "ls", "-w", "--name", "watched", "--no-headers")
    # get -w: a row per change, ending by itself at the final state.
    states = [line.split()[3] for line in Lines(getting.stdout).rest(timeout=60)]
    assert getting.wait(10) == 0
    assert states[-1] == "succeeded" and "running" in states
    order = ["pending", "dispatched", "created", "running", "succeeded"]
    assert states == sorted(states, key=order.index)
    # ls -w: the same changes, until Ctrl-C.
    rows = Lines(listing.stdout)
    seen = [rows.next().split()]
    while seen[-1][3] != "succeeded":
        seen.append(rows.next(timeout=60).split())
    assert {row[0] for row in seen} == {job_id}
    listing.send_signal(signal.SIGINT)
    assert listing.wait(10) == 0


def test_submit_follow_prints_the_logs_while_the_states_go_to_stderr(
    server: LiveServer, k8s_namespace: str, tmp_path: Path
) -> None:
    # The test kubelet runs the container as a local process: it waits for this file, which the
    # test makes once it has seen the first line while the job runs (no timing to guess).
    go_on = tmp_path / "go-on"
    followed = process(
        server,
        "submit",
        "--name",
        "chatty",
        "--namespace",
        k8s_namespace,
        "--image",
        "busybox",
        "--log-collect",
        "always",
        "--follow",
        "--",
        "sh",
        "-c",
        f"echo one; while [ ! -e {go_on} ]; do sleep 0.1; done; echo two",
    )
    stdout, stderr = Lines(followed.stdout), Lines(followed.stderr)
    try:
        assert stdout.next(timeout=60).startswith("==> ")
    except AssertionError as e:  # say where the job was (it failed once in CI, not since)
        jobs = server.get("/api/v1/jobs", params={"name": "chatty"}).json()["items"]
        events = [server.get(f"/api/v1/jobs/{j['id']}/events").json()["items"] for j in jobs]
        raise AssertionError(f"{e}; stderr: {stderr.so_far()}; events: {events}") from None
    assert stdout.next() == "one"
    (job,) = server.get("/api/v1/jobs", params={"name": "chatty"}).json()["items"]
    assert job["state"] == "running"  # the logs come while it runs, not after
    go_on.touch()
    assert stdout.rest(timeout=60) == ["two"]
    assert [line.split(" (")[0] for line in stderr.rest()] == [
        "chatty: pending",
        "chatty: dispatched",
        "chatty: created",
        "chatty: running",
        "chatty: succeeded",
    ]
    assert followed.wait(10) == 0


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
