"""The Python SDK of the kjs API: `Client` (sync) and `AsyncClient`, typed results, and
exceptions that carry the server's problem details. See docs/sdk.md.

It imports only httpx and msgspec (and the standard library), so that programs which submit
jobs do not load the server's dependencies.
"""

from __future__ import annotations

import sys

# `import httpx` also imports httpx's own command-line client when its extras are installed
# (rich, pygments, click: megabytes no SDK user needs); httpx falls back to a stub
# `httpx.main` when that module cannot be imported. (Already imported: no effect.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from kjs.client._async import AsyncClient  # noqa: E402
from kjs.client._errors import (  # noqa: E402
    ApiError,
    Conflict,
    FieldError,
    Forbidden,
    InvalidRequest,
    KjsError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
    UnexpectedResponse,
    WatchExpired,
)
from kjs.client._logs import Logs  # noqa: E402
from kjs.client._models import (  # noqa: E402
    FINAL_STATES,
    Cluster,
    ClusterResources,
    CronJob,
    CronJobPage,
    Event,
    Job,
    JobPage,
    PriorityClass,
    Queue,
    QueueUsage,
    ResourceFigures,
    WatchEvent,
)
from kjs.client._sync import Client  # noqa: E402

__all__ = [
    "FINAL_STATES",
    "ApiError",
    "AsyncClient",
    "Client",
    "Cluster",
    "ClusterResources",
    "Conflict",
    "CronJob",
    "CronJobPage",
    "Event",
    "FieldError",
    "Forbidden",
    "InvalidRequest",
    "Job",
    "JobPage",
    "KjsError",
    "Logs",
    "NotFound",
    "PriorityClass",
    "Queue",
    "QueueUsage",
    "ResourceFigures",
    "ServerUnreachable",
    "Unauthorized",
    "UnexpectedResponse",
    "WatchEvent",
    "WatchExpired",
]
