"""One authorization point (CONTRACT §6): may this principal do this action in this namespace?

Every route family asks here — `/api/v1` jobs, cron jobs and clusters, the compatibility routes,
and plugins' routes (`guard(action)` on the handler, then `access(request)` for the job, cron
job or namespace it touches). Authentication (who is calling) is `kjs.api.auth`; this module
decides what they may do:

* an action needs a scope (`read` < `submit` < `admin`, each implying the ones before);
* a job or cron job in a namespace the principal may not use is a 403, on reads too; an edit is
  checked against the namespace it is in and the one it moves to; lists leave other namespaces
  out;
* cluster-wide writes (cordon, uncordon; defining and deleting queues) change every namespace's
  work: they need a principal that is not limited to namespaces;
* a job submitted to, or edited into, a queue the principal may not use (`Principal.queues`), or
  a cron job created or edited into one, is a 403 naming the queue (`Access.check_queue`); reads
  are not limited by queue;
* a plugin's route may admit an anonymous principal of its own (`guard(action, anonymous=…)`)
  for a caller that sends no token: the compat plugin's `[compat] open` client, which may read
  and submit only jobs created through its routes, only in the namespaces it names.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from litestar import Router
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from kjs.api.auth import Principal, authenticate
from kjs.core.config import Settings

if TYPE_CHECKING:
    from kjs.core.records import CronRecord, JobRecord
    from kjs.scheduler.crons import CronService
    from kjs.scheduler.service import JobService


class Action(enum.StrEnum):
    """What a route does, as the policy sees it."""

    READ = "read"  # jobs, cron jobs, their runs, events, logs and callbacks; clusters
    SUBMIT = "submit"  # create, edit, cancel, rerun, delete, suspend, resume, trigger, redeliver
    OPERATE = "operate"  # cordon and uncordon a cluster; define and delete queues


SCOPE_OF: dict[Action, str] = {
    Action.READ: "read",
    Action.SUBMIT: "submit",
    Action.OPERATE: "admin",
}

EVERY_NAMESPACE = None
"""The namespace of what is not in one (clusters): a write to it touches every namespace."""

_STATE_KEY = "kjs_principal"


class Forbidden(PermissionDeniedException):
    """403: the principal is known, the action is not theirs."""


def refusal(
    who: Principal, action: Action, namespace: str | None, *, realm: str | None = None
) -> str | None:
    """Why `who` may not do `action` in `namespace` (None: allowed). `realm`: the plugin realm
    the job or cron job concerned belongs to (or is created in), for a principal confined to one
    (`Principal.realm`)."""
    lacking = _lacking_scope(who, action)
    if lacking is not None:
        return lacking
    if who.realm is not None and realm != who.realm:
        return f"{who.label} may only use jobs created through the {who.realm} routes"
    if namespace is EVERY_NAMESPACE:
        if who.namespaces and action is not Action.READ:
            return f"{who.label} is limited to namespaces and may not act on every namespace"
        return None
    if not who.may_use(namespace):
        return f"{who.label} may not use namespace {namespace!r}"
    return None


def queue_refusal(who: Principal, queue: str) -> str | None:
    """Why `who` may not submit to `queue` (None: allowed)."""
    if who.may_submit_to(queue):
        return None
    return f"{who.label} may not use queue {queue!r} (it may use {', '.join(sorted(who.queues))})"


def _lacking_scope(who: Principal, action: Action) -> str | None:
    scope = SCOPE_OF[action]
    return None if who.may(scope) else f"{who.label} lacks the {scope!r} scope"


def authorize(
    who: Principal, action: Action, namespace: str | None, *, realm: str | None = None
) -> None:
    """Raise `Forbidden` (403) unless `who` may do `action` in `namespace`."""
    reason = refusal(who, action, namespace, realm=realm)
    if reason is not None:
        raise Forbidden(reason)


def listed_namespaces(who: Principal) -> list[str] | None:
    """The namespaces a list may show `who` (None: every one)."""
    return sorted(who.namespaces) if who.namespaces else None


# -- Litestar: the guard, and the per-request door -------------------------------------------------


Anonymous = Callable[[Settings], Principal | None]
"""A route's anonymous principal for a caller without a token (None: none, a token is needed)."""


def _caller(
    connection: ASGIConnection[Any, Any, Any, Any], anonymous: Anonymous | None
) -> Principal:
    settings: Settings = connection.app.state.settings
    if anonymous is not None and settings.auth.tokens and "authorization" not in connection.headers:
        who = anonymous(settings)
        if who is not None:
            if not who.namespaces:  # an anonymous caller never gets every namespace
                raise NotAuthorizedException(
                    "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
                )
            return who
    return authenticate(connection, settings)


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def guard(action: Action, *, anonymous: Anonymous | None = None) -> Guard:
    """A Litestar guard: authenticates the caller (401) and checks the action's scope (403).
    The namespace is checked by the handler, through `access(request)`, once it is known.
    `anonymous`: the principal a caller without a token is on this route, if any (the compat
    plugin's `[compat] open` client); it is limited to namespaces, or refused."""

    def check(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        who = _caller(connection, anonymous)
        lacking = _lacking_scope(who, action)
        if lacking is not None:
            raise Forbidden(lacking)
        connection.scope.setdefault("state", {})[_STATE_KEY] = who

    check.kjs_action = action  # type: ignore[attr-defined]  # read by the route-table test
    return check


OPEN_ROUTE = "kjs_open"
"""`opt={OPEN_ROUTE: True}` on a plugin's route: open, no token asked. For what shows nothing
by itself (the web UI's page and files): the data they load comes through guarded routes."""


def _default_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A plugin's route that brings no guard of its own still passes the door: reading needs
    `read`, anything else `submit` (a route with `guard(...)` decides for itself; one marked
    `OPEN_ROUTE` is open)."""
    method = connection.scope.get("method", "GET")
    if handler.opt.get(OPEN_ROUTE) and method in ("GET", "HEAD"):
        return
    if method == "OPTIONS" or any(getattr(g, "kjs_action", None) for g in handler.guards or ()):
        return  # a preflight shows nothing; a route with its own guard decides for itself
    guard(Action.READ if method in ("GET", "HEAD") else Action.SUBMIT)(connection, handler)


def behind_the_door(route_handlers: Sequence[Any]) -> Router:
    """Plugins' routes, each behind the policy: its own `guard(...)`, else the default one."""
    return Router(path="/", route_handlers=list(route_handlers), guards=[_default_guard])


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller, as the route's guard found it."""
    try:
        found: Principal = connection.scope["state"][_STATE_KEY]
    except KeyError:
        # A route without `guard(...)`: nobody has vouched for the caller.
        raise NotAuthorizedException("this route has no authorization guard") from None
    return found


class Access:
    """The caller of one request, and what they may touch: the one door of every route family."""

    def __init__(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        self.who = principal(connection)
        state = connection.app.state
        self._jobs: JobService = state.jobs
        self._crons: CronService = state.crons

    def check(self, action: Action, namespace: str | None, *, realm: str | None = None) -> None:
        authorize(self.who, action, namespace, realm=realm)

    def check_queue(self, queue: str) -> None:
        """A submit to, or an edit into, `queue`: 403 unless the caller may use it."""
        reason = queue_refusal(self.who, queue)
        if reason is not None:
            raise Forbidden(reason)

    def namespaces(self) -> list[str] | None:
        """The namespaces a list may show (None: every one)."""
        return listed_namespaces(self.who)

    async def job(self, job_id: str, action: Action, *, realm: str | None = None) -> JobRecord:
        """The job (404 if unknown), if the caller may do `action` to it (else 403)."""
        job = await self._jobs.get(job_id)
        self.check(action, job.spec.namespace, realm=realm)
        return job

    async def cron(self, cron_id: str, action: Action, *, realm: str | None = None) -> CronRecord:
        """The cron job (404 if unknown or deleted), if the caller may do `action` to it."""
        cron = await self._crons.get(cron_id)
        self.check(action, cron.spec.namespace, realm=realm)
        return cron

    def move(self, current: str, new: str, *, realm: str | None = None) -> None:
        """An edit: allowed in the namespace it is in and in the one it moves to."""
        self.check(Action.SUBMIT, current, realm=realm)
        self.check(Action.SUBMIT, new, realm=realm)


def access(connection: ASGIConnection[Any, Any, Any, Any]) -> Access:
    """The door: `access(request).job(job_id, Action.READ)`, `.check(Action.SUBMIT, ns)`, …"""
    return Access(connection)
