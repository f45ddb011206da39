"""What a Tab press and `kjs --help` cost: completion of job and cron job ids from the server,
command names without loading the plugins, and the modules `kjs --help` must not import."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from kjs.cli import main
from tests.cli.support import KJS, run, submit
from tests.live import LiveServer

HEAVY = ("kjs.plugins", "kjs.client", "httpx", "yaml", "litestar", "sqlalchemy", "kjs.server")


def complete(words: str, shell: str = "zsh", **env: str) -> list[tuple[str, str]]:
    """What the program offers for `words` (the last one being completed): (value, help)."""
    parts = words.split(" ")
    done = subprocess.run(
        [str(KJS)],
        env={
            **os.environ,
            "_KJS_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    if shell == "bash":
        return [(line.split(",", 1)[1], "") for line in done.stdout.splitlines()]
    lines = done.stdout.splitlines() if done.stdout.strip() else []  # zsh: "\n" for nothing
    return [(lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def test_job_ids_are_completed_from_the_server_with_their_names(server: LiveServer) -> None:
    jobs = [submit(server, name) for name in ("alpha", "beta", "gamma")]
    offered = complete("kjs get ", KJS_URL=server.url)
    assert sorted(offered) == sorted((j["id"], f"{j['name']} (pending)") for j in jobs)
    # A prefix narrows them down (ids share their leading, time-ordered digits).
    prefix = jobs[1]["id"][:-4]
    assert [value for value, _ in complete(f"kjs cancel {prefix}", KJS_URL=server.url)] == [
        jobs[1]["id"]
    ]
    for command in ("logs", "events", "rerun"):
        assert len(complete(f"kjs {command} ", KJS_URL=server.url)) == 3
    # --url on the line wins over the environment.
    assert len(complete(f"kjs get --url {server.url} ", KJS_URL="http://127.0.0.1:9")) == 3


def test_cron_ids_are_completed_for_the_cron_commands(server: LiveServer) -> None:
    body = {"name": "nightly", "namespace": "default", "image": "b", "schedule": "0 3 * * *"}
    created = server.post("/api/v1/cronjobs", json={**body, "mode": "managed"}).json()
    for verb in ("get", "delete", "suspend", "resume", "trigger"):
        offered = complete(f"kjs cron {verb} ", KJS_URL=server.url)
        assert offered == [(created["id"], "nightly (0 3 * * *)")]


def test_completion_offers_nothing_when_the_server_does_not_answer() -> None:
    assert complete("kjs get ", KJS_URL="http://127.0.0.1:9") == []


def test_completion_sends_the_token(server: LiveServer, tmp_path: Any) -> None:
    import hashlib

    from kjs.core.config import load
    from kjs.server import create_app
    from tests.live import live_server

    digest = hashlib.sha256(b"s3cret").hexdigest()
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "guarded"),
            "auth": {"tokens": [{"name": "me", "sha256": digest, "scopes": ["submit"]}]},
        },
    )
    with live_server(create_app(settings)) as guarded:
        job = guarded.post(
            "/api/v1/jobs",
            json={"name": "mine", "namespace": "default", "image": "b"},
            headers={"Authorization": "Bearer s3cret"},
        ).json()
        assert complete("kjs get ", KJS_URL=guarded.url) == []
        assert [v for v, _ in complete("kjs get ", KJS_URL=guarded.url, KJS_TOKEN="s3cret")] == [
            job["id"]
        ]


def test_output_formats_are_completed() -> None:
    assert [v for v, _ in complete("kjs ls -o ", shell="bash")] == [
        "table",
        "wide",
        "name",
        "json",
        "yaml",
        "jsonpath=",
    ]


def importtime(*args: str, **env: str) -> set[str]:
    """The modules a fresh `python -m kjs ARGS…` imports (`-X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kjs", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--help",), {}),
        (("get", "--help"), {}),
        (("submit", "--help"), {}),
        (("cron", "trigger", "--help"), {}),
        ((), {"_KJS_COMPLETE": "bash_complete", "COMP_WORDS": "kjs ge", "COMP_CWORD": "1"}),
        ((), {"_KJS_COMPLETE": "bash_complete", "COMP_WORDS": "kjs ls -", "COMP_CWORD": "2"}),
    ],
)
def test_help_and_completion_import_no_plugin_sdk_or_server(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    modules = importtime(*args, **env)
    assert "kjs.cli" in modules
    assert heavy(modules) == []


def test_the_importtime_check_sees_what_a_command_needs() -> None:
    # `kjs plugins` loads the plugins, and they import the server's libraries: the check sees
    # them, so an empty answer above means something.
    seen = heavy(importtime("plugins"))
    assert any(m.startswith("kjs.plugins.") for m in seen)
    assert "sqlalchemy" in seen and "litestar" in seen


def test_plugin_commands_still_run_and_are_listed_by_kjs_plugins() -> None:
    helped = CliRunner().invoke(main, ["import-legacy", "--help"])
    assert helped.exit_code == 0 and "--dsn" in helped.output
    listed = CliRunner().invoke(main, ["plugins"])
    assert "commands added by plugins: import-legacy" in listed.output
    # A plugin's command name completes (its plugins loaded only then).
    assert ("import-legacy", "") in complete("kjs imp", shell="bash")
    unknown = CliRunner().invoke(main, ["submti"])
    assert unknown.exit_code == 2 and "Did you mean 'submit'" in unknown.output


def test_help_lists_the_built_in_commands_and_points_at_plugins(server: LiveServer) -> None:
    helped = CliRunner().invoke(main, ["--help"])
    for name in ("submit", "get", "ls", "logs", "cron", "token", "server", "up", "plugins"):
        assert f"\n  {name} " in helped.output
    assert "`kjs plugins` lists them" in helped.output
    assert run(server, "ls").exit_code == 0  # and the commands listed do run
