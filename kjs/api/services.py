"""What kjs gives a plugin's routes: `register_routes(services)` receives one `PluginServices`.

A plugin's handlers use these, never `request.app.state` (whose contents are kjs's own and may
change). The policy is `kjs.api.policy`'s, re-exported here: `services.guard(Action.READ)` on the
handler, then `services.access(request)` for the job, cron job or namespace it touches.

```python
from litestar import Request, get

from kjs.api.services import Action, PluginServices
from kjs.core.hookspecs import hookimpl


@hookimpl
def register_routes(services: PluginServices) -> list[object]:
    @get("/my/jobs", guards=[services.guard(Action.READ)])
    async def my_jobs(request: Request) -> list[str]:
        jobs, _ = await services.jobs.list_jobs(
            limit=50, cursor=None, namespaces=services.access(request).namespaces()
        )
        return [job.id for job in jobs]

    return [my_jobs]
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kjs.api import policy
from kjs.api.policy import Access, Action, Guard

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

    from kjs.core.config import Settings
    from kjs.core.protocols import LogSink, Store
    from kjs.scheduler.crons import CronService
    from kjs.scheduler.service import JobService

__all__ = ["Access", "Action", "PluginServices"]


@dataclass(frozen=True)
class PluginServices:
    """The services of one running server, for the routes a plugin adds (`register_routes`)."""

    jobs: JobService
    """Jobs, as the `/api/v1/jobs` routes use them: `submit`, `get` (NotFound if unknown),
    `list_jobs(limit=, cursor=, namespaces=…)`, `events`, `cancel`, `rerun`, `update`. A list
    must be limited to `access(request).namespaces()`; a job read by id checked with
    `access(request).job(job_id, Action.READ)`."""

    crons: CronService
    """Cron jobs, as the `/api/v1/cronjobs` routes use them: `create`, `get`, `list_crons`,
    `update`, `delete`, `set_suspended`, `trigger`."""

    log_sink: LogSink
    """Where collected container logs are kept (`read(job_id, attempt=…)`), whichever
    `log_sink` backend is configured."""

    settings: Settings
    """The server's validated settings; a plugin's own section is
    `settings.section(name, schema)`."""

    store: Store
    """The store itself, for what the services above do not offer (on the SQL stores, `engine`:
    a plugin's own tables). Its methods are blocking: call them through `asyncio.to_thread`."""

    Action: ClassVar[type[policy.Action]] = policy.Action
    """What a route does, as the policy sees it: `READ`, `SUBMIT`, `OPERATE`."""

    @staticmethod
    def guard(action: policy.Action, *, anonymous: policy.Anonymous | None = None) -> Guard:
        """A Litestar guard for a handler (`guards=[services.guard(Action.READ)]`):
        authenticates the caller (401) and checks the action's scope (403); the namespace is
        checked in the handler, with `access(request)`. A route without a guard of its own gets
        the default one (`read` for GET/HEAD, `submit` otherwise). `anonymous(settings)`: the
        principal a caller without a token is, if the route admits one (limited to namespaces)."""
        return policy.guard(action, anonymous=anonymous)

    @staticmethod
    def access(connection: ASGIConnection[Any, Any, Any, Any]) -> Access:
        """The caller of a guarded request and what they may touch: `.namespaces()` for a list
        (None: every one), `.job(job_id, action)` / `.cron(cron_id, action)` (404, 403),
        `.check(action, namespace)` (403), `.check_queue(queue)` for a submit (403)."""
        return policy.access(connection)
