"""Each API call as data: method, path, query, body, and how to read the answer.

`Client` and `AsyncClient` only send these and decode what comes back, so the two cannot
drift apart in what they ask the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

import msgspec

from kjs.client._logs import Logs, read_logs
from kjs.client._models import (
    Cluster,
    ClusterList,
    CronJob,
    CronJobPage,
    DryRun,
    EventList,
    Items,
    Job,
    JobBatch,
    JobPage,
    PriorityClass,
    PriorityClassList,
    Queue,
    QueueList,
    decoder,
)

if TYPE_CHECKING:
    from kjs.client._models import Event
    from kjs.core.models import CronSpec, JobSpec

T = TypeVar("T")

JobInput: TypeAlias = "Mapping[str, Any] | JobSpec"
"""A job as `POST /jobs` takes it: a mapping of its fields, or a `kjs.core.models.JobSpec`."""
CronInput: TypeAlias = "Mapping[str, Any] | CronSpec"
"""A cron job as `POST /cronjobs` takes it: a mapping of its fields, or a `CronSpec`."""
Params = list[tuple[str, str | int | float | bool | None]]
"""A query, as httpx takes it (a key may repeat: `label=a=1&label=b=2`)."""

MAX_BATCH = 1000
"""Jobs per `POST /jobs:batch` (the server's limit)."""
DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = "kjs-client (python)"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request, and how to read its (successful) answer's body."""

    method: str
    path: str
    read: Callable[[bytes], T]
    params: Params = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Instead of `read`, for an answer whose headers matter too.
    read_headers: Callable[[bytes, Mapping[str, str]], T] | None = None


_job = decoder(Job).decode
_cron = decoder(CronJob).decode
_cluster = decoder(Cluster).decode
_job_page = decoder(JobPage).decode
_cron_page = decoder(CronJobPage).decode
_jobs = decoder(JobBatch).decode
_events = decoder(EventList).decode
_clusters = decoder(ClusterList).decode
_items = decoder(Items).decode
_dry_run = decoder(DryRun).decode
_queue = decoder(Queue).decode
_queues = decoder(QueueList).decode
_priority_classes = decoder(PriorityClassList).decode
_JSON = {"Content-Type": "application/json"}


def _segment(value: str) -> str:
    # An id is one path segment whatever it holds (ids a client chose may hold anything).
    return quote(value, safe="")


def _job_path(job_id: str, *rest: str) -> str:
    return "/".join(("/jobs", _segment(job_id), *rest))


def _cron_path(cron_id: str, *rest: str) -> str:
    return "/".join(("/cronjobs", _segment(cron_id), *rest))


def encode(value: Mapping[str, Any] | msgspec.Struct) -> bytes:
    """A request body: a struct as msgspec encodes it, a mapping as a JSON object."""
    return msgspec.json.encode(value if isinstance(value, msgspec.Struct) else dict(value))


def text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def job_filters(
    *,
    state: str | None = None,
    cluster_id: str | None = None,
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
    cron_id: str | None = None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    namespace: str | None = None,
    name_prefix: str | None = None,
) -> Params:
    """The query of `GET /jobs` for these filters (shared by list, iterate and watch)."""
    params: Params = []
    for key, value in (
        ("state", state),
        ("cluster_id", cluster_id),
        ("name", name),
        ("cron_id", cron_id),
        ("namespace", namespace),
        ("name_prefix", name_prefix),
    ):
        if value is not None:
            params.append((key, str(value)))
    params += [("label", f"{k}={v}") for k, v in (labels or {}).items()]
    for key, when in (("created_after", created_after), ("created_before", created_before)):
        if when is not None:
            params.append((key, when.isoformat()))
    return params


def headers(token: str | None) -> dict[str, str]:
    """The headers of every request: who asks, and the bearer token if there is one."""
    sent = {"User-Agent": USER_AGENT}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def batch_keys(
    jobs: Sequence[JobInput], idempotency_keys: Sequence[str | None] | None
) -> list[str | None]:
    """One idempotency key (or None) per job of a batch."""
    if idempotency_keys is None:
        return [None] * len(jobs)
    if len(idempotency_keys) != len(jobs):
        raise ValueError(f"{len(idempotency_keys)} idempotency keys for {len(jobs)} jobs")
    return list(idempotency_keys)


# -- jobs -------------------------------------------------------------------------------------


def submit(job: JobInput, idempotency_key: str | None) -> Call[Job]:
    headers = dict(_JSON)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return Call("POST", "/jobs", _job, body=encode(job), headers=headers)


def submit_batch(jobs: Sequence[JobInput], keys: Sequence[str | None]) -> Call[list[Job]]:
    items = [
        {"job": msgspec.Raw(encode(job)), "idempotency_key": key}
        for job, key in zip(jobs, keys, strict=True)
    ]
    return Call(
        "POST",
        "/jobs:batch",
        lambda body: _jobs(body).items,
        body=msgspec.json.encode({"items": items}),
        headers=dict(_JSON),
    )


def dry_run(job: JobInput) -> Call[dict[str, Any]]:
    return Call(
        "POST",
        "/jobs",
        lambda body: _dry_run(body).manifest,
        params=[("dry_run", "true")],
        body=encode(job),
        headers=dict(_JSON),
    )


def get_job(job_id: str) -> Call[Job]:
    return Call("GET", _job_path(job_id), _job)


def list_jobs(
    filters: Params, limit: int, cursor: str | None, sort: str | None = None
) -> Call[JobPage]:
    params = [*filters, ("limit", str(limit))]
    if cursor is not None:
        params.append(("cursor", cursor))
    if sort is not None:
        params.append(("sort", sort))
    return Call("GET", "/jobs", _job_page, params=params)


def update_job(job_id: str, changes: Mapping[str, Any]) -> Call[Job]:
    return Call("PATCH", _job_path(job_id), _job, body=encode(changes), headers=dict(_JSON))


def cancel(job_id: str) -> Call[Job]:
    return Call("DELETE", _job_path(job_id), _job)


def rerun(job_id: str) -> Call[Job]:
    return Call("POST", _job_path(job_id, "rerun"), _job)


def events(job_id: str) -> Call[list[Event]]:
    return Call("GET", _job_path(job_id, "events"), lambda body: _events(body).items)


def log_params(
    pod: str | None, container: str | None, attempt: int | None, follow: bool = False
) -> Params:
    params: Params = [
        (k, str(v)) for k, v in (("pod", pod), ("container", container)) if v is not None
    ]
    if attempt is not None:
        params.append(("attempt", str(attempt)))
    if follow:
        params.append(("follow", "true"))
    return params


def logs(job_id: str, pod: str | None, container: str | None, attempt: int | None) -> Call[Logs]:
    return Call(
        "GET",
        _job_path(job_id, "logs"),
        lambda body: Logs(text(body)),  # (read_headers reads it)
        params=log_params(pod, container, attempt),
        read_headers=read_logs,
    )


def logs_path(job_id: str) -> str:
    return _job_path(job_id, "logs")


def events_path(job_id: str) -> str:
    return _job_path(job_id, "events")


def callbacks(job_id: str) -> Call[list[dict[str, Any]]]:
    return Call("GET", _job_path(job_id, "callbacks"), lambda body: _items(body).items)


def redeliver(job_id: str) -> Call[Job]:
    return Call("POST", _job_path(job_id, "callbacks", "redeliver"), _job)


# -- cron jobs --------------------------------------------------------------------------------


def create_cron(cron: CronInput) -> Call[CronJob]:
    return Call("POST", "/cronjobs", _cron, body=encode(cron), headers=dict(_JSON))


def get_cron(cron_id: str) -> Call[CronJob]:
    return Call("GET", _cron_path(cron_id), _cron)


def list_crons(filters: Mapping[str, Any], limit: int, cursor: str | None) -> Call[CronJobPage]:
    params: Params = [(k, str(v)) for k, v in filters.items() if v is not None]
    params.append(("limit", str(limit)))
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/cronjobs", _cron_page, params=params)


def update_cron(cron_id: str, changes: Mapping[str, Any]) -> Call[CronJob]:
    return Call("PATCH", _cron_path(cron_id), _cron, body=encode(changes), headers=dict(_JSON))


def delete_cron(cron_id: str) -> Call[CronJob]:
    return Call("DELETE", _cron_path(cron_id), _cron)


def suspend_cron(cron_id: str, suspend: bool) -> Call[CronJob]:
    return Call("POST", _cron_path(cron_id, "suspend" if suspend else "resume"), _cron)


def trigger_cron(cron_id: str) -> Call[Job]:
    return Call("POST", _cron_path(cron_id, "trigger"), _job)


def cron_runs(cron_id: str, limit: int, cursor: str | None) -> Call[JobPage]:
    params: Params = [("limit", str(limit))]
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", _cron_path(cron_id, "runs"), _job_page, params=params)


# -- clusters ---------------------------------------------------------------------------------


def clusters() -> Call[list[Cluster]]:
    return Call("GET", "/clusters", lambda body: _clusters(body).items)


def cluster(cluster_id: str) -> Call[Cluster]:
    return Call("GET", f"/clusters/{_segment(cluster_id)}", _cluster)


def cordon(cluster_id: str, on: bool) -> Call[Cluster]:
    action = "cordon" if on else "uncordon"
    return Call("POST", f"/clusters/{_segment(cluster_id)}/{action}", _cluster)


# -- queues -----------------------------------------------------------------------------------


def queues() -> Call[list[Queue]]:
    return Call("GET", "/queues", lambda body: _queues(body).items)


def queue(name: str) -> Call[Queue]:
    return Call("GET", f"/queues/{_segment(name)}", _queue)


def put_queue(name: str, definition: Mapping[str, Any]) -> Call[Queue]:
    return Call(
        "PUT", f"/queues/{_segment(name)}", _queue, body=encode(definition), headers=dict(_JSON)
    )


def priority_classes() -> Call[list[PriorityClass]]:
    return Call("GET", "/priority-classes", lambda body: _priority_classes(body).items)


def delete_queue(name: str) -> Call[None]:
    return Call("DELETE", f"/queues/{_segment(name)}", lambda body: None)
