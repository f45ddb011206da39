"""`kjs server`: the REST API, dispatcher and status consumer, wired from the plugins."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import PluginProtocol
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from kjs.api import clusters, cronjobs, docs, health, jobs, policy, queues, whoami
from kjs.api.errors import HANDLERS
from kjs.api.metrics import RequestMetrics
from kjs.api.schema import COMPONENTS
from kjs.api.services import PluginServices
from kjs.core import components as components_
from kjs.core import logconfig
from kjs.core.backends import BuildContext
from kjs.core.config import Settings
from kjs.core.plugins import Plugins
from kjs.core.validation import MAX_BODY_BYTES
from kjs.scheduler import leader, retention
from kjs.scheduler.consumer import StatusConsumer
from kjs.scheduler.crons import CronService
from kjs.scheduler.dispatcher import Dispatcher
from kjs.scheduler.liveness import LivenessSweeper
from kjs.scheduler.reconcile import Reconciler
from kjs.scheduler.service import JobService
from kjs.scheduler.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
SHUTDOWN_STEP_S = 10.0
# Once the server is stopping, how long a streaming response (a log follower) may go on before
# it is ended: time for a handler that watches `app.state.stopping` to end it itself.
STREAM_STOP_GRACE_S = 1.0


class MetricsController(PrometheusController):
    """`/metrics`, Prometheus' text format: for scrapers, not part of the API's schema."""

    include_in_schema = False


class _Litestar(Litestar):
    """Litestar without its default Pydantic plugins unless the process uses Pydantic already
    (a plugin whose routes take Pydantic models has imported it by the time the app is built):
    they import Pydantic, about 9 MB, for handlers that kjs's msgspec structs never need."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        if "pydantic" in sys.modules:
            return Litestar._get_default_plugins(plugins)
        from litestar.plugins.core import MsgspecDIPlugin

        plugins.append(MsgspecDIPlugin())
        return plugins


Companion = Callable[[components_.Components], contextlib.AbstractAsyncContextManager[Any]]


class _Exchange:
    """One request as RequestGuard sees it: the body's deadline, the response's progress."""

    def __init__(self, guard: RequestGuard, receive: Receive, send: Send) -> None:
        self.guard = guard
        self._receive = receive
        self._send = send
        self.body_deadline = asyncio.get_running_loop().time() + guard.body_timeout_s
        self.body_done = False
        self.response_started = False
        self.response_done = False
        self.cut = False

    async def receive(self) -> ReceiveMessage:
        if self.body_done:
            # Only a handler waiting for the client to leave gets here (a streaming response).
            return await self._unless_stopping()
        try:
            async with asyncio.timeout_at(self.body_deadline):
                message = await self._receive()
        except TimeoutError:
            if self.response_started:  # too late for a 408: as if the client had left
                return {"type": "http.disconnect"}
            raise HTTPException(
                status_code=408,
                detail=(
                    f"the request body did not arrive within {self.guard.body_timeout_s:g} s "
                    "([http] body_timeout_s)"
                ),
                headers={"Connection": "close"},
            ) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def _unless_stopping(self) -> ReceiveMessage:
        received = asyncio.ensure_future(self._receive())
        stopping = asyncio.ensure_future(self.guard.stopping.wait())
        try:
            await asyncio.wait({received, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not received.done():
                await asyncio.wait({received}, timeout=STREAM_STOP_GRACE_S)
        finally:
            stopping.cancel()
            if not received.done():
                received.cancel()
        if received.done() and not received.cancelled():
            return received.result()
        self.cut = True
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.response_done = True
        await self._send(message)

    async def finish(self) -> None:
        """End a response the stop cut short, as a complete one (its chunked body terminated)."""
        if self.cut and self.response_started and not self.response_done:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})


class RequestGuard:
    """ASGI middleware: a request's body must arrive within `body_timeout_s` of its headers
    (else 408), and once `stopping` is set a response still streaming (a log follower) is ended
    after STREAM_STOP_GRACE_S, its handler told the client left: nothing holds a shutdown."""

    def __init__(self, app: ASGIApp, *, body_timeout_s: float, stopping: asyncio.Event) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, receive, send)
        await self.app(scope, exchange.receive, exchange.send)
        await exchange.finish()


def create_app(
    settings: Settings,
    *,
    plugins: Plugins | None = None,
    components: components_.Components | None = None,
    companions: Sequence[Companion] = (),
    migrate: bool = True,
) -> Litestar:
    """The Litestar application; its lifespan migrates the store (unless `migrate` is false:
    done already), starts and stops every backend, and the `companions` (e.g. `kjs up`'s
    agent) once the server is running."""
    c = components or components_.build(settings, plugins)
    dispatcher = Dispatcher(c)
    consumer = StatusConsumer(c, on_change=dispatcher.wake)
    service = JobService(c, dispatcher)
    crons = CronService(c, service)
    webhooks = WebhookDeliverer(c, c.notifier, wake=lambda: dispatcher.wake(leader.WEBHOOKS))
    services = PluginServices(
        jobs=service, crons=crons, log_sink=c.log_sink, settings=settings, store=c.store
    )
    for name, work, every_s in (
        (leader.WEBHOOKS, webhooks.run, None),
        (leader.CRON_TICKS, crons.fire_due_task, None),
        (leader.NATIVE_CRONS, crons.dispatch_native_task, None),
        (leader.LIVENESS, LivenessSweeper(c).run, None),
        (leader.RECONCILE, Reconciler(c).run, None),
        (leader.RETENTION, retention.Retention(c).run, retention.EVERY_S),
    ):
        dispatcher.add_task(name, work, every_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(c.store.migrate)
        _app.state.loop = asyncio.get_running_loop()  # for embedding (tests, `kjs up`)
        await c.queue.start()
        await c.election.start()
        await consumer.start()
        await dispatcher.start()
        # What start-up made (modules, the app, the schema) lives as long as the process: kept
        # out of the collector's full passes, which otherwise rescan it every few requests.
        gc.freeze()
        log.info(
            "kjs server ready on http://%s:%d: store %s, queue %s, election %s",
            settings.host,
            settings.port,
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
                ("watch feed", service.feed.close()),
                ("job writer", service.writer.close()),  # a write whose client went away
                ("dispatcher", dispatcher.close()),
                ("webhook deliveries", webhooks.close()),
                ("queue", c.queue.close()),
                ("status writer", consumer.close()),  # what the queue's handlers began
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

    stopping = asyncio.Event()  # set when the server begins to shut down
    app = _Litestar(
        route_handlers=[
            jobs.JobsController,
            cronjobs.CronJobsController,
            clusters.ClustersController,
            queues.QueuesController,
            queues.PriorityClassesController,
            whoami.whoami,
            health.healthz,
            health.readyz,
            MetricsController,
            policy.behind_the_door(c.plugins.routes(services)),
        ],
        middleware=[
            DefineMiddleware(
                RequestGuard, body_timeout_s=settings.http.body_timeout_s, stopping=stopping
            ),
            RequestMetrics,
        ],
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="kjs",
            version="1",
            components=COMPONENTS,
            # Redoc and Swagger UI from bundled assets under a CSP: the docs work offline.
            render_plugins=docs.render_plugins(),
            openapi_router=docs.openapi_router("/schema"),
        ),
        debug=False,
        logging_config=None,  # kjs.core.logconfig: one format for every logger
    )
    app.state.settings = settings
    app.state.stopping = stopping
    app.state.components = c
    app.state.jobs = service
    app.state.crons = crons
    app.state.queues = service.queues
    app.state.dispatcher = dispatcher
    app.state.store_description = getattr(c.store, "describe", settings.store)
    return app


def _graceful_server_class() -> Any:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown; a requested stop that went
        well is a success, so this one exits 0 instead. Its shutdown first sets the app's
        `stopping` event, which ends streaming responses (RequestGuard)."""

        def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
            super().__init__(config)
            self.stopping = stopping

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            self.stopping.set()
            await super().shutdown(sockets=sockets)

    return GracefulServer


def _header_timeout_protocol(header_timeout_s: float) -> type[Any]:
    """uvicorn's HTTP protocol (httptools' C parser when installed, else h11), closing a
    connection (with a 408) whose request line and headers are not complete within
    `header_timeout_s` of its opening, or of the first byte of a next request on a kept-alive
    connection (uvicorn has no such timeout: a client could trickle headers for ever). Idle
    kept-alive connections stay uvicorn's `timeout_keep_alive`."""

    class HeaderTimer:
        loop: asyncio.AbstractEventLoop
        transport: asyncio.Transport
        _header_timer: asyncio.TimerHandle | None = None

        def _start_header_timer(self) -> None:
            if self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                self.transport.close()

    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _h11_header_timeout_protocol(HeaderTimer)

    class HttpToolsHeaderTimeout(HeaderTimer, HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_header_timer()

        def on_message_begin(self) -> None:  # the first byte of a request
            super().on_message_begin()
            self._start_header_timer()

        def on_headers_complete(self) -> None:
            self._stop_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _headers_late(self) -> None:
            if self.cycle is not None and not self.cycle.response_complete:
                # A pipelined request's headers, read while the previous response is still
                # being sent (uvicorn reads no more until it is): its time starts after that.
                self._header_timer = None
                self._start_header_timer()
                return
            super()._headers_late()

    return HttpToolsHeaderTimeout


def _h11_header_timeout_protocol(header_timer: type[Any]) -> type[Any]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class H11HeaderTimeout(header_timer, H11Protocol):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._watch_headers(idle=False)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_headers(idle=False)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch_headers(idle=not self.conn.trailing_data[0])

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _watch_headers(self, *, idle: bool) -> None:
            """Time the headers while h11 waits for them, unless the connection is idle."""
            if self.conn.their_state is not h11.IDLE or idle:
                self._stop_header_timer()
            else:
                self._start_header_timer()

    return H11HeaderTimeout


# The built-in stores, whose data lives outside the process: a child can migrate it for the
# server. (A third-party store, perhaps in memory, is migrated by the lifespan, in-process.)
MIGRATED_APART = frozenset({"sqlite", "mysql"})


def _migrate_apart(c: components_.Components) -> bool:
    """Migrate the store in a forked child, so that the server never imports Alembic, Mako and
    the Pygments lexers Mako loads: about 12 MB that no request needs and that, once imported,
    stay (their modules are referenced from elsewhere: dropping them from `sys.modules`, a full
    collection and `malloc_trim(0)` gave back under 1 MB). The child builds a store of its own
    as `components.build` built the server's (whose connections it leaves alone), migrates it
    and exits; its log lines go where the server's do. False, nothing done, for a store not in
    MIGRATED_APART or where the process cannot fork safely (no `os.fork`, or threads
    running): the lifespan migrates then."""
    if c.settings.store not in MIGRATED_APART or not hasattr(os, "fork"):
        return False
    with logconfig.no_thread_of_ours():
        if threading.active_count() > 1:
            return False
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            backend = c.plugins.backend("store", c.settings.store)
            store = backend.factory(BuildContext(c.settings, plugins=c.plugins))
            try:
                store.migrate()
            finally:
                store.close()
            code = 0
        except BaseException:
            log.exception("migrating the store failed")
        finally:
            logconfig.flush()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        from uvicorn.config import STARTUP_FAILURE

        log.error("Application startup failed: the store could not be migrated. Exiting.")
        sys.exit(STARTUP_FAILURE)
    return True


def serve(settings: Settings, **kwargs: Any) -> None:
    """Run the server until SIGTERM/SIGINT: stop accepting, finish requests, exit 0."""
    import uvicorn

    from kjs.api.auth import check_open_mode

    check_open_mode(settings)
    settings.check_sections()
    if not settings.auth.tokens:
        log.warning(
            "no API tokens configured: the API is open to anyone who can reach %s:%d",
            settings.host,
            settings.port,
        )
    migrated = False
    if kwargs.get("components") is None:  # built here (as create_app would), migrated apart
        kwargs["components"] = components_.build(settings, kwargs.pop("plugins", None))
        migrated = _migrate_apart(kwargs["components"])
    app = create_app(settings, migrate=not migrated, **kwargs)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=30,
        access_log=False,
        log_config=None,  # kjs.core.logconfig: one format for every logger
        http=_header_timeout_protocol(settings.http.header_timeout_s),
    )
    _graceful_server_class()(config, app.state.stopping).run()
