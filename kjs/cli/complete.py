"""Shell completion of job and cron job ids: the server is asked (`--url`/`--token` when already
typed, else `KJS_URL`/`KJS_TOKEN`), for at most a second; on any error, nothing is offered."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from kjs.client import Client

from kjs.cli.common import DEFAULT_URL

TIMEOUT_S = 1.0
# The newest this many are offered: one request, the server's largest page.
CANDIDATES = 500


def _client(ctx: click.Context) -> Client:
    from kjs.client import Client

    url = ctx.params.get("url") or os.environ.get("KJS_URL") or DEFAULT_URL
    token = ctx.params.get("token") or os.environ.get("KJS_TOKEN") or None
    return Client(url, token, timeout=TIMEOUT_S)


def _items(pairs: list[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(id_, help=help_) for id_, help_ in pairs if id_.startswith(incomplete)]


def job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The ids of the newest jobs that start with `incomplete`, their names (and states) as
    help."""
    try:
        with _client(ctx) as client:
            page = client.list(limit=CANDIDATES)
        return _items([(j.id, f"{j.name} ({j.state})") for j in page.items], incomplete)
    except Exception:  # completion must never print a traceback into the shell
        return []


def cron_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The ids of cron jobs that start with `incomplete`, their names (and schedules) as
    help."""
    try:
        with _client(ctx) as client:
            page = client.list_crons(limit=CANDIDATES)
        return _items([(c.id, f"{c.name} ({c.schedule})") for c in page.items], incomplete)
    except Exception:
        return []
