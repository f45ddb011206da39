"""The `kjs` command: plugins, migrate, configuration errors, `submit -f` of several jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kjs.cli import main


def test_plugins_lists_every_builtin_backend() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0
    for backend in (
        "store:sqlite",
        "store:mysql",
        "queue:memory",
        "queue:nsq",
        "balancer:leastload",
        "log_sink:db",
        "election:db",
        "election:single",
    ):
        assert backend in result.output


def test_migrate_prints_ddl_or_applies_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KJS_DATA_DIR", str(tmp_path))
    ddl = CliRunner().invoke(main, ["migrate", "--sql"])
    assert ddl.exit_code == 0 and "CREATE TABLE jobs" in ddl.output
    assert not (tmp_path / "kjs.db").exists() or (tmp_path / "kjs.db").stat().st_size == 0
    applied = CliRunner().invoke(main, ["migrate"])
    assert applied.exit_code == 0, applied.output
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "kjs.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"jobs", "job_events", "job_logs", "clusters", "outbox", "cronjobs", "leases"} <= tables


def test_a_bad_setting_stops_with_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KJS_PORT", "eighty")
    result = CliRunner().invoke(main, ["server"])
    assert result.exit_code == 2
    assert result.output.strip() == "kjs: configuration: port: Expected `int`, got `str`"


def test_an_unknown_backend_names_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KJS_STORE", "postgres")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "kjs: configuration: store = 'postgres': no such store "
        "backend is installed (installed: mysql, sqlite)"
    )


def test_up_says_in_one_line_when_the_cluster_cannot_be_reached(tmp_path: Path) -> None:
    import json

    kubeconfig = tmp_path / "nowhere.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [
                    {
                        "name": "x",
                        "cluster": {
                            "server": "https://127.0.0.1:9",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
            }
        )
    )
    result = CliRunner().invoke(
        main, ["up", "--kubeconfig", str(kubeconfig), "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 3
    (line,) = result.output.strip().splitlines()
    assert line.startswith("kjs: Kubernetes API at https://127.0.0.1:9 unreachable: ")


def test_completion_scripts_and_completing_a_command(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(main, ["completion", shell])
        assert result.exit_code == 0 and "_KJS_COMPLETE" in result.output
    # What the bash script asks the program when a user types `kjs su<TAB>`:
    kjs = Path(sys.executable).parent / "kjs"
    env = {
        **os.environ,
        "_KJS_COMPLETE": "bash_complete",
        "COMP_WORDS": "kjs su",
        "COMP_CWORD": "1",
    }
    done = subprocess.run([str(kjs)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "plain,submit" in done.stdout.splitlines(), done.stdout + done.stderr


def test_submit_f_with_several_documents_sends_them_in_one_batch(tmp_path: Path) -> None:
    import json

    from kjs.core.config import load
    from kjs.server import create_app
    from tests.live import live_server

    def submit(live: Any, text: str, *flags: str) -> Any:
        jobs = tmp_path / "jobs.yaml"
        jobs.write_text(text)
        return CliRunner().invoke(main, ["submit", "--url", live.url, "-f", str(jobs), *flags])

    def job(name: str) -> str:
        return f"name: {name}\nnamespace: ops\nimage: busybox\ncommand: [echo, {name}]\n"

    def batch_requests(live: Any) -> float:
        """How many requests the batch route has answered (the metrics are the process's)."""
        metrics = live.get("/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("kjs_requests_total{") and 'path="/api/v1/jobs:batch"' in line
        )

    settings = load(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    with live_server(create_app(settings)) as live:
        before = batch_requests(live)
        # A YAML stream: one request, one table row per job, in order.
        table = submit(live, job("one") + "---\n" + job("two"))
        assert table.exit_code == 0, table.output
        header, *rows = table.stdout.splitlines()
        assert header.split()[:4] == ["ID", "NAME", "NAMESPACE", "STATE"]
        assert [row.split()[1:4] for row in rows] == [
            ["one", "ops", "pending"],
            ["two", "ops", "pending"],
        ]
        assert batch_requests(live) == before + 1
        # A JSON list, the flags over every document; -o json is the batch's answer.
        listed = json.dumps([{"name": "three", "image": "busybox"}, {"name": "four", "image": "x"}])
        answer = submit(live, listed, "--namespace", "team-b", "-o", "json")
        assert answer.exit_code == 0, answer.output
        items = json.loads(answer.stdout)["items"]
        assert [(j["name"], j["namespace"]) for j in items] == [
            ("three", "team-b"),
            ("four", "team-b"),
        ]
        assert batch_requests(live) == before + 2
        # All or none: the server's field errors, by item; nothing stored.
        refused = submit(live, job("five") + "---\n" + job("Bad_Name"))
        assert refused.exit_code == 2
        assert refused.stderr.startswith("kjs: items[1].name: ")
        # One document keeps the single route.
        single = submit(live, job("Bad_Name"))
        assert single.exit_code == 2 and single.stderr.startswith("kjs: name: ")
        assert batch_requests(live) == before + 3
        names = [j["name"] for j in live.get("/api/v1/jobs").json()["items"]]
        assert sorted(names) == ["four", "one", "three", "two"]
