"""The original system's HTTP API on kjs (`/api/once_job/…`, `/api/cron_job/…`,
`/api/job_logs/…`): its request shapes, `{code, cause, error_msg, data}` envelope, states and
counters, and its labels on the Kubernetes objects. A built-in plugin, written as a third-party
one would be: it adds routes, a command and a manifest hook, and uses only the services kjs
hands its hooks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kjs.core.backends import SettingsSection
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import JobView
from kjs.plugins.compat.settings import SECTION
from kjs.plugins.compat.translate import JOB_FROM, callback_body

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from kjs.api.services import PluginServices
    from kjs.core.commands import CommandServices


@hookimpl
def register_settings() -> list[SettingsSection]:
    return [SECTION]


@hookimpl
def register_migrations() -> Path:
    """The table `compat_jobs` (`kjs.plugins.compat.store`)."""
    return Path(__file__).parent / "migrations"


@hookimpl
def register_routes(services: PluginServices) -> list[Any]:
    from kjs.plugins.compat.routes import routes
    from kjs.plugins.compat.store import NotSqlStore, records_of

    try:
        records_of(services.store)
    except NotSqlStore as e:
        log.warning("the original system's routes are not served: %s", e)
        return []
    return routes(services)


@hookimpl
def prepare_manifest(job: JobView, manifest: dict[str, Any]) -> None:
    """The original's `job_id` label (the id its clients know) beside its other labels."""
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    if labels.get("job_from") != JOB_FROM:
        return
    job_id = getattr(job, "cron_id", None) or job.id
    for meta in _metadatas(manifest):
        meta.setdefault("labels", {})["job_id"] = job_id


@hookimpl
def webhook_payload(job: JobView) -> dict[str, Any] | None:
    """The original's callback body for the jobs created through its routes."""
    if job.spec.labels.get("job_from") != JOB_FROM:
        return None
    return callback_body(job)


def _metadatas(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The metadata of the object and of every template inside it (Job or CronJob)."""
    found = [manifest["metadata"]]
    spec = manifest.get("spec", {})
    if "jobTemplate" in spec:
        found.append(spec["jobTemplate"].setdefault("metadata", {}))
        spec = spec["jobTemplate"].get("spec", {})
    if "template" in spec:
        found.append(spec["template"].setdefault("metadata", {}))
    return found


@hookimpl
def register_commands(cli: click.Group, services: CommandServices) -> None:
    @cli.command("import-legacy")
    @click.option(
        "--dsn",
        required=True,
        help="The original's database: mysql+pymysql://user:password@host:3306/job_scheduling",
    )
    @click.option(
        "--run-pending",
        is_flag=True,
        help="Run jobs the original had not started yet (only once the original is stopped).",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        envvar="KJS_CONFIG",
        help="TOML configuration file (the kjs store to import into).",
    )
    def import_legacy_command(dsn: str, run_pending: bool, config_file: str | None) -> None:
        """Copy an original installation's jobs, cron jobs, states and logs into kjs (again:
        what is there already is left alone)."""
        import sys

        import sqlalchemy as sa

        from kjs.core.config import ConfigError
        from kjs.plugins.compat.legacy import import_legacy
        from kjs.plugins.compat.store import NotSqlStore

        try:
            built = services.build_components(services.load_settings(config_file))
            built.store.migrate()
            report = import_legacy(
                built.store, dsn, log_sink=built.log_sink, run_pending=run_pending
            )
        except (ConfigError, NotSqlStore, sa.exc.SQLAlchemyError, OSError) as e:
            click.echo(f"kjs: import-legacy: {str(e).splitlines()[0]}", err=True)
            sys.exit(1)
        for line in report.skipped:
            click.echo(f"skipped {line}", err=True)
        imported, already = report.imported, report.already
        click.echo(
            f"imported: {imported['once']} once jobs, {imported['cron']} cron jobs, "
            f"{imported['logs']} log records; there already: {already['once']} once jobs, "
            f"{already['cron']} cron jobs; skipped: {len(report.skipped)}"
        )
