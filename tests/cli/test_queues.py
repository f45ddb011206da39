"""`kjs queues`, `kjs submit --queue`, `kjs cron create --queue`, the QUEUE and POSITION
columns of `kjs ls -o wide` and what `kjs get` says of a pending job, against a real server
(with no cluster: every job stays pending)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from kjs.testing.waiting import wait_until
from tests.cli.support import ScriptedAgent, run, state_of
from tests.live import LiveServer


def define(server: LiveServer, name: str, definition: dict[str, Any]) -> None:
    answer = httpx.put(f"{server.url}/api/v1/queues/{name}", json=definition, timeout=10)
    assert answer.status_code == 201, answer.text


def test_submit_to_a_queue_and_see_it_in_the_wide_listing(server: LiveServer) -> None:
    define(server, "gpu", {"limits": {"max_cpu": "8"}})
    submitted = run(
        server, "submit", "--name", "q", "--namespace", "default", "--image", "busybox",
        "--queue", "gpu", "-o", "json",
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    assert json.loads(submitted.stdout)["queue"] == "gpu"
    run(server, "submit", "--name", "plain", "--namespace", "default", "--image", "busybox")
    wide = run(server, "ls", "-o", "wide").stdout.splitlines()
    header = wide[0].split()
    assert "QUEUE" in header
    column = header.index("QUEUE")
    queues = {row.split()[1]: row.split()[column] for row in wide[1:]}
    assert queues == {"q": "gpu", "plain": "default"}
    assert "QUEUE" not in run(server, "ls").stdout.splitlines()[0].split()


def test_an_unknown_queue_is_a_usage_error_naming_it(server: LiveServer) -> None:
    refused = run(
        server, "submit", "--name", "q", "--namespace", "default", "--image", "busybox",
        "--queue", "nope",
    )  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert "queue" in refused.stderr and "unknown queue 'nope'" in refused.stderr


def test_queues_lists_and_shows_them(server: LiveServer) -> None:
    limits = {"max_running": 3, "per_cluster": {"max_memory": "1Gi"}}
    define(server, "batch", {"weight": 2, "limits": limits, "namespaces": ["etl", "ml"]})
    table = run(server, "queues").stdout.splitlines()
    assert table[0].split() == [
        "NAME", "SOURCE", "WEIGHT", "SHARE", "WEIGHTED", "PENDING", "RUNNING", "CPU", "MEMORY",
        "MAX", "RUNNING", "MAX", "CPU", "MAX", "MEMORY", "NAMESPACES", "AGE",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in table[1:]}
    # Nothing in it yet: no share, 0 pending, 0 running, nothing requested; then its limit.
    assert rows["batch"][:10] == [
        "batch", "api", "2", "0.0%", "0.0%", "0", "0", "0", "0", "3",
    ]  # fmt: skip
    assert "etl,ml" in rows["batch"]
    assert rows["default"][:3] == ["default", "config", "1"] and "*" in rows["default"]
    wide = run(server, "queues", "-o", "wide").stdout
    assert "PER CLUSTER MEMORY" in wide and "1Gi" in wide
    assert run(server, "queues", "-o", "name").stdout == "queue/batch\nqueue/default\n"
    one = json.loads(run(server, "queues", "batch", "-o", "json").stdout)
    assert one["limits"]["per_cluster"]["max_memory"] == "1Gi" and one["source"] == "api"
    missing = run(server, "queues", "nope")
    assert missing.exit_code != 0 and "not found" in missing.stderr


def test_cron_create_into_a_queue(server: LiveServer, tmp_path: Path) -> None:
    define(server, "nightly", {})
    spec = tmp_path / "cron.yaml"
    spec.write_text(
        "name: c\nnamespace: default\nimage: busybox\nschedule: '0 3 * * *'\nmode: managed\n"
    )
    created = run(server, "cron", "create", "-f", str(spec), "--queue", "nightly", "-o", "json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["queue"] == "nightly"


def test_a_pending_job_says_where_it_stands_in_its_queue(server: LiveServer) -> None:
    define(server, "gpu", {})
    ids = []
    for name in ("first", "second"):
        submitted = run(
            server, "submit", "--name", name, "--namespace", "default", "--image", "busybox",
            "--queue", "gpu", "-o", "json",
        )  # fmt: skip
        ids.append(json.loads(submitted.stdout)["id"])
    run(server, "submit", "--name", "elsewhere", "--namespace", "default", "--image", "busybox")
    shown = run(server, "get", ids[1])
    assert shown.exit_code == 0, shown.output
    last = shown.stdout.splitlines()[-1]
    assert last.startswith("pending") and last.endswith("— 2nd in queue gpu"), shown.stdout
    assert "queue_position" not in shown.stdout
    assert json.loads(run(server, "get", ids[0], "-o", "json").stdout)["queue_position"] == 1
    wide = run(server, "ls", "-o", "wide").stdout.splitlines()
    header = wide[0].split()
    position = header.index("POSITION")
    positions = {row.split()[1]: row.split()[position] for row in wide[1:]}
    assert positions == {"first": "1", "second": "2", "elsewhere": "1"}
    table = run(server, "queues").stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["gpu"][5:7] == ["2", "0"] and rows["default"][5:7] == ["1", "0"]


def test_queues_and_the_wide_listing_show_each_queue_s_fair_share(
    server: LiveServer, agent: ScriptedAgent
) -> None:
    # One cluster of 10 job slots (its agent reports no resource figures): a job holds 10 %.
    define(server, "gpu", {"weight": 2})
    for name, queue in (("a", "gpu"), ("b", "gpu"), ("c", "default")):
        submitted = run(
            server, "submit", "--name", name, "--namespace", "default", "--image", "busybox",
            "--queue", queue, "-o", "json",
        )  # fmt: skip
        job_id = json.loads(submitted.stdout)["id"]
        wait_until(
            lambda job_id=job_id: state_of(server, job_id) == "created", timeout=10, what="placed"
        )
    table = run(server, "queues").stdout.splitlines()
    header = table[0].split()
    assert header[3:5] == ["SHARE", "WEIGHTED"]
    rows = {line.split()[0]: line.split()[3:5] for line in table[1:]}
    assert rows == {"gpu": ["20.0%", "10.0%"], "default": ["10.0%", "10.0%"]}
    wide = run(server, "ls", "-o", "wide").stdout.splitlines()
    header = wide[0].split()
    assert header.index("SHARE") == header.index("PRIORITY") + 1
    at = wide[0].index(" SHARE ") + 1  # placed jobs have no POSITION: read by the column's start
    shares = {row.split()[1]: row[at:].split()[0] for row in wide[1:]}
    assert shares == {"a": "20.0%", "b": "20.0%", "c": "10.0%"}
    assert "SHARE" not in run(server, "ls").stdout.splitlines()[0].split()
    listed = json.loads(run(server, "ls", "-o", "json").stdout)["items"]
    assert all("share" not in job for job in listed)  # a column, not a field of the job
