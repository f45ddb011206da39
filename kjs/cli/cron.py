"""`kjs cron …`: create, list, show, delete, suspend, resume and trigger cron jobs through the
SDK (imported when a command runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kjs.cli.common import builtins, connected, token_option, url_option
from kjs.cli.complete import cron_ids
from kjs.cli.output import CRONJOBS, JOBS, Printer, no_headers_option, output_option

if TYPE_CHECKING:
    from kjs.client import Client

MAX_PAGE = 500


@click.group()
def cron() -> None:
    """Cron jobs."""


def _client_command(name: str, help_: str) -> Callable[[Callable[..., None]], click.Command]:
    """A `kjs cron NAME` with the connection and output options."""

    def decorate(f: Any) -> click.Command:
        f.__doc__ = help_
        for option in (no_headers_option, output_option(), token_option, url_option):
            f = option(f)
        return cron.command(name=name)(f)

    return decorate


@_client_command("create", "Create a cron job from a file (YAML or JSON; - for stdin).")
@click.option("-f", "--file", required=True, help="A YAML or JSON cron job spec.")
@click.option("--queue", help="The queue its runs go to (over the file's; default `default`).")
def cron_create(
    url: str, token: str | None, output: str, no_headers: bool, file: str, queue: str | None
) -> None:
    from kjs.cli.jobs import spec_from

    spec = spec_from(file, {"queue": queue})
    with connected(url, token) as client:
        created = client.create_cron(spec)
    Printer(CRONJOBS, output, headers=not no_headers).one(builtins(created))


@_client_command("ls", "List cron jobs, newest first: --limit of them (more with --all).")
@click.option("--name")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Cron jobs to show."
)
@click.option("--all", "all_", is_flag=True, help="Every cron job (page after page).")
@click.option("--cursor", help="Go on from a listing's cursor (`next_cursor`).")
def cron_ls(
    url: str,
    token: str | None,
    output: str,
    no_headers: bool,
    name: str | None,
    limit: int,
    all_: bool,
    cursor: str | None,
) -> None:
    filters = {"name": name} if name else {}
    with connected(url, token) as client:
        crons, next_cursor = _pages(client, filters, None if all_ else limit, cursor)
    items = builtins(crons)
    Printer(CRONJOBS, output, headers=not no_headers).listing(
        items, {"items": items, "next_cursor": next_cursor}
    )
    if next_cursor:
        click.echo(
            f"kjs: more cron jobs than these {len(crons)}: --all lists every one, "
            f"--cursor {next_cursor} the next ones",
            err=True,
        )


def _pages(
    client: Client, filters: dict[str, Any], limit: int | None, cursor: str | None
) -> tuple[list[Any], str | None]:
    crons: list[Any] = []
    while True:
        size = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(crons))
        page = client.list_crons(limit=size, cursor=cursor, **filters)
        crons += page.items
        cursor = page.next_cursor
        if not cursor or (limit is not None and len(crons) >= limit):
            return crons, cursor


def _by_id(verb: str, help_: str) -> None:
    """`kjs cron VERB ID`: one call on one cron job, its answer shown (a job for trigger)."""

    @_client_command(verb, help_)
    @click.argument("cron_id", shell_complete=cron_ids)
    def command(url: str, token: str | None, output: str, no_headers: bool, cron_id: str) -> None:
        with connected(url, token) as client:
            if verb == "trigger":
                Printer(JOBS, output, headers=not no_headers).one(
                    builtins(client.trigger_cron(cron_id))
                )
                return
            call = {
                "get": client.get_cron,
                "delete": client.delete_cron,
                "suspend": client.suspend_cron,
                "resume": client.resume_cron,
            }[verb]
            answer = call(cron_id)
        Printer(CRONJOBS, output, headers=not no_headers).one(builtins(answer))


_by_id("get", "Show a cron job.")
_by_id("delete", "Delete a cron job (and its Kubernetes CronJob).")
_by_id("suspend", "Suspend a cron job: no runs until resumed.")
_by_id("resume", "Resume a suspended cron job.")
_by_id("trigger", "Start a run of a cron job now (shows the run's job).")
