"""What the store keeps: jobs (one row per job and per cron run), cron jobs, events, clusters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from msgspec import Struct, field

from kjs.core.manifest import k8s_name
from kjs.core.messages import ResourceAmounts
from kjs.core.models import CronSpec, Job, JobSpec
from kjs.core.states import JobState


class JobRecord(Struct, kw_only=True):
    """A job as stored: its spec, where it was placed, and its current attempt's state."""

    id: str
    spec: JobSpec
    state: JobState = JobState.PENDING
    attempt: int = 1
    cluster_id: str | None = None
    k8s_name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    run_at: dt.datetime | None = None
    dispatched_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    cron_id: str | None = None
    idempotency_key: str | None = None
    priority: int = 0
    """Its priority class's value, resolved when the job was written (`kjs.core.priorities`)."""

    # JobView, for plugins
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def namespace(self) -> str:
        return self.spec.namespace


class CronRecord(Struct, kw_only=True):
    """A cron job as stored, with its run counters."""

    id: str
    spec: CronSpec
    attempt: int = 1
    cluster_id: str | None = None
    k8s_name: str
    # native: pending -> dispatched -> created (-> removed: its cluster confirmed the delete);
    # managed: active
    state: str = "pending"
    created_at: dt.datetime
    updated_at: dt.datetime
    next_run_at: dt.datetime | None = None
    last_run_at: dt.datetime | None = None
    runs_total: int = 0
    runs_succeeded: int = 0
    deleted: bool = False


class EventRecord(Struct, kw_only=True):
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
    """Its place in the job's history, increasing (set by the store; a watch resumes after it)."""


def job_event(job: JobRecord, at: dt.datetime, *, cluster_id: str | None = None) -> EventRecord:
    """The history's record of the job as it stands: its attempt, state, reason and message."""
    return EventRecord(
        job_id=job.id,
        attempt=job.attempt,
        state=str(job.state),
        at=at,
        reason=job.reason,
        message=job.message,
        cluster_id=cluster_id,
    )


def next_attempt(job: JobRecord, at: dt.datetime, **changes: Any) -> JobRecord:
    """The job as its next attempt: pending, on no cluster, its times and exit codes cleared,
    its object named for the attempt (after its spec in `changes`, if one is given); `changes`
    on top (its reason, message, run_at…)."""
    attempt = job.attempt + 1
    spec: JobSpec = changes.get("spec", job.spec)
    fresh = dict(
        attempt=attempt,
        state=JobState.PENDING,
        cluster_id=None,
        k8s_name=k8s_name(spec.name, job.id, attempt),
        updated_at=at,
        dispatched_at=None,
        started_at=None,
        finished_at=None,
        exit_codes={},
    )
    return msgspec.structs.replace(job, **(fresh | changes))


class QueueUsage(Struct, kw_only=True):
    """What one queue's jobs in one state hold on one cluster (None: placed nowhere yet):
    how many, and their total requests (`kjs.core.requests.job_requests`)."""

    queue: str
    cluster_id: str | None
    state: JobState
    jobs: int
    cpu_millis: int
    memory_bytes: int


class ClusterResources(Struct, kw_only=True):
    """What a cluster's ready, schedulable nodes have, as its agent last reported (see
    `messages.Heartbeat`): allocatable, free (less every non-terminal pod's requests), each
    resource's largest free figure on one node, the moment they are from, and whether `free`
    counts only some namespaces' pods."""

    allocatable: ResourceAmounts
    free: ResourceAmounts
    largest_free_node: ResourceAmounts
    at: dt.datetime
    partial: bool = False


class ClusterRecord(Struct, kw_only=True):
    """A cluster as known from its agent's heartbeats."""

    id: str
    state: str = "ready"
    labels: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    capacity: int = 0
    running: int = 0
    pending: int = 0
    last_heartbeat: dt.datetime | None = None
    cordoned: bool = False
    resources: ClusterResources | None = None  # None: an agent that does not report them


def job_view(job: JobRecord, queue_position: int | None = None) -> Job:
    """The API representation (CONTRACT §4): the spec's fields, then the status fields, and
    the job's `queue_position` when the caller counted it (`kjs.scheduler.positions`)."""
    fields = msgspec.structs.asdict(job.spec)
    fields.update(
        id=job.id,
        state=job.state,
        attempt=job.attempt,
        cluster_id=job.cluster_id,
        k8s_name=job.k8s_name,
        created_at=job.created_at,
        updated_at=job.updated_at,
        run_at=job.run_at,  # the record's: none once it is due
        dispatched_at=job.dispatched_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        exit_codes=job.exit_codes,
        reason=job.reason,
        message=job.message,
        cron_id=job.cron_id,
        queue_position=queue_position,
        priority=job.priority,
    )
    return Job(**fields)


def job_json(job: JobRecord) -> dict[str, Any]:
    """`job_view` as plain JSON-able data (webhooks, the CLI)."""
    out: dict[str, Any] = msgspec.to_builtins(job_view(job))
    return out
