"""The client commands against a real server (no Kubernetes): paging, every output format,
errors and exit codes, cron jobs and clusters."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from kjs.cli import main
from kjs.testing.waiting import wait_until
from tests.cli.support import ScriptedAgent, run, submit
from tests.live import LiveServer


def ids(result_stdout: str) -> list[str]:
    return [line.split()[0] for line in result_stdout.splitlines()[1:]]


def test_ls_shows_limit_rows_then_says_how_to_get_the_rest(server: LiveServer) -> None:
    submitted = [submit(server, f"job-{i}")["id"] for i in range(7)]
    newest_first = submitted[::-1]

    first = run(server, "ls", "--limit", "3")
    assert first.exit_code == 0, first.output
    assert ids(first.stdout) == newest_first[:3]
    (hint,) = first.stderr.splitlines()
    assert hint.startswith("kjs: more jobs than these 3: --all lists every one, --cursor ")
    cursor = hint.split("--cursor ")[1].split()[0]

    # The cursor goes on where the page ended; the last page says nothing more.
    second = run(server, "ls", "--limit", "3", "--cursor", cursor)
    assert ids(second.stdout) == newest_first[3:6]
    third = run(
        server, "ls", "--limit", "3", "--cursor", second.stderr.split("--cursor ")[1].split()[0]
    )
    assert ids(third.stdout) == newest_first[6:] and third.stderr == ""

    everything = run(server, "ls", "--all")
    assert ids(everything.stdout) == newest_first and everything.stderr == ""

    # json carries the cursor for scripts.
    page = json.loads(run(server, "ls", "--limit", "2", "-o", "json").stdout)
    assert [j["id"] for j in page["items"]] == newest_first[:2] and page["next_cursor"]


def test_ls_pages_past_the_servers_largest_page(server: LiveServer) -> None:
    response = server.post(
        "/api/v1/jobs:batch",
        json={
            "items": [
                {"job": {"name": f"b{i}", "namespace": "default", "image": "busybox"}}
                for i in range(520)
            ]
        },
    )
    assert response.status_code in (200, 201), response.text
    many = run(server, "ls", "--limit", "510", "--no-headers", "-o", "name")
    assert len(many.stdout.splitlines()) == 510 and "--cursor" in many.stderr
    every = run(server, "ls", "--all", "-o", "name")
    assert len(every.stdout.splitlines()) == 520 and every.stderr == ""


def test_ls_filters_by_label_state_and_name(server: LiveServer) -> None:
    a = submit(server, "alpha", labels={"team": "a"})
    submit(server, "beta", labels={"team": "b"})
    cancelled = submit(server, "gamma", labels={"team": "a"})
    assert run(server, "cancel", cancelled["id"]).exit_code == 0
    by_label = run(server, "ls", "--label", "team=a", "-o", "jsonpath={.items[*].name}")
    assert by_label.stdout.split() == ["gamma", "alpha"]
    by_state = run(server, "ls", "--state", "pending", "--label", "team=a", "-o", "name")
    assert by_state.stdout.split() == [f"job/{a['id']}"]
    by_name = run(server, "ls", "--name", "beta", "--no-headers")
    assert [line.split()[1] for line in by_name.stdout.splitlines()] == ["beta"]
    bad = run(server, "ls", "--label", "team")
    assert bad.exit_code == 2 and "expected key=value" in bad.stderr


def test_get_in_every_format(server: LiveServer) -> None:
    job = submit(server, "shown")
    table = run(server, "get", job["id"]).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "NAMESPACE", "STATE", "AGE"]
    cells = table[1].split()
    assert cells[:4] == [job["id"], "shown", "default", "pending"]
    assert cells[4].endswith("s")  # relative: seconds old

    wide = run(server, "get", job["id"], "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "ID",
        "NAME",
        "NAMESPACE",
        "STATE",
        "QUEUE",
        "POSITION",
        "PRIORITY",
        "CLUSTER",
        "GANG",
        "ATTEMPT",
        "REASON",
        "STARTED",
        "FINISHED",
        "DURATION",
        "AGE",
    ]
    (bare,) = run(server, "get", job["id"], "--no-headers").stdout.splitlines()
    assert bare.split() == cells
    assert run(server, "get", job["id"], "-o", "name").stdout == f"job/{job['id']}\n"
    as_json = json.loads(run(server, "get", job["id"], "-o", "json").stdout)
    assert as_json == server.get(f"/api/v1/jobs/{job['id']}").json()
    as_yaml = run(server, "get", job["id"], "-o", "yaml").stdout
    assert as_yaml.startswith("name: shown\n") and yaml.safe_load(as_yaml) == as_json
    assert run(server, "get", job["id"], "-o", "jsonpath={.state}").stdout == "pending\n"
    refused = run(server, "get", job["id"], "-o", "xml")
    assert refused.exit_code == 2 and "one of table, wide, name, json, yaml" in refused.stderr


def test_submit_dry_run_prints_the_manifest_and_stores_nothing(server: LiveServer) -> None:
    flags = ("--name", "dry", "--namespace", "default", "--image", "busybox", "--dry-run")
    as_yaml = run(server, "submit", *flags, "--", "echo", "hi")
    assert as_yaml.exit_code == 0, as_yaml.output
    manifest = yaml.safe_load(as_yaml.stdout)
    assert manifest["kind"] == "Job" and manifest["metadata"]["namespace"] == "default"
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["echo", "hi"]
    as_json = json.loads(run(server, "submit", *flags, "-o", "json").stdout)
    assert as_json["apiVersion"] == "batch/v1"
    assert server.get("/api/v1/jobs").json()["items"] == []
    invalid = run(
        server,
        "submit",
        "--name",
        "Bad_Name",
        "--namespace",
        "default",
        "--image",
        "b",
        "--dry-run",
    )
    assert invalid.exit_code == 2 and invalid.stderr.startswith("kjs: name: ")


def test_events_cancel_rerun(server: LiveServer, agent: ScriptedAgent) -> None:
    agent.script["runs"] = ["created", "running", "failed"]
    job = submit(server, "runs")
    wait_until(
        lambda: server.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "failed",
        timeout=10,
        what="the job to fail",
    )
    table = run(server, "events", job["id"]).stdout.splitlines()
    assert table[0].split()[:4] == ["AGE", "ATTEMPT", "STATE", "REASON"]
    assert [line.split()[2] for line in table[1:]] == [
        "pending",
        "dispatched",
        "created",
        "running",
        "failed",
    ]
    as_json = json.loads(run(server, "events", job["id"], "-o", "json").stdout)
    assert as_json == server.get(f"/api/v1/jobs/{job['id']}/events").json()
    states = run(server, "events", job["id"], "-o", "jsonpath={.items[*].state}").stdout.split()
    assert states[-1] == "failed"

    rerun = run(server, "rerun", job["id"], "-o", "jsonpath={.attempt}")
    assert rerun.exit_code == 0 and rerun.stdout == "2\n"
    other = submit(server, "stopped")
    cancelled = run(server, "cancel", other["id"], "-o", "jsonpath={.state}")
    assert cancelled.stdout == "cancelling\n"  # dispatched: its cluster deletes it first


def test_errors_are_one_line_with_the_contracts_exit_codes(server: LiveServer) -> None:
    invalid = run(server, "submit", "--name", "Bad_Name", "--namespace", "default", "--image", "b")
    assert invalid.exit_code == 2
    (line,) = invalid.stderr.splitlines()
    assert line.startswith("kjs: name: a lowercase RFC 1123 label")
    two = run(server, "submit", "--name", "Bad_Name", "--namespace", "Bad NS", "--image", "b")
    assert two.exit_code == 2 and "name: " in two.stderr and "; namespace: " in two.stderr
    missing = run(server, "get", "00000000-0000-4000-8000-000000000000")
    assert missing.exit_code == 2 and "not found" in missing.stderr.lower()
    gone = CliRunner().invoke(main, ["ls", "--url", "http://127.0.0.1:9"])
    assert gone.exit_code == 3
    assert gone.stderr.startswith("kjs: kjs server at http://127.0.0.1:9 unreachable")


def test_clusters_and_cron_jobs(
    server: LiveServer,
    agent: ScriptedAgent,
) -> None:
    table = run(server, "clusters").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "STATE", "CAPACITY"] and table[1].split()[:2] == [
        "c1",
        "ready",
    ]
    assert run(server, "clusters", "-o", "name").stdout == "cluster/c1\n"
    cron = json.dumps(
        {
            "name": "nightly",
            "namespace": "default",
            "image": "busybox",
            "schedule": "0 3 * * *",
            "mode": "managed",
        }
    )
    created = run(server, "cron", "create", "-f", "-", "-o", "json", input=cron)
    assert created.exit_code == 0, created.output
    cron_id = json.loads(created.stdout)["id"]
    listed = run(server, "cron", "ls").stdout.splitlines()
    assert listed[0].split()[:4] == ["ID", "NAME", "NAMESPACE", "SCHEDULE"]
    assert listed[1].split()[:3] == [cron_id, "nightly", "default"]
    assert run(server, "cron", "ls", "-o", "name").stdout == f"cronjob/{cron_id}\n"
    suspended = run(server, "cron", "suspend", cron_id, "-o", "jsonpath={.suspend}")
    assert suspended.stdout == "true\n"
    assert run(server, "cron", "resume", cron_id, "-o", "jsonpath={.suspend}").stdout == "false\n"
    run_of = run(server, "cron", "trigger", cron_id, "-o", "json")
    assert json.loads(run_of.stdout)["cron_id"] == cron_id
    assert run(server, "cron", "delete", cron_id, "-o", "name").stdout == f"cronjob/{cron_id}\n"
    assert run(server, "cron", "get", cron_id).exit_code == 2
