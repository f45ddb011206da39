"""The `kjs` command (CONTRACT §1).

Exit codes: 0 ok, 1 failed, 2 usage or validation error, 3 server unreachable or refused.

`main` resolves its commands by name on demand (`kjs.cli.lazy`): the process commands live in
`process`, the client commands in `jobs`, `cron` and `token`, and the plugins' commands are
loaded only for a name that is none of those. `kjs --help` and a completion request import
click and these small modules, not the SDK (httpx), YAML, the server or the plugins.
"""

from __future__ import annotations

import sys

import click

from kjs.cli.lazy import LazyGroup

# `import httpx` (the client commands, webhooks) also imports httpx's own command-line client,
# and with it rich and pygments (over 3 MB of an idle server) that no `kjs` command uses: httpx
# falls back to a stub `httpx.main` when that module cannot be imported. (Already imported: no
# effect.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

COMMANDS = {
    # processes
    "server": "kjs.cli.process:server",
    "agent": "kjs.cli.process:agent",
    "up": "kjs.cli.process:up",
    "migrate": "kjs.cli.process:migrate",
    "plugins": "kjs.cli.process:plugins",
    "completion": "kjs.cli.process:completion",
    # clients of a server
    "submit": "kjs.cli.jobs:submit",
    "get": "kjs.cli.jobs:get",
    "ls": "kjs.cli.jobs:list_jobs",
    "logs": "kjs.cli.jobs:logs",
    "events": "kjs.cli.jobs:events",
    "cancel": "kjs.cli.jobs:cancel",
    "rerun": "kjs.cli.jobs:rerun",
    "clusters": "kjs.cli.jobs:clusters",
    "queues": "kjs.cli.jobs:queues",
    "priority-classes": "kjs.cli.jobs:priority_classes",
    "cron": "kjs.cli.cron:cron",
    # no server needed
    "token": "kjs.cli.token:token",
}


def _add_plugin_commands(group: click.Group) -> None:
    import logging

    try:
        from kjs.core.commands import CommandServices
        from kjs.core.plugins import Plugins

        Plugins().add_commands(group, CommandServices())
    except Exception as e:  # a broken plugin must not break the CLI
        logging.getLogger(__name__).warning("plugin commands unavailable: %s", e)


@click.group(
    "kjs",
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    add_plugin_commands=_add_plugin_commands,
    epilog=(
        "Commands that installed plugins add are not listed here (loading the plugins takes "
        "longer than the rest): `kjs plugins` lists them."
    ),
)
@click.version_option(package_name="kjs")
def main() -> None:
    """kjs: run Kubernetes Jobs on many clusters through one API."""
