"""Settings that cannot work stop `kjs server` and `kjs up` before they serve: one line naming
the key, exit code 2 (CONTRACT §1: usage or configuration error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat_plugin import needs_compat

SHA = "0" * 64


def kjs(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kjs", *args, "--data-dir", str(tmp_path / "data")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,  # a process that starts serving instead fails the test
    )


@pytest.mark.parametrize("command", ["server", "up"])
@pytest.mark.parametrize(
    ("token", "line"),
    [
        (
            {"name": "ci", "sha256": SHA, "scopes": ["wrte"]},
            "kjs: configuration: auth.tokens[0].scopes: unknown scope 'wrte' (read, submit, admin)",
        ),
        (
            {"name": "ci", "sha256": "s3cret", "scopes": ["read"]},
            "kjs: configuration: auth.tokens[0].sha256: must be the token's SHA-256 as 64 hex "
            "digits (got 6 characters; `printf %s TOKEN | sha256sum`)",
        ),
    ],
)
def test_a_token_that_could_never_work_stops_the_process(
    tmp_path: Path, command: str, token: dict[str, object], line: str
) -> None:
    done = kjs(
        tmp_path, command, KJS_AUTH__TOKENS=json.dumps([token]), KUBECONFIG=str(tmp_path / "none")
    )
    assert (done.returncode, done.stderr.strip()) == (2, line)


@pytest.mark.parametrize("command", ["server", "up"])  # `up`: before it looks for a cluster
def test_open_mode_off_loopback_is_a_usage_error(tmp_path: Path, command: str) -> None:
    done = kjs(tmp_path, command, "--host", "0.0.0.0", KUBECONFIG=str(tmp_path / "none"))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "kjs: configuration: refusing to listen on 0.0.0.0 without API tokens ([auth] tokens): "
        "configure tokens, or pass --insecure to run open",
    )


@needs_compat
@pytest.mark.parametrize("command", ["server", "up"])
def test_compat_open_without_its_namespaces_is_a_configuration_error(
    tmp_path: Path, command: str
) -> None:
    done = kjs(tmp_path, command, KJS_AUTH__COMPAT_OPEN="true", KUBECONFIG=str(tmp_path / "none"))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "kjs: configuration: compat.open_namespaces: must name the namespaces the anonymous "
        "client may use when [compat] open (formerly [auth] compat_open) is true (it is empty)",
    )
