"""The process commands of `kjs` (CONTRACT §1): server, agent, up, migrate, plugins,
completion. Each imports what it runs inside the command, so that `kjs --help` and completion do
not import the server, the agent or the plugins.

Exit codes: 0 ok, 2 a configuration or usage error, 3 the cluster cannot be used.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kjs.core.config import Settings

_CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    envvar="KJS_CONFIG",
    help="TOML configuration file.",
)


def _settings(
    config_file: str | None, *, defaults: dict[str, Any] | None = None, **flags: Any
) -> Settings:
    from kjs.core.backends import BackendError
    from kjs.core.config import ConfigError, load

    try:
        # Plugins' sections ([<section>], KJS_<SECTION>__KEY) are validated here too, by the
        # plugins the environment enables: a misspelled or mistyped one stops before anything runs.
        return load(config_file, overrides=flags, defaults=defaults)
    except (ConfigError, BackendError) as e:
        click.echo(f"kjs: configuration: {e}", err=True)
        sys.exit(2)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """A setting that cannot work stops the process with one line, exit code 2."""
    from kjs.core.backends import BackendError
    from kjs.core.config import ConfigError, ConfigExit

    try:
        yield
    except (ConfigError, ConfigExit, BackendError) as e:
        click.echo(f"kjs: configuration: {e}", err=True)
        sys.exit(2)


def _logging(settings: Settings) -> None:
    from kjs.core.logconfig import configure

    configure(settings.logging)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--data-dir", default=None, help="Where the embedded store lives (default ./.kjs).")
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow running without API tokens on a non-loopback address.",
)
@_CONFIG
def server(config_file: str | None, **flags: Any) -> None:
    """The API, dispatcher and status consumer."""
    from kjs.server import serve

    settings = _settings(config_file, **flags)
    _logging(settings)
    with _one_line_errors():
        serve(settings)


_KUBE = [
    click.option("--kubeconfig", default=None, help="Kubeconfig file (default: the usual one)."),
    click.option("--context", default=None, help="Kubeconfig context (default: the current one)."),
]


def _kube_options(f: Any) -> Any:
    for option in reversed(_KUBE):
        f = option(f)
    return f


@click.command()
@click.option("--cluster-id", required=True, help="This cluster's id (a DNS label, <= 40).")
@click.option("--data-dir", default=None, help="Where the agent keeps its buffers.")
@click.option(
    "--metrics-port",
    type=int,
    default=9090,
    show_default=True,
    help="Prometheus /metrics on this port (on the configured host); 0: none.",
)
@_kube_options
@_CONFIG
def agent(
    config_file: str | None,
    cluster_id: str,
    kubeconfig: str | None,
    context: str | None,
    data_dir: str | None,
    metrics_port: int,
) -> None:
    """One cluster's agent: creates Jobs there, reports their status, collects their logs."""
    from kjs.agent.run import PreflightError, serve_agent

    settings = _settings(
        config_file, data_dir=data_dir, defaults={"election": "lease", "data_dir": ".kjs-agent"}
    )
    _logging(settings)
    with _one_line_errors():
        try:
            if metrics_port:
                from prometheus_client import start_http_server

                start_http_server(metrics_port, addr=settings.host)
            serve_agent(settings, cluster_id, kubeconfig, context)
        except PreflightError as e:
            click.echo(f"kjs: {e}", err=True)
            sys.exit(3)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--data-dir", default=None, help="Where the embedded store lives (default ./.kjs).")
@click.option("--cluster-id", default="local", show_default=True)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow running without API tokens on a non-loopback address.",
)
@_kube_options
@_CONFIG
def up(
    config_file: str | None,
    cluster_id: str,
    kubeconfig: str | None,
    context: str | None,
    **flags: Any,
) -> None:
    """Server and one agent in one process, on the current kubeconfig context."""
    import asyncio
    import logging

    from kjs.agent.run import PreflightError, check_cluster, running_agent
    from kjs.api.auth import check_open_mode
    from kjs.server import serve

    settings = _settings(config_file, defaults={"election": "single"}, **flags)
    _logging(settings)
    with _one_line_errors():  # a usage error before asking the cluster anything
        check_open_mode(settings)
        settings.check_sections()
    try:  # before anything starts: one line if the cluster cannot be used
        version = asyncio.run(check_cluster(kubeconfig, context, list(settings.agent.namespaces)))
    except PreflightError as e:
        click.echo(f"kjs: {e}", err=True)
        sys.exit(3)
    logging.getLogger("kjs.up").info("cluster %s is Kubernetes %s", cluster_id, version)

    def companion(components: Any) -> Any:
        return running_agent(
            settings,
            cluster_id,
            kubeconfig=kubeconfig,
            context=context,
            queue=components.queue,
            plugins=components.plugins,
        )

    with _one_line_errors():
        serve(settings, companions=[companion])


@click.command()
@click.option("--sql", is_flag=True, help="Print the DDL instead of applying it.")
@_CONFIG
def migrate(config_file: str | None, sql: bool) -> None:
    """Apply the store's database migrations."""
    from kjs.core import components

    settings = _settings(config_file)
    _logging(settings)
    if sql:
        from kjs.core.plugins import Plugins
        from kjs.sqlstore.migrate import upgrade_sql

        url = (
            settings.mysql.url
            if settings.store == "mysql"
            else (f"sqlite:///{settings.data_path(settings.sqlite.path)}")
        )
        click.echo(upgrade_sql(url, Plugins().migrations()))
        return
    with _one_line_errors():
        store = components.build(settings).store
    store.migrate()
    click.echo(f"migrated {getattr(store, 'describe', settings.store)}", err=True)


@click.command()
def plugins() -> None:
    """List installed plugins, the backends each registers, and the commands they add."""
    from kjs.cli import main
    from kjs.core.plugins import Plugins

    for info in Plugins().plugins():
        backends = ", ".join(info.backends) or "(hooks only)"
        click.echo(f"{info.name:36} {info.distribution:12} {backends}")
    # `kjs --help` does not load the plugins (it would take most of its time): they are here.
    commands = ", ".join(main.plugin_commands()) or "none"
    click.echo(f"commands added by plugins: {commands} (`kjs NAME --help` tells more)")


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(kjs completion bash)"` in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    from kjs.cli import main

    cls = get_completion_class(shell)
    assert cls is not None  # every choice has one in click
    click.echo(cls(main, {}, "kjs", "_KJS_COMPLETE").source())
