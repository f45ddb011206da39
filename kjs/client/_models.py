"""What the kjs API answers, as msgspec structs decoded straight from the response bytes.

These are the SDK's own structs, not `kjs.core.models`: the server's input models refuse
unknown fields, while a client must read what a newer server sends (a field it does not know
is ignored, never an error). Nested specs the SDK only passes through (resources,
tolerations, …) stay plain JSON data for the same reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from msgspec import Struct, field

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
"""A job in one of these states changes no more (unless it is rerun or updated)."""


class _JobTemplate(Struct, kw_only=True):
    """The fields of a job spec, as a job and a cron job answer them."""

    name: str
    namespace: str
    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    env_from: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    parallelism: int | None = None
    completions: int | None = None
    completion_mode: str | None = None
    backoff_limit: int = 0
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    restart_policy: str = "Never"
    image_pull_policy: str | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    service_account: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    security_context: dict[str, Any] | None = None
    run_at: dt.datetime | None = None
    cluster: str | list[str] | None = None
    cluster_selector: dict[str, str] = field(default_factory=dict)
    queue: str = "default"
    """The queue it belongs to (`default` from a server without queues)."""
    priority_class: str | None = None
    """Its priority class as given (None: its queue's, if the queue names one)."""
    log_collect: str = "on_failure"
    callback_url: str | None = None
    gang: str | None = None
    """Its gang's id: placed with the gang's other jobs on one cluster, all at once."""
    gang_size: int | None = None


class Job(_JobTemplate, kw_only=True):
    """A job: its spec, then its current attempt's status."""

    id: str
    state: str
    """`pending`, `dispatched`, `created`, `running`, `succeeded`, `failed`, `cancelling`,
    `cancelled` or `lost` (a plain string, so that a state added later still decodes)."""
    attempt: int = 1
    cluster_id: str | None = None
    k8s_name: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    dispatched_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Pod name to container name to exit code."""
    reason: str | None = None
    """Why it is where it is; for a pending job, why it waits (`QueueLimitReached`, `NoCapacity`,
    `WaitingForRunAt`, … — docs/queues.md), with `message` saying it in words."""
    message: str | None = None
    cron_id: str | None = None
    queue_position: int | None = None
    """While pending and due: its place in its queue's line (1 = next), as of the read (a
    job read from a list or `get`; None in a watch's events and from older servers)."""
    priority: int = 0
    """Its priority class's value when it was last written (submitted, edited, rerun); 0
    without a class. Within a queue, higher is placed first."""

    @property
    def is_final(self) -> bool:
        """Whether the job has finished: succeeded, failed or cancelled."""
        return self.state in FINAL_STATES


class JobPage(Struct, kw_only=True):
    """One page of `GET /jobs`, newest first."""

    items: list[Job]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; None on the last."""
    watch_cursor: str | None = None
    """Pass to `watch` to see every change after this page was read (None from a server
    without the watch API)."""


class Event(Struct, kw_only=True):
    """One entry of a job's status history."""

    job_id: str
    attempt: int
    state: str
    at: dt.datetime
    reason: str | None = None
    message: str | None = None
    pod: str | None = None
    exit_code: int | None = None
    cluster_id: str | None = None
    seq: int | None = None
    """Its place in the job's history: pass as `watch_cursor` to `watch_events` to read on
    right after it (None from a server without the watch API)."""

    @property
    def is_final(self) -> bool:
        """Whether this event ends its attempt: succeeded, failed or cancelled."""
        return self.state in FINAL_STATES


class WatchEvent(Struct, kw_only=True):
    """One change seen by `watch`: a job `ADDED`, `MODIFIED` or `DELETED` (its state when
    the server read it), or a `BOOKMARK` (no job: the cursor moved on)."""

    type: str
    seq: int
    """Pass as `watch_cursor` to resume right after this change."""
    job: Job | None = None


class CronJob(_JobTemplate, kw_only=True):
    """A cron job: its job template and schedule, then its status and run counters."""

    schedule: str
    time_zone: str | None = None
    mode: str = "native"
    suspend: bool = False
    concurrency_policy: str = "Allow"
    start_at: dt.datetime | None = None
    starting_deadline_seconds: int | None = None
    id: str
    attempt: int = 1
    cluster_id: str | None = None
    k8s_name: str | None = None
    state: str
    """native: `pending`, `dispatched`, `created`, `removed`; managed: `active`."""
    created_at: dt.datetime
    updated_at: dt.datetime
    next_run_at: dt.datetime | None = None
    last_run_at: dt.datetime | None = None
    runs_total: int = 0
    runs_succeeded: int = 0
    next_runs: list[dt.datetime] = field(default_factory=list)  # the next 5; [] if suspended


class CronJobPage(Struct, kw_only=True):
    """One page of `GET /cronjobs`, newest first."""

    items: list[CronJob]
    next_cursor: str | None = None


class ResourceFigures(Struct, kw_only=True):
    cpu_millis: int = 0
    """CPU in millicores."""
    memory_bytes: int = 0
    pods: int = 0


class ClusterResources(Struct, kw_only=True):
    """A cluster's ready, schedulable nodes' resources, as its agent last reported them."""

    allocatable: ResourceFigures
    free: ResourceFigures
    """Allocatable less every non-terminal pod's requests (whoever created it)."""
    largest_free_node: ResourceFigures
    """Each resource's largest free figure on any one node."""
    at: dt.datetime
    """The moment the figures are from."""
    partial: bool = False
    """`free` counts only the agent's namespaces' pods (it may be too high)."""


class Cluster(Struct, kw_only=True):
    """A cluster as known from its agent's heartbeats."""

    id: str
    state: str
    """`ready`, `unreachable` or `cordoned`."""
    labels: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    capacity: int = 0
    """Jobs it can run at once (0: takes no work)."""
    running: int = 0
    pending: int = 0
    last_heartbeat: dt.datetime | None = None
    cordoned: bool = False
    load: float | None = None
    """(running + pending + dispatched) / capacity; None while the capacity is unknown."""
    dispatched: int = 0
    """Jobs dispatched to it and not yet acknowledged."""
    resources: ClusterResources | None = None
    """None: its agent does not report resources."""


class QueueUsage(Struct, kw_only=True):
    """A queue's jobs now (read with the queue)."""

    pending: int = 0
    running: int = 0
    """Placed and not final: dispatched, created, running, cancelling or lost."""
    cpu_millis: int = 0
    """CPU the `running` ones request in total, in millicores."""
    memory_bytes: int = 0
    """Memory the `running` ones request in total, in bytes."""


class Queue(Struct, kw_only=True):
    """A queue jobs are submitted to (docs/queues.md)."""

    name: str
    source: str
    """`config`: defined in the server's configuration (read-only); `api`: with `put_queue`."""
    weight: float = 1.0
    limits: dict[str, Any] = field(default_factory=dict)
    """`max_running`, `max_cpu`, `max_memory`, and `per_cluster` with the same keys (None: no
    limit; quantities as strings, `"8"`, `"16Gi"`)."""
    namespaces: list[str] = field(default_factory=list)
    """The namespaces whose jobs it takes; empty: every one."""
    priority_class: str | None = None
    preemption: bool = True
    """Whether its jobs that fit nowhere may preempt running jobs of a lower, preemptible class."""
    created_at: dt.datetime | None = None
    """None for a queue of the configuration."""
    updated_at: dt.datetime | None = None
    usage: QueueUsage | None = None
    """Its jobs now (None from a server older than queue usage)."""
    share: float | None = None
    """Its fair share now: what its placed, unfinished jobs request of the ready clusters' CPU
    or memory, whichever is larger (of their job slots without figures), 0..1; None from a
    server older than fair share."""
    weighted_share: float | None = None
    """`share` ÷ `weight`: the server places next from the queue lowest in it."""


# -- envelopes: what the SDK unwraps ---------------------------------------------------------


class Items(Struct):
    """`{"items": [...]}` of anything the SDK hands over as plain data."""

    items: list[dict[str, Any]]


class JobBatch(Struct):
    items: list[Job]


class QueueList(Struct):
    items: list[Queue]


class PriorityClass(Struct, kw_only=True):
    """A priority class of the server's configuration (`[scheduling.priority_classes]`)."""

    name: str
    value: int
    """Within a queue, jobs of a higher value are placed first."""
    preemptible: bool = False
    description: str | None = None


class PriorityClassList(Struct):
    items: list[PriorityClass]


class EventList(Struct):
    items: list[Event]


class ClusterList(Struct):
    items: list[Cluster]


class DryRun(Struct):
    manifest: dict[str, Any]


def decoder(kind: type[Any]) -> msgspec.json.Decoder[Any]:
    """A reusable JSON decoder for `kind` (msgspec compiles it once)."""
    return msgspec.json.Decoder(kind)
