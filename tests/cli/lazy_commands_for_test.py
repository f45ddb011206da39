"""Commands for tests/cli/test_lazy.py: imported by the lazy group only when used."""

from __future__ import annotations

import click


@click.command()
def hello() -> None:
    """A built-in command."""
    click.echo("built-in hello")


@click.command()
def other() -> None:
    """Another built-in command."""
