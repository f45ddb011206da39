"""`kjs token create`: the token once, and an `[auth] tokens` entry that a server configured with
it accepts the token by."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from click.testing import CliRunner

from kjs.cli import main
from kjs.core.config import load
from kjs.server import create_app
from tests.live import live_server


def create(*flags: str) -> tuple[str, str, int, str]:
    result = CliRunner().invoke(main, ["token", "create", *flags])
    secret, _, entry = result.stdout.partition("\n")
    return secret, entry, result.exit_code, result.stderr


def test_the_entry_holds_the_hash_of_the_token_and_a_server_accepts_it(tmp_path: Path) -> None:
    secret, entry, code, said = create(
        "--name", "ci", "--scopes", "submit", "--namespaces", "team-a,team-b"
    )
    assert code == 0 and "shown only now" in said
    assert len(secret) >= 43 and secret not in entry  # 32 random bytes; never in the entry
    config = tomllib.loads(entry)
    (token,) = config["auth"]["tokens"]
    assert token == {
        "name": "ci",
        "sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "scopes": ["submit"],
        "namespaces": ["team-a", "team-b"],
    }
    # Pasted into a config file, as the server reads it.
    (tmp_path / "kjs.toml").write_text(entry + "\n")
    settings = load(tmp_path / "kjs.toml", environ={}, overrides={"data_dir": str(tmp_path)})
    with live_server(create_app(settings)) as server:

        def kjs(*args: str, token: str | None = secret) -> tuple[int, str]:
            env = {"KJS_URL": server.url, "KJS_TOKEN": token}
            result = CliRunner().invoke(main, list(args), env=env)
            return result.exit_code, result.stdout + result.stderr

        job = ("--name", "hi", "--image", "busybox", "-o", "name")
        code, out = kjs("submit", "--namespace", "team-a", *job)
        assert code == 0 and out.startswith("job/"), out
        assert kjs("ls", "-o", "name")[1] == out
        assert kjs("ls", token=None)[0] == 3  # no token: refused
        assert kjs("ls", token=secret + "x")[0] == 3
        code, out = kjs("submit", "--namespace", "team-c", *job)
        assert code == 3 and out.startswith("kjs: "), out  # not its namespace


def test_json_for_the_charts_secret_and_two_tokens_differ() -> None:
    secret, entry, code, said = create(
        "--name", "admin", "--scopes", "read", "--scopes", "admin", "-o", "json"
    )
    assert code == 0 and "secrets.authTokens" in said
    assert json.loads(entry.strip()) == {
        "name": "admin",
        "sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "scopes": ["read", "admin"],
        "namespaces": [],
    }
    assert create("--name", "admin", "-o", "json")[0] != create("--name", "admin", "-o", "json")[0]


def test_what_the_config_would_refuse_is_refused_here() -> None:
    _, _, code, said = create("--name", "x", "--scopes", "owner")
    assert code == 2
    assert said.strip() == "kjs: --scopes: unknown scope 'owner' (read, submit, admin)"
    _, _, code, said = create("--name", "x", "--namespaces", "Team_A")
    assert code == 2 and "'Team_A' is not a Kubernetes namespace name" in said
    _, _, code, said = create("--name", " ")
    assert code == 2 and said.strip() == "kjs: --name: empty"
    missing = CliRunner().invoke(main, ["token", "create"])
    assert missing.exit_code == 2 and "--name" in missing.stderr
