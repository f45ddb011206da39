"""What kjs gives a plugin's commands: `register_commands(cli, services)` receives one
`CommandServices`.

A command runs in the `kjs` process, not in a server: there are no running jobs or cron job
services to hand over. What a command can use is how kjs itself gets going — the settings, read
as `kjs server --config FILE` reads them, and the backends those settings name, built by the
installed plugins. A command that needs what only a running server does (submitting, cancelling)
talks to it over the API (`kjs.client`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kjs.core.components import Components, build
from kjs.core.config import Settings, load


@dataclass(frozen=True)
class CommandServices:
    """Settings and backends for a plugin's `kjs` command (`register_commands`)."""

    def load_settings(self, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """The settings from defaults < `config_file` < `KJS_*` environment < `overrides` (a
        command's flags; None is "not given"), plugins' sections validated. Raises
        `kjs.core.config.ConfigError` naming the key that does not fit (kjs's own commands
        report it in one line and exit 2)."""
        return load(config_file, overrides=overrides)

    def build_components(self, settings: Settings) -> Components:
        """Every backend `settings` name (`store`, `queue`, `log_sink`, …), built by the
        installed plugins and not started: call `store.migrate()` before using a store that may
        be new. Raises `kjs.core.backends.BackendError` naming a backend that is not installed."""
        return build(settings)
