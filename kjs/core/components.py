"""The backends one process runs with, built from the settings through the plugins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kjs.core.backends import BuildContext
from kjs.core.config import Settings
from kjs.core.plugins import Plugins
from kjs.core.protocols import Balancer, Election, LogSink, Queue, Store
from kjs.core.records import ClusterRecord


@dataclass
class Components:
    settings: Settings
    plugins: Plugins
    store: Store
    queue: Queue
    balancer: Balancer
    log_sink: LogSink
    election: Election
    notifier: Any = None

    def cluster_state(self, cluster: ClusterRecord, now: dt.datetime) -> str:
        """ready, unreachable (no heartbeat for `unreachable_after_s`) or cordoned."""
        if cluster.cordoned:
            return "cordoned"
        limit = dt.timedelta(seconds=self.settings.dispatch.unreachable_after_s)
        if cluster.last_heartbeat is None or now - cluster.last_heartbeat > limit:
            return "unreachable"
        return "ready"


def build(settings: Settings, plugins: Plugins | None = None, **given: Any) -> Components:
    """Configure the plugins (`configure`), then create every backend named by the settings
    (or take the ones `given`)."""
    plugins = plugins or Plugins()
    plugins.configure(settings)

    def make(kind: str, name: str, context: BuildContext) -> Any:
        return given.get(kind) or plugins.backend(kind, name).factory(context)

    store = make("store", settings.store, BuildContext(settings, plugins=plugins))
    context = BuildContext(settings, store, plugins=plugins)
    return Components(
        settings=settings,
        plugins=plugins,
        store=store,
        queue=make("queue", settings.queue, context),
        balancer=make("balancer", settings.balancer, context),
        log_sink=make("log_sink", settings.log_sink, context),
        election=make("election", settings.election, context),
        notifier=make("notifier", settings.notifier, context),
    )
