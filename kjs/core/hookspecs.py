"""The hooks a kjs plugin may implement (pluggy project name `kjs`).

Every hook is documented in `docs/plugin-hooks.md`; a test fails when one is not. Hooks are
synchronous: async work lives on the backend objects that the registration hooks return. Adding
an argument to a hook is compatible; renaming or removing one breaks plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from kjs.core.backends import Backend, SettingsSection
    from kjs.core.commands import CommandServices
    from kjs.core.config import Settings
    from kjs.core.protocols import ClusterView, JobView

PROJECT = "kjs"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_stores() -> Sequence[Backend]:
    """Return store backends (jobs, cron jobs, events, logs, clusters, outbox), each by name.

    Selected by the `store` configuration key."""


@hookspec
def register_queues() -> Sequence[Backend]:
    """Return queue backends (dispatch, control, status, logs, heartbeats), each by name.

    Selected by the `queue` configuration key."""


@hookspec
def register_balancers() -> Sequence[Backend]:
    """Return balancers that place a job on one of the eligible clusters.

    Selected by the `balancer` configuration key."""


@hookspec
def register_log_sinks() -> Sequence[Backend]:
    """Return log sinks that keep collected container logs.

    Selected by the `log_sink` configuration key."""


@hookspec
def register_elections() -> Sequence[Backend]:
    """Return leader elections (who does the work that must happen once).

    Selected by the `election` configuration key."""


@hookspec
def register_notifiers() -> Sequence[Backend]:
    """Return notifiers that announce finished jobs (webhooks, ...).

    Selected by the `notifier` configuration key."""


@hookspec
def register_settings() -> Sequence[SettingsSection]:
    """Return the configuration sections this plugin reads, each a `SettingsSection(name,
    schema)`: `[name]` in the TOML file, `KJS_<NAME>__<KEY>` in the environment.

    Called when the settings are loaded, before any backend is built: each section present is
    validated by its msgspec `schema` (an error names the key and stops the process). The plugin
    reads its struct with `settings.section(name, schema)` (the schema's defaults when the
    section is absent)."""


@hookspec
def register_migrations() -> Path | str | None:
    """Return the directory of this plugin's Alembic revisions (its own tables), or None.

    The revisions form a branch of their own: the first has `down_revision = None` and
    `branch_labels = ("<plugin>",)`, and every revision id is unique across kjs (prefix it with
    the plugin's name). `kjs migrate` (and every server start) brings each enabled plugin's
    branch to its head beside kjs's own; a disabled plugin's tables are left as they are."""


@hookspec
def configure(settings: Settings) -> None:
    """Called once per process with the loaded settings, after every plugin is registered and
    before the backends are built: where a plugin without backends (`select_cluster`,
    `prepare_manifest`, ...) reads its own section, `settings.section(name, schema)`.

    A failure here is logged and does not affect other plugins (the failing one runs
    unconfigured)."""


@hookspec(firstresult=True)
def select_cluster(job: JobView, clusters: Sequence[ClusterView]) -> str | None:
    """Choose the cluster id for `job` among the eligible, ready `clusters`, overriding the
    balancer; return None to have no opinion.

    Stops at first non-None result."""


@hookspec
def prepare_manifest(job: JobView, manifest: dict[str, Any]) -> None:
    """Edit the Kubernetes object (`manifest`, a Job or CronJob as a dict) in place before it
    is dispatched. kjs's own labels are restored afterwards."""


@hookspec(firstresult=True)
def webhook_payload(job: JobView) -> dict[str, Any] | None:
    """Return the JSON body of the webhook announcing `job`'s final state (a
    `kjs.core.records.JobRecord`: `reason`, `message` and `cron_id` too), instead of kjs's own;
    None to have no opinion. A failure here is logged and kjs's own body is sent.

    Stops at first non-None result."""


@hookspec
def on_job_state_changed(job: JobView, old_state: str, new_state: str) -> None:
    """Called after a job's state changed and was stored. A failure here is logged and does
    not affect the job or other plugins."""


@hookspec
def register_routes(services: Any) -> Sequence[Any]:
    """Return extra Litestar route handlers (or Routers) to mount on the server.

    `services` (`kjs.api.services.PluginServices`, named here only in words: the contracts do
    not depend on the server): the server's jobs, cron jobs, log sink, store and settings, and
    the policy (`guard`, `access`, `Action`) the routes pass."""


@hookspec
def register_commands(cli: click.Group, services: CommandServices) -> None:
    """Add click commands to the `kjs` command group.

    `services` (`kjs.core.commands.CommandServices`): no server is running; it loads the
    settings and builds the backends they name."""
