"""`kjs server`: the REST API, dispatcher and status consumer, wired from the plugins."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from kjs.api import clusters, cronjobs, health, jobs
from kjs.api.errors import HANDLERS
from kjs.core import components as components_
from kjs.core import leader, retention
from kjs.core.config import Settings
from kjs.core.consumer import StatusConsumer
from kjs.core.crons import CronService
from kjs.core.dispatcher import Dispatcher
from kjs.core.liveness import LivenessSweeper
from kjs.core.plugins import Plugins
from kjs.core.reconcile import Reconciler
from kjs.core.service import JobService
from kjs.core.validation import MAX_BODY_BYTES
from kjs.core.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
SHUTDOWN_STEP_S = 10.0


Companion = Callable[[components_.Components], contextlib.AbstractAsyncContextManager[Any]]


def create_app(
    settings: Settings,
    *,
    plugins: Plugins | None = None,
    components: components_.Components | None = None,
    companions: Sequence[Companion] = (),
) -> Litestar:
    """The Litestar application; its lifespan starts and stops every backend, and the
    `companions` (e.g. `kjs up`'s agent) once the server is running."""
    c = components or components_.build(settings, plugins)
    dispatcher = Dispatcher(c)
    consumer = StatusConsumer(c, on_change=dispatcher.wake)
    service = JobService(c, dispatcher)
    crons = CronService(c, service)
    for name, work, every_s in (
        (leader.WEBHOOKS, WebhookDeliverer(c, c.notifier).run, None),
        (leader.CRON_TICKS, crons.fire_due_task, None),
        (leader.NATIVE_CRONS, crons.dispatch_native_task, None),
        (leader.LIVENESS, LivenessSweeper(c).run, None),
        (leader.RECONCILE, Reconciler(c).run, None),
        (leader.RETENTION, retention.Retention(c).run, retention.EVERY_S),
    ):
        dispatcher.add_task(name, work, every_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(c.store.migrate)
        _app.state.loop = asyncio.get_running_loop()  # for embedding (tests, `kjs up`)
        await c.queue.start()
        await c.election.start()
        await consumer.start()
        await dispatcher.start()
        log.info(
            "kjs server ready: store %s, queue %s, election %s",
            settings.store,
            settings.queue,
            settings.election,
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                for companion in companions:
                    await stack.enter_async_context(companion(c))
                yield
        finally:
            # Stop taking work, hand back what is in flight, give up leadership, close the store;
            # each step bounded, so that one that hangs cannot keep the process from exiting.
            steps = [
                ("dispatcher", dispatcher.close()),
                ("queue", c.queue.close()),
                ("election", c.election.close()),
            ]
            if c.notifier is not None:
                steps.append(("notifier", c.notifier.close()))
            steps.append(("store", asyncio.to_thread(c.store.close)))
            for name, step in steps:
                try:
                    await asyncio.wait_for(step, SHUTDOWN_STEP_S)
                except TimeoutError:
                    log.error("closing the %s took over %g s; going on", name, SHUTDOWN_STEP_S)
            log.info("kjs server stopped")

    prometheus = PrometheusConfig(
        app_name="kjs", prefix="kjs", group_path=True, exclude=["/metrics", "/healthz", "/readyz"]
    )
    app = Litestar(
        route_handlers=[
            jobs.JobsController,
            cronjobs.CronJobsController,
            clusters.ClustersController,
            health.healthz,
            health.readyz,
            PrometheusController,
            *c.plugins.routes(),
        ],
        middleware=[prometheus.middleware],
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(title="kjs", version="1", path="/schema"),
        debug=False,
    )
    app.state.settings = settings
    app.state.components = c
    app.state.jobs = service
    app.state.crons = crons
    app.state.dispatcher = dispatcher
    app.state.store_description = getattr(c.store, "describe", settings.store)
    return app


def _graceful_server_class() -> Any:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown; a requested stop that went
        well is a success, so this one exits 0 instead."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return GracefulServer


def serve(settings: Settings, **kwargs: Any) -> None:
    """Run the server until SIGTERM/SIGINT: stop accepting, finish requests, exit 0."""
    import uvicorn

    from kjs.api.auth import check_open_mode

    check_open_mode(settings)
    if not settings.auth.tokens:
        log.warning(
            "no API tokens configured: the API is open to anyone who can reach %s:%d",
            settings.host,
            settings.port,
        )
    app = create_app(settings, **kwargs)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=30,
        access_log=False,
    )
    _graceful_server_class()(config).run()
