"""The lazy command group: built-in commands imported by name when used, plugins' commands
loaded only for a name that is not built in."""

from __future__ import annotations

import sys

import click
from click.testing import CliRunner

from kjs.cli.lazy import LazyGroup

# A module of commands, imported by the group under test only when one of them is used.
MODULE = "tests.cli.lazy_commands_for_test"


def group(loaded: list[str]) -> click.Group:
    def add_plugin_commands(cli: click.Group) -> None:
        loaded.append("plugins")

        @cli.command()
        def extra() -> None:
            """A plugin's command."""
            click.echo("extra ran")

        @cli.command()
        def hello() -> None:
            """A plugin's command with a built-in's name."""
            click.echo("the plugin's hello")

    @click.group(
        "kjs",
        cls=LazyGroup,
        lazy_commands={"hello": f"{MODULE}:hello", "other": f"{MODULE}:other"},
        add_plugin_commands=add_plugin_commands,
    )
    def cli() -> None:
        """Test group."""

    return cli


def test_a_built_in_command_is_imported_when_used_and_plugins_stay_unloaded() -> None:
    sys.modules.pop(MODULE, None)
    loaded: list[str] = []
    cli = group(loaded)
    assert MODULE not in sys.modules
    result = CliRunner().invoke(cli, ["hello"])
    assert result.output == "built-in hello\n" and MODULE in sys.modules
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0
    assert loaded == []


def test_a_plugins_command_loads_the_plugins_once_and_never_shadows_a_built_in() -> None:
    loaded: list[str] = []
    cli = group(loaded)
    assert CliRunner().invoke(cli, ["extra"]).output == "extra ran\n"
    assert CliRunner().invoke(cli, ["hello"]).output == "built-in hello\n"
    assert CliRunner().invoke(cli, ["extra"]).output == "extra ran\n"
    assert loaded == ["plugins"]


def test_an_unknown_name_suggests_from_every_command() -> None:
    cli = group([])
    result = CliRunner().invoke(cli, ["extr"])
    assert result.exit_code == 2 and "Did you mean 'extra'" in result.output
