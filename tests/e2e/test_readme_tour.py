"""README.md, "A short tour": its commands, run against `kjs up` on a test cluster, print what the
README says they print (the curl lines as httpx requests)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.cli.support import KJS
from tests.live import LiveServer, live_kjs_up

pytestmark = pytest.mark.k8s

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def server(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[LiveServer]:
    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as live:
        yield live


def tour() -> str:
    text = README.read_text()
    start = text.index("## A short tour")
    return text[start : text.index("\n## ", start + 1)]


def kjs(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """A tour's `kjs …` line, run as a user runs it (a process; KJS_URL names the server)."""
    environ = {**os.environ, "KJS_URL": server.url}
    return subprocess.run(
        [str(KJS), *args], env=environ, capture_output=True, text=True, timeout=120
    )


def test_the_tours_command_lines_are_in_the_readme() -> None:
    # What the test below runs is what the README shows.
    text = tour()
    for line in (
        "kjs submit --name hello --namespace default --image busybox --wait -- echo hi",
        "kjs ls --all -o wide",
        "kjs get <id> -w",
        "kjs logs -f <id>",
        "kjs token create --name ci --scopes submit",
    ):
        assert line in text, line


def test_the_command_line_tour(server: LiveServer) -> None:
    submitted = kjs(
        server,
        *shlex.split("submit --name hello --namespace default --image busybox --wait -- echo hi"),
    )
    assert submitted.returncode == 0, submitted.stderr
    # "every state shown": on stderr, each as it happens, in order (`running` may be too
    # short to see for an echo); stdout holds nothing more.
    order = ["pending", "dispatched", "created", "running", "succeeded"]
    states = [line.split(" (")[0].removeprefix("hello: ") for line in submitted.stderr.splitlines()]
    assert states[:3] == order[:3] and states[-1] == "succeeded"
    assert states == sorted(states, key=order.index) and submitted.stdout == ""
    listed = json.loads(kjs(server, "ls", "-o", "json").stdout)
    (job,) = [j for j in listed["items"] if j["name"] == "hello"]
    job_id = job["id"]
    assert job["state"] == "succeeded"
    assert submitted.stderr.splitlines()[0].endswith(f"[id {job_id}]")  # "the first with its id"

    wide = kjs(server, "ls", "--all", "-o", "wide")
    assert wide.returncode == 0
    header, row = wide.stdout.splitlines()[:2]
    assert header.split()[:4] == ["ID", "NAME", "NAMESPACE", "STATE"]
    assert row.split()[:4] == [job_id, "hello", "default", "succeeded"]

    watched = kjs(server, "get", job_id, "-w")  # ends by itself: the job is final
    assert watched.returncode == 0 and "succeeded" in watched.stdout

    # A finished default job's logs: none kept (log_collect "on_failure"), and stderr says so.
    logs = kjs(server, "logs", "-f", job_id)
    assert logs.returncode == 0
    assert logs.stdout == ""
    (said,) = re.findall(r"`(kjs: no logs kept: [^`]*)`", tour())
    assert logs.stderr == " ".join(said.split()) + "\n"  # as the README quotes it

    clusters = kjs(server, "clusters")
    assert clusters.returncode == 0 and len(clusters.stdout.splitlines()) == 2  # header, cluster

    token = kjs(server, *shlex.split("token create --name ci --scopes submit"))
    assert token.returncode == 0
    secret, *entry = token.stdout.splitlines()
    assert secret and "[[auth.tokens]]" in entry

    completion = kjs(server, "completion", "bash")
    assert completion.returncode == 0 and "complete" in completion.stdout


def test_the_http_tour(server: LiveServer) -> None:
    api = f"{server.url}/api/v1"
    created = httpx.post(
        f"{api}/jobs",
        headers={"Content-Type": "application/json"},
        content='{"name": "hello", "namespace": "default", "image": "busybox", '
        '"command": ["echo", "hi"]}',
    )
    assert created.status_code == 201
    job_id = created.json()["id"]
    dry = httpx.post(
        f"{api}/jobs?dry_run=true",
        content='{"name": "hello", "namespace": "default", "image": "busybox"}',
    )
    assert dry.status_code == 200 and "kind" in dry.text

    bad = httpx.post(
        f"{api}/jobs", content='{"name": "Hello!", "namespace": "default", "image": "busybox"}'
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "name"
    assert bad.json()["detail"].startswith("name: a lowercase RFC 1123 label")

    batch = httpx.post(
        f"{api}/jobs:batch",
        content="""{"items": [
  {"job": {"name": "a", "namespace": "default", "image": "busybox"}, "idempotency_key": "a-1"},
  {"job": {"name": "b", "namespace": "default", "image": "busybox"}}]}""",
    )
    assert batch.status_code == 201 and len(batch.json()["items"]) == 2

    listed = httpx.get(f"{api}/jobs?state=pending&limit=10")
    assert listed.status_code == 200 and "next_cursor" in listed.json()

    wait_until(
        lambda: httpx.get(f"{api}/jobs/{job_id}").json()["state"] == "succeeded",
        timeout=60,
        what="hello to succeed",
    )
    events = httpx.get(f"{api}/jobs/{job_id}/events").json()["items"]
    assert events[0]["state"] == "pending" and events[-1]["state"] == "succeeded"
    # "collected logs, live while it runs": a finished default job kept none, and says why.
    followed = httpx.get(f"{api}/jobs/{job_id}/logs?follow=true", timeout=30)
    assert re.fullmatch(r'\[kjs: no logs kept: log_collect is "on_failure".*\]\n', followed.text)
    assert followed.headers["X-Kjs-Logs-Note"].startswith("no logs kept")

    rerun = httpx.post(f"{api}/jobs/{job_id}/rerun")
    assert rerun.is_success and rerun.json()["attempt"] == 2
    cancelled = httpx.delete(f"{api}/jobs/{batch.json()['items'][0]['id']}")
    assert cancelled.status_code == 200

    cron = httpx.post(
        f"{api}/cronjobs",
        json={
            "name": "nightly",
            "namespace": "default",
            "image": "busybox",
            "command": ["date"],
            "schedule": "0 3 * * *",
            "time_zone": "Europe/Berlin",
        },
    )
    assert cron.status_code == 201, cron.text
    assert httpx.get(f"{api}/jobs/{job_id}/callbacks").status_code == 200
    assert httpx.get(f"{api}/clusters").json()["items"]
    assert httpx.get(f"{server.url}/schema").status_code == 200


def test_the_python_tour(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", tour(), re.S)
    exec(code.replace("http://127.0.0.1:8080", server.url), {})
    # The server's own log lines share this process's stdout: the snippet's are bare words.
    printed = [line for line in capsys.readouterr().out.splitlines() if line.isalpha()]
    assert printed[0] == "pending" and printed[-2:] == ["succeeded", "succeeded"]
