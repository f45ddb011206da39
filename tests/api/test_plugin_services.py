"""The typed services kjs hands plugins' hooks: a third-party plugin, defined inline, serves a
route built only on `PluginServices` (jobs, `access`, `guard`, `Action`) and adds a command built
only on `CommandServices`; no built-in plugin reads `app.state`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from litestar import Request, get
from litestar.params import FromPath
from litestar.testing import TestClient

import kjs.plugins
from kjs.api.auth import hash_token
from kjs.api.services import Action, PluginServices
from kjs.core.commands import CommandServices
from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.server import create_app

OWN, OTHER = "team-a", "team-b"
TOKENS = {
    "a-reader": {"name": "a-reader", "scopes": ["read"], "namespaces": [OWN]},
    "a-submitter": {"name": "a-submitter", "scopes": ["submit"], "namespaces": [OWN]},
    "b-submitter": {"name": "b-submitter", "scopes": ["submit"], "namespaces": [OTHER]},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer secret-{token}"}


class NamespacedJobs:
    """A third-party plugin: the caller's jobs, through the services it is given and nothing
    else."""

    def __init__(self) -> None:
        self.services: PluginServices | None = None

    @hookimpl
    def register_routes(self, services: PluginServices) -> list[Any]:
        self.services = services

        @get("/my-jobs", guards=[services.guard(Action.READ)])
        async def my_jobs(request: Request[Any, Any, Any]) -> list[str]:
            jobs, _ = await services.jobs.list_jobs(
                limit=100, cursor=None, namespaces=services.access(request).namespaces()
            )
            return sorted(job.spec.name for job in jobs)

        @get("/my-jobs/{namespace:str}", guards=[services.guard(services.Action.READ)])
        async def jobs_in(request: Request[Any, Any, Any], namespace: FromPath[str]) -> list[str]:
            services.access(request).check(Action.READ, namespace)
            jobs, _ = await services.jobs.list_jobs(limit=100, cursor=None, namespaces=[namespace])
            return sorted(job.spec.name for job in jobs)

        @get("/my-job/{job_id:str}", guards=[services.guard(Action.READ)])
        async def one_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> dict[str, str]:
            job = await services.access(request).job(job_id, Action.READ)
            return {"name": job.spec.name, "namespace": job.spec.namespace}

        # A write: the guard, not the default one, decides which scope it needs.
        @get("/my-jobs-admin", guards=[services.guard(Action.OPERATE)])
        async def admin_only() -> str:
            return "operated"

        return [my_jobs, jobs_in, one_job, admin_only]


@pytest.fixture
def plugin() -> NamespacedJobs:
    return NamespacedJobs()


@pytest.fixture
def client(tmp_path: Path, plugin: NamespacedJobs) -> Iterator[TestClient[Any]]:
    tokens = [{**t, "sha256": hash_token(f"secret-{key}")} for key, t in TOKENS.items()]
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "auth": {"tokens": tokens}})
    app = create_app(settings, plugins=Plugins(autoload=False, extra=[plugin]))
    with TestClient(app) as test_client:
        yield test_client


def submit(client: TestClient[Any], token: str, name: str, namespace: str) -> str:
    body = {"name": name, "namespace": namespace, "image": "busybox"}
    response = client.post("/api/v1/jobs", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_the_plugin_gets_the_servers_services(
    client: TestClient[Any], plugin: NamespacedJobs
) -> None:
    services = plugin.services
    assert isinstance(services, PluginServices)
    c = client.app.state.components
    assert services.jobs is client.app.state.jobs
    assert services.crons is client.app.state.crons
    assert (services.store, services.log_sink) == (c.store, c.log_sink)
    assert services.settings is client.app.state.settings
    assert services.Action is Action


def test_a_plugin_route_lists_only_the_callers_namespaces(client: TestClient[Any]) -> None:
    submit(client, "a-submitter", "mine", OWN)
    submit(client, "b-submitter", "theirs", OTHER)
    own = client.get("/my-jobs", headers=bearer("a-reader"))
    assert (own.status_code, own.json()) == (200, ["mine"])
    other = client.get("/my-jobs", headers=bearer("b-submitter"))
    assert (other.status_code, other.json()) == (200, ["theirs"])


def test_a_plugin_route_is_refused_for_another_namespace(client: TestClient[Any]) -> None:
    mine = submit(client, "a-submitter", "mine", OWN)
    theirs = submit(client, "b-submitter", "theirs", OTHER)
    allowed = client.get(f"/my-jobs/{OWN}", headers=bearer("a-reader"))
    assert (allowed.status_code, allowed.json()) == (200, ["mine"])
    refused = client.get(f"/my-jobs/{OTHER}", headers=bearer("a-reader"))
    assert refused.status_code == 403
    assert "may not use namespace 'team-b'" in refused.json()["detail"]
    assert client.get(f"/my-job/{mine}", headers=bearer("a-reader")).json() == {
        "name": "mine",
        "namespace": OWN,
    }
    assert client.get(f"/my-job/{theirs}", headers=bearer("a-reader")).status_code == 403
    assert client.get("/my-job/no-such-job", headers=bearer("a-reader")).status_code == 404


def test_a_plugin_route_is_guarded(client: TestClient[Any]) -> None:
    assert client.get("/my-jobs").status_code == 401
    assert client.get("/my-jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    # Its own guard decides: OPERATE needs `admin`, which no token here has (the default
    # guard would have let a `read` token GET it).
    weak = client.get("/my-jobs-admin", headers=bearer("a-submitter"))
    assert weak.status_code == 403
    assert "lacks the 'admin' scope" in weak.json()["detail"]


class ImportCount:
    """A third-party command, on `CommandServices` only: the server is not running."""

    @hookimpl
    def register_commands(self, cli: click.Group, services: CommandServices) -> None:
        @cli.command("count-jobs")
        @click.option("--config", "config_file", default=None)
        @click.option("--data-dir", default=None)
        def count_jobs(config_file: str | None, data_dir: str | None) -> None:
            settings = services.load_settings(config_file, data_dir=data_dir)
            store = services.build_components(settings).store
            store.migrate()
            jobs, _ = store.list_jobs(limit=100)
            click.echo(f"{len(jobs)} jobs in {settings.store} ({settings.data_dir})")


class OldStyleCommand:
    """A plugin written before `services` existed: it still works (an added hook argument)."""

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("hello")
        def hello() -> None:
            click.echo("hello")


def test_a_plugin_command_uses_the_command_services(tmp_path: Path) -> None:
    group = click.Group("kjs")
    plugins = Plugins(builtins=(), autoload=False, extra=[ImportCount(), OldStyleCommand()])
    plugins.add_commands(group, CommandServices())
    assert sorted(group.commands) == ["count-jobs", "hello"]
    counted = CliRunner().invoke(group, ["count-jobs", "--data-dir", str(tmp_path)])
    assert counted.exit_code == 0, counted.output
    assert counted.output == f"0 jobs in sqlite ({tmp_path})\n"
    assert CliRunner().invoke(group, ["hello"]).output == "hello\n"


def test_the_command_services_load_the_settings_as_kjs_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text('store = "sqlite"\nport = 9001\n')
    monkeypatch.setenv("KJS_PORT", "9002")
    services = CommandServices()
    assert services.load_settings(config).port == 9002  # file < environment
    assert services.load_settings(config, port=9003).port == 9003  # < flags
    assert services.load_settings(config, port=None).port == 9002  # None: not given


def _reads_app_state(node: ast.AST) -> bool:
    """`<anything>.app.state` (or `getattr(….app, "state")`)."""
    if isinstance(node, ast.Attribute) and node.attr == "state":
        target = node.value
        return isinstance(target, ast.Attribute) and target.attr == "app"
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr":
        args = node.args
        return (
            len(args) >= 2
            and isinstance(args[0], ast.Attribute)
            and args[0].attr == "app"
            and isinstance(args[1], ast.Constant)
            and args[1].value == "state"
        )
    return False


def test_no_built_in_plugin_reads_app_state() -> None:
    root = Path(kjs.plugins.__file__).parent
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 10  # the scan sees the plugins
    readers = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if _reads_app_state(node)
    ]
    assert readers == [], "plugins use the services their hooks receive, not app.state"
    assert [p.name for p in sources if "app.state" in p.read_text()] == []


def test_the_scan_would_see_a_plugin_reading_app_state() -> None:
    for source in ("request.app.state.jobs", "getattr(request.app, 'state')"):
        assert any(_reads_app_state(node) for node in ast.walk(ast.parse(source)))
    assert not any(_reads_app_state(node) for node in ast.walk(ast.parse("services.jobs")))
