"""Logs that explain themselves (issue 16): a follow of a running default (`on_failure`) job
shows its lines as they come, and an empty log says why, in the body, a header and on the CLI's
stderr — against `kjs up` on a test cluster."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.cli.support import KJS, Lines, process
from tests.live import LiveServer, live_kjs_up

pytestmark = pytest.mark.k8s

SUCCEEDED_NOTE = (
    'no logs kept: log_collect is "on_failure" and the job succeeded; '
    'submit with "log_collect": "always" to keep them'
)


@pytest.fixture
def server(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[LiveServer]:
    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as live:
        yield live


def submit(server: LiveServer, namespace: str, name: str, script: str, **more: Any) -> str:
    """A busybox job running `script` (with the default log_collect unless `more` says)."""
    body = {"name": name, "namespace": namespace, "image": "busybox"}
    response = server.post("/api/v1/jobs", json={**body, "command": ["sh", "-c", script], **more})
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def state(server: LiveServer, job_id: str) -> str:
    value: str = server.get(f"/api/v1/jobs/{job_id}").json()["state"]
    return value


def waits_for(go_on: Path) -> str:
    # The test kubelet runs the container as a local process: it prints a line, then waits for
    # this file, which the test makes once it has seen that line while the job runs.
    return f"echo one; while [ ! -e {go_on} ]; do sleep 0.1; done; echo two"


def kjs(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`kjs ARGS…` as a process (its stdout is its own, not this process's server's)."""
    environ = {**os.environ, "KJS_URL": server.url}
    return subprocess.run(
        [str(KJS), *args], env=environ, capture_output=True, text=True, timeout=120
    )


def test_following_a_default_job_shows_its_lines_while_it_runs(
    server: LiveServer, k8s_namespace: str, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    job_id = submit(server, k8s_namespace, "chatty", waits_for(go_on))
    url = f"{server.url}/api/v1/jobs/{job_id}/logs"
    with httpx.stream("GET", url, params={"follow": "true"}, timeout=60) as response:
        assert response.status_code == 200
        assert "x-kjs-logs-note" not in response.headers  # lines may come: no note yet
        lines = response.iter_lines()
        assert next(lines).startswith("==> ")
        assert next(lines) == "one"
        assert state(server, job_id) == "running"  # seen live, not collected at the end
        go_on.touch()
        assert list(lines) == ["two"]
    assert state(server, job_id) == "succeeded"
    # A followed attempt is kept whole: read again, it is all there, with no note.
    again = server.get(f"/api/v1/jobs/{job_id}/logs")
    assert again.text.splitlines()[1:] == ["one", "two"]
    assert "x-kjs-logs-note" not in again.headers


def test_kjs_logs_f_shows_a_default_job_live(
    server: LiveServer, k8s_namespace: str, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    job_id = submit(server, k8s_namespace, "chatty", waits_for(go_on))
    followed = process(server, "logs", "-f", job_id)
    stdout = Lines(followed.stdout)
    assert stdout.next(timeout=60).startswith("==> ")
    assert stdout.next() == "one"
    assert state(server, job_id) == "running"
    go_on.touch()
    assert stdout.rest(timeout=60) == ["two"]
    assert followed.wait(10) == 0
    assert Lines(followed.stderr).rest() == []


def test_an_empty_log_says_why_in_the_body_a_header_and_on_stderr(
    server: LiveServer, k8s_namespace: str
) -> None:
    job_id = submit(server, k8s_namespace, "quiet", "echo hi")
    wait_until(lambda: state(server, job_id) == "succeeded", timeout=60, what="the job to end")
    for params in ({}, {"follow": "true"}):
        response = server.get(f"/api/v1/jobs/{job_id}/logs", params=params)
        assert response.status_code == 200
        assert response.text == f"[kjs: {SUCCEEDED_NOTE}]\n"
        assert response.headers["x-kjs-logs-note"] == SUCCEEDED_NOTE
    for follow in ([], ["-f"]):
        shown = kjs(server, "logs", job_id, *follow)
        assert shown.returncode == 0
        assert shown.stdout == ""  # stdout is the logs only
        assert shown.stderr == f"kjs: {SUCCEEDED_NOTE}\n"
    # A failed default job keeps its logs: no note.
    failed = submit(server, k8s_namespace, "loud", "echo oops; exit 3")
    wait_until(lambda: state(server, failed) == "failed", timeout=60, what="the job to fail")
    shown = kjs(server, "logs", failed)
    assert shown.stdout.splitlines()[1:] == ["oops"] and shown.stderr == ""
    # `never`: said as such, and a filter that matches nothing names what there is.
    never = submit(server, k8s_namespace, "secret", "echo hush", log_collect="never")
    wait_until(lambda: state(server, never) == "succeeded", timeout=60, what="the job to end")
    note = server.get(f"/api/v1/jobs/{never}/logs").headers["x-kjs-logs-note"]
    assert note.startswith('no logs kept: log_collect is "never"')
    other = server.get(f"/api/v1/jobs/{failed}/logs", params={"container": "nope"})
    assert other.headers["x-kjs-logs-note"].startswith("no logs of container=nope; this attempt")
