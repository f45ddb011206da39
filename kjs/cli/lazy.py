"""A click group that imports a command only when it is used.

`kjs --help`, `kjs get --help` and every Tab press start a Python process: each module imported
then is time the user waits. The built-in commands are named here with the module that holds
each; a command module imports click and little else, and the command imports what it needs
(the SDK, the server, a plugin) when it runs. Plugins' commands (`register_commands`) need the
plugins loaded, which costs more than all the rest: they are loaded only for a name that is not
a built-in one (and for completing a name no built-in starts with).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """Commands given as `name -> "module:attribute"`, imported on first use; the rest come
    from `add_plugin_commands(group)`, called once, when a name is not one of them."""

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, str],
        add_plugin_commands: Callable[[click.Group], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)
        self._add_plugin_commands = add_plugin_commands
        self._plugin_commands: dict[str, click.Command] | None = None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # `python -m kjs` is `kjs` too: its usage lines, and its completion variable
        # (`_KJS_COMPLETE`, not one named after `__main__.py`).
        kwargs.setdefault("prog_name", self.name)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The built-in commands (and those of plugins, once loaded)."""
        return sorted(set(self.lazy_commands) | set(self.commands) | set(self.plugin_names))

    @property
    def plugin_names(self) -> list[str]:
        return sorted(self._plugin_commands or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in self.lazy_commands:
            return self._import(cmd_name)
        return self.plugin_commands().get(cmd_name)

    def _import(self, name: str) -> click.Command:
        module, _, attribute = self.lazy_commands[name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[name]} is not a click command")
        self.commands[name] = command
        return command

    def plugin_commands(self) -> dict[str, click.Command]:
        """The commands plugins add (loading the plugins the first time): a name a built-in
        command has stays the built-in's."""
        if self._plugin_commands is None:
            self._plugin_commands = {}
            if self._add_plugin_commands is not None:
                scratch = click.Group(self.name)
                self._add_plugin_commands(scratch)
                for name, command in scratch.commands.items():
                    if name in self.lazy_commands or name in self.commands:
                        import logging

                        logging.getLogger(__name__).warning(
                            "plugin command %r ignored: kjs has a command of that name", name
                        )
                    else:
                        self._plugin_commands[name] = command
        return self._plugin_commands

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if self.get_command(ctx, click.utils.make_str(args[0])) is None:
            # An unknown name: "did you mean" needs every name click could suggest.
            for name in self.lazy_commands:
                self.get_command(ctx, name)
            self.commands.update(self.plugin_commands())
        return super().resolve_command(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Command names (and options): a name no built-in command starts with may be a
        plugin's, so the plugins are loaded for it, and only for it."""
        found = super().shell_complete(ctx, incomplete)
        if (
            incomplete
            and not incomplete.startswith("-")
            and not any(n.startswith(incomplete) for n in self.list_commands(ctx))
        ):
            from click.shell_completion import CompletionItem

            found += [
                CompletionItem(name, help=command.get_short_help_str())
                for name, command in sorted(self.plugin_commands().items())
                if name.startswith(incomplete) and not command.hidden
            ]
        return found
