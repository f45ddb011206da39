"""`kjs-testenv` as a contributor uses it: up, status, env.json, token, down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kjs.testing.build import COMPONENTS
from kjs.testing.pytest_plugin import Cluster


def kjs_testenv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kjs.testing", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=None if env is None else {**os.environ, **env},
    )


def test_a_cached_build_names_each_step_and_says_cached() -> None:
    missing = [c.name for c in COMPONENTS.values() if not c.is_built()]
    if missing:
        pytest.skip(f"not built yet: {missing} (`kjs-testenv build`)")
    built = kjs_testenv("build")
    assert built.returncode == 0, built.stderr
    assert built.stdout == ""  # progress is for people: stderr
    lines = built.stderr.splitlines()
    for index, c in enumerate(COMPONENTS.values(), 1):
        step = f"{c.name} {c.version} ({index}/{len(COMPONENTS)}): cached in {c.bin_dir}"
        assert any(line.startswith(step) for line in lines), built.stderr
    quiet = kjs_testenv("build", "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_a_failed_build_shows_the_tail_and_the_path_of_its_log(tmp_path: Path) -> None:
    # A cold build in an empty cache, with module downloads turned off: `go get` fails at once.
    cache = tmp_path / "cache"
    failed = kjs_testenv(
        "build",
        "--only",
        "nsq",
        env={
            "KJS_TESTENV_CACHE": str(cache),
            "GOPROXY": "off",
            "GOMODCACHE": str(tmp_path / "gomod"),
        },
    )
    assert failed.returncode == 1
    log = cache / f"nsq-{COMPONENTS['nsq'].version}" / "build.log"
    assert f"building nsq {COMPONENTS['nsq'].version} (1/1)" in failed.stderr
    assert "failed after" in failed.stderr
    assert f"the whole log: {log}" in failed.stderr
    assert "module lookup disabled by GOPROXY=off" in log.read_text()
    assert "module lookup disabled by GOPROXY=off" in failed.stderr  # the tail, shown
    assert not (log.parent / "bin").exists()  # nothing half-built counts as built


@pytest.mark.mysql
@pytest.mark.nsq
def test_up_status_and_down_of_a_partial_environment(tmp_path: Path) -> None:
    directory = tmp_path / "env"
    started = kjs_testenv("up", "--dir", str(directory), "--only", "mysql,nsq")
    assert started.returncode == 0, started.stderr
    try:
        assert started.stdout.strip() == str(directory / "env.json")
        # What it starts, how long each took, and where the logs and env.json are.
        progress = started.stderr
        assert f"each process logs to {directory / 'logs'}" in progress
        assert "starting MariaDB (1/2)" in progress and "mysql: ready in" in progress
        assert "starting nsqlookupd and 2 nsqd (2/2)" in progress and "nsq: ready in" in progress
        assert f"{directory / 'env.json'}; stop it with `kjs-testenv down" in progress
        assert (directory / "logs" / "mysql.log").is_file()
        env = json.loads((directory / "env.json").read_text())
        assert env["version"] == 1
        assert set(env) == {"version", "mysql", "nsq"}  # parts not asked for are absent
        assert env["mysql"]["url"].startswith("mysql+pymysql://kjs:")
        assert env["mysql"]["url"].endswith("/kjs_test")
        assert len(env["nsq"]["nsqd"]) == 2
        assert all(a.startswith("127.0.0.1:") for n in env["nsq"]["nsqd"] for a in n.values())

        status = kjs_testenv("status", "--dir", str(directory))
        assert status.returncode == 0
        assert status.stdout.split() == [
            "mysql",
            "running",
            "nsqlookupd",
            "running",
            "nsqd1",
            "running",
            "nsqd2",
            "running",
        ]
        again = kjs_testenv("up", "--dir", str(directory), "--only", "nsq")
        assert again.returncode == 1
        assert "already runs nsq" in again.stderr
    finally:
        stopped = kjs_testenv("down", "--dir", str(directory))
    assert stopped.returncode == 0
    assert not directory.exists()
    after = kjs_testenv("status", "--dir", str(directory))
    assert after.returncode == 1
    assert kjs_testenv("down", "--dir", str(directory)).returncode == 0  # already down: fine


def test_up_refuses_unknown_parts_and_too_many_clusters(tmp_path: Path) -> None:
    bad_part = kjs_testenv("up", "--dir", str(tmp_path / "x"), "--only", "redis")
    assert bad_part.returncode == 1 and "unknown part(s) ['redis']" in bad_part.stderr
    too_many = kjs_testenv("up", "--dir", str(tmp_path / "y"), "--clusters", "4")
    assert too_many.returncode == 1 and "--clusters must be 1..3" in too_many.stderr


@pytest.mark.k8s
def test_token_prints_a_kubeconfig_for_a_service_account(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[1]
    out = kjs_testenv(
        "token",
        "--dir",
        str(cluster.directory),
        "--cluster",
        cluster.id,
        "--namespace",
        k8s_namespace,
        "--service-account",
        "agent",
    )
    assert out.returncode == 0, out.stderr
    api = config.new_client_from_config(config_file=out.stdout.strip())
    try:
        with pytest.raises(ApiException) as refused:  # no Role grants it anything yet
            client.CoreV1Api(api).list_namespaced_pod(k8s_namespace)
        assert refused.value.status == 403
        assert f"system:serviceaccount:{k8s_namespace}:agent" in refused.value.body
    finally:
        api.close()
