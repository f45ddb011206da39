"""pytest plugin: the real test environment, brought up once per run and handed to tests.

Either point it at a running environment (`--testenv-dir D` or `KJS_TESTENV_DIR=D`, e.g. from
`kjs-testenv up --dir D`), or let it start each part the first time a test asks for it and stop
it at the end of the run. A test that needs a part that cannot be had fails, saying how to get
it; it is never skipped.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kjs.testing import env as testenv
from kjs.testing.build import MissingBinaryError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kjs-testenv")
    group.addoption(
        "--testenv-dir",
        default=os.environ.get("KJS_TESTENV_DIR"),
        help="Use the environment already running in this directory (default: start parts "
        "on demand; env KJS_TESTENV_DIR).",
    )
    group.addoption(
        "--testenv-clusters",
        type=int,
        default=3,  # the distributed tests spread work over three
        help="Clusters to start when the plugin starts Kubernetes itself.",
    )


class TestEnvironment:
    """The parts of the environment this run has, started lazily unless given."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, base: Path, existing: Path | None, clusters: int) -> None:
        self.base = base
        self.existing = existing
        self.clusters = clusters
        self.started: list[Path] = []
        self._env: dict[str, Any] = testenv.load(existing) if existing else {"version": 1}
        self._failed: dict[str, str] = {}

    def require(self, part: str) -> dict[str, Any]:
        """The env.json sections for `part` (mysql, nsq, k8s), starting it if need be."""
        key = {"k8s": "clusters"}.get(part, part)
        if key in self._env:
            return self._env
        if self.existing is not None:
            pytest.fail(
                f"the test environment in {self.existing} has no {part}: start it with "
                f"`kjs-testenv up --dir {self.existing} --only {part}`, or run without "
                "--testenv-dir/KJS_TESTENV_DIR to let the tests start it",
                pytrace=False,
            )
        if part in self._failed:  # do not retry a slow failure for every test
            pytest.fail(self._failed[part], pytrace=False)
        directory = self.base / part
        self.started.append(directory)
        try:
            self._env.update(testenv.up(directory, clusters=self.clusters, only=[part]))
        except (MissingBinaryError, RuntimeError, OSError) as e:
            self._failed[part] = f"cannot start {part} for the tests: {e}"
            pytest.fail(self._failed[part], pytrace=False)
        return self._env

    def restart(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        """Crash (SIGKILL) or stop a server of the environment and start it again: `mysql`,
        `nsqd1`, `nsqd2`, `nsqlookupd`."""
        part = "mysql" if name == "mysql" else "nsq"
        self.require(part)
        testenv.restart(self.existing or self.base / part, name, sig=sig)

    def stop(self) -> None:
        for directory in reversed(self.started):
            testenv.down(directory)


@pytest.fixture(scope="session")
def testenv_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestEnvironment]:
    existing = request.config.getoption("--testenv-dir")
    env = TestEnvironment(
        tmp_path_factory.mktemp("testenv"),
        Path(existing).resolve() if existing else None,
        request.config.getoption("--testenv-clusters"),
    )
    yield env
    env.stop()


@pytest.fixture(scope="session")
def mysql_env(testenv_session: TestEnvironment) -> dict[str, str]:
    """`{"url": …, "admin_url": …}` of the real MariaDB."""
    section: dict[str, str] = testenv_session.require("mysql")["mysql"]
    return section


@pytest.fixture(scope="session")
def mysql_url(mysql_env: dict[str, str]) -> str:
    """SQLAlchemy URL of the `kjs_test` database on the real MariaDB."""
    return mysql_env["url"]


@pytest.fixture(scope="session")
def nsq_env(testenv_session: TestEnvironment) -> dict[str, list[dict[str, str]]]:
    """`{"nsqd": [{tcp, http}, …], "lookupd": [{tcp, http}]}` of the real NSQ."""
    section: dict[str, list[dict[str, str]]] = testenv_session.require("nsq")["nsq"]
    return section


@dataclass
class Cluster:
    """One test cluster, with ready official-client APIs authenticated as cluster admin."""

    id: str
    server: str
    kubeconfig: str
    ca_file: str
    token: str
    node: str
    directory: Path
    api: Any = field(repr=False)  # kubernetes.client.ApiClient

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def coordination(self) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(self.api)

    @property
    def rbac(self) -> Any:
        from kubernetes import client

        return client.RbacAuthorizationV1Api(self.api)

    def job_gone(self, namespace: str, name: str) -> bool:
        """Whether the Job `namespace/name` is not (or no longer) on this cluster."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.batch.read_namespaced_job(name, namespace)
        except ApiException as e:
            return bool(e.status == 404)
        return False

    def service_account_kubeconfig(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig for `namespace/service_account` (TokenRequest), as `kjs-testenv token`."""
        from kjs.testing import kube

        entry = {"id": self.id, "server": self.server, "ca_file": self.ca_file, "token": self.token}
        return kube.service_account_kubeconfig(self.directory, entry, namespace, service_account)


@pytest.fixture(scope="session")
def k8s_clusters(testenv_session: TestEnvironment) -> Iterator[list[Cluster]]:
    """Every test cluster of the environment."""
    from kubernetes import config

    env = testenv_session.require("k8s")
    directory = testenv_session.existing or testenv_session.base / "k8s"
    clusters = [
        Cluster(
            id=c["id"],
            server=c["server"],
            kubeconfig=c["kubeconfig"],
            ca_file=c["ca_file"],
            token=c["token"],
            node=c["node"],
            directory=directory,
            api=config.new_client_from_config(config_file=c["kubeconfig"]),  # type: ignore[no-untyped-call]
        )
        for c in env["clusters"]
    ]
    yield clusters
    for c in clusters:
        c.api.close()


@pytest.fixture
def k8s_namespace(k8s_clusters: list[Cluster]) -> Iterator[str]:
    """A fresh namespace, present in every cluster, deleted after the test."""
    name = f"t-{secrets.token_hex(4)}"
    for c in k8s_clusters:
        c.core.create_namespace({"metadata": {"name": name}})
    yield name
    for c in k8s_clusters:
        c.core.delete_namespace(name)
