"""The web UI (`/ui`): jobs, their logs and events, submitting, cron jobs and clusters, in the
browser. A built-in plugin written as a third party would write it: it adds open routes that
serve a static page and its files (`kjs.plugins.ui.routes`); everything the page shows comes
from the `/api/v1` routes, with the user's own token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kjs.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from kjs.api.services import PluginServices


@hookimpl
def register_routes(services: PluginServices) -> list[Any]:
    from kjs.plugins.ui.routes import routes

    return routes()
