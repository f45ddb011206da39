"""`kjs-testenv`: build, start and stop the real servers the integration tests run against."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from kjs.testing import build as builds
from kjs.testing import env as testenv

_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".kjs-testenv",
    show_default=True,
    envvar="KJS_TESTENV_DIR",
    help="Where the environment keeps its data, logs, process records and env.json.",
)


_QUIET = click.option(
    "--quiet", "-q", is_flag=True, help="No progress lines on stderr (errors are still shown)."
)


def _parts(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _progress(quiet: bool) -> Callable[[str], None]:
    """Where progress lines go: stderr (stdout stays for what scripts read), or nowhere."""
    return (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))


@click.group()
def main() -> None:
    """Real MariaDB, NSQ and Kubernetes control planes on 127.0.0.1, for kjs's tests."""


@main.command()
@click.option(
    "--only",
    default=",".join(builds.COMPONENTS),
    show_default=True,
    help="Comma-separated components to build.",
)
@click.option("--force", is_flag=True, help="Rebuild even what is cached.")
@_QUIET
def build(only: str, force: bool, quiet: bool) -> None:
    """Build the Go servers into the cache (KJS_TESTENV_CACHE, default ~/.cache/kjs/testenv).

    Each step's `go` output is in <cache>/<component>-<version>/build.log."""
    names = _parts(only)
    unknown = set(names) - set(builds.COMPONENTS)
    if unknown:
        raise click.BadParameter(
            f"unknown {sorted(unknown)}; choose from {list(builds.COMPONENTS)}"
        )
    try:
        builds.build(names, force=force, log=_progress(quiet))
    except RuntimeError as e:
        raise click.ClickException(str(e)) from e


@main.command()
@_DIR
@click.option("--clusters", default=2, show_default=True, help="Kubernetes control planes (1-3).")
@click.option(
    "--only",
    default=",".join(testenv.PARTS),
    show_default=True,
    help="Comma-separated parts: mysql, nsq, k8s.",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "docker"]),
    default="local",
    show_default=True,
    help="docker: MariaDB and nsqd in containers (needs an engine).",
)
@_QUIET
def up(directory: Path, clusters: int, only: str, backend: str, quiet: bool) -> None:
    """Start the environment in the background and write DIR/env.json once all is ready.

    Prints env.json's path on stdout; progress, and where the logs are, on stderr."""
    progress = _progress(quiet)
    started = time.monotonic()
    where = directory.resolve()
    progress(f"starting the test environment in {where} (each process logs to {where / 'logs'})")
    try:
        testenv.up(directory, clusters=clusters, only=_parts(only), backend=backend, log=progress)
    except ValueError as e:  # a usage error: nothing was started
        raise click.ClickException(str(e)) from e
    except (RuntimeError, builds.MissingBinaryError) as e:
        raise click.ClickException(f"{e}\n(the processes' logs: {where / 'logs'})") from e
    env_file = where / testenv.ENV_FILE
    progress(
        f"ready in {time.monotonic() - started:.1f} s: {env_file}; "
        f"stop it with `kjs-testenv down --dir {directory}`"
    )
    click.echo(str(env_file))


@main.command()
@_DIR
def down(directory: Path) -> None:
    """Stop whatever DIR records and remove its data."""
    stopped = testenv.down(directory)
    click.echo(f"stopped: {', '.join(stopped) or 'nothing'}", err=True)


@main.command()
@_DIR
def status(directory: Path) -> None:
    """Show each process of the environment and whether it runs; exit 1 if any is down."""
    states = testenv.status(directory)
    for name, alive in states.items():
        click.echo(f"{name:32} {'running' if alive else 'DOWN'}")
    if not states:
        click.echo(f"no environment in {directory}")
    sys.exit(0 if states and all(states.values()) else 1)


@main.command()
@_DIR
@click.option("--cluster", default="c1", show_default=True)
@click.option("--namespace", required=True)
@click.option("--service-account", required=True)
def token(directory: Path, cluster: str, namespace: str, service_account: str) -> None:
    """Print the path of a kubeconfig acting as NAMESPACE/SERVICE_ACCOUNT (TokenRequest)."""
    from kjs.testing import kube

    env = testenv.load(directory)
    match = [c for c in env.get("clusters", []) if c["id"] == cluster]
    if not match:
        raise click.ClickException(f"no cluster {cluster!r} in {directory}/env.json")
    click.echo(
        str(kube.service_account_kubeconfig(directory, match[0], namespace, service_account))
    )


@main.command(name="env")
@_DIR
def show_env(directory: Path) -> None:
    """Print DIR/env.json."""
    click.echo(json.dumps(testenv.load(directory), indent=2))
