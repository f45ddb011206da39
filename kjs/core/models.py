"""API models (CONTRACT §4): what a user submits and what kjs answers, as msgspec structs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

from kjs.core.states import JobState

NonNegativeInt32 = Annotated[int, Meta(ge=0, le=2**31 - 1)]
PositiveInt64 = Annotated[int, Meta(ge=1, le=2**63 - 1)]
LogCollect = Literal["always", "on_failure", "never"]


class KeyRef(Struct, forbid_unknown_fields=True):
    """One key of a Secret or ConfigMap in the job's namespace."""

    name: str
    key: str
    optional: bool = False


class EnvSource(Struct, forbid_unknown_fields=True):
    """An environment value read from a Secret or a ConfigMap (exactly one of them)."""

    secret: KeyRef | None = None
    config_map: KeyRef | None = None


class EnvFrom(Struct, forbid_unknown_fields=True):
    """Every key of a Secret or ConfigMap as environment variables."""

    secret: str | None = None
    config_map: str | None = None
    prefix: str | None = None


class Quantities(Struct, forbid_unknown_fields=True):
    cpu: str | None = None
    memory: str | None = None


class Resources(Struct, forbid_unknown_fields=True):
    """Kubernetes quantity syntax: `cpu: "500m"`, `memory: "256Mi"`."""

    requests: Quantities | None = None
    limits: Quantities | None = None


class Toleration(Struct, forbid_unknown_fields=True):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class JobSpec(Struct, forbid_unknown_fields=True, kw_only=True):
    """A one-off job as submitted to `POST /api/v1/jobs`."""

    name: Annotated[str, Meta(description="DNS-1123 label, at most 63 characters.")]
    namespace: Annotated[str, Meta(description="Kubernetes namespace to run in.")]
    image: Annotated[str, Meta(description="Container image reference.")]
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: Annotated[
        dict[str, str | EnvSource],
        Meta(description="Name to value, or to `{secret|config_map: {name, key}}`."),
    ] = field(default_factory=dict)
    env_from: list[EnvFrom] = field(default_factory=list)
    resources: Resources | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    parallelism: NonNegativeInt32 | None = None
    completions: NonNegativeInt32 | None = None
    completion_mode: Literal["NonIndexed", "Indexed"] | None = None
    backoff_limit: NonNegativeInt32 = 0
    active_deadline_seconds: PositiveInt64 | None = None
    ttl_seconds_after_finished: NonNegativeInt32 | None = 600
    restart_policy: Literal["Never", "OnFailure"] = "Never"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    service_account: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)
    security_context: Annotated[
        dict[str, Any] | None, Meta(description="Pod security context, Kubernetes' own shape.")
    ] = None
    run_at: Annotated[
        dt.datetime | None,
        Meta(description="RFC 3339; in the past means now; at most 366 days ahead."),
    ] = None
    cluster: Annotated[
        str | list[str] | None, Meta(description="A cluster id, or ids in order of preference.")
    ] = None
    cluster_selector: dict[str, str] = field(default_factory=dict)
    queue: Annotated[
        str,
        Meta(description="The queue it belongs to (a DNS-1123 label); `default` if not given."),
    ] = "default"
    priority_class: Annotated[
        str | None,
        Meta(
            description=(
                "Its priority class (`[scheduling.priority_classes]`); none: its queue's, if "
                "the queue names one, else priority 0."
            )
        ),
    ] = None
    log_collect: LogCollect = "on_failure"
    callback_url: str | None = None
    gang: Annotated[
        str | None,
        Meta(
            description=(
                "A gang id (DNS-1123 label): the batch's jobs with this id are placed on one "
                "cluster all at once, or not at all. Batch route only; with `gang_size`."
            )
        ),
    ] = None
    gang_size: (
        Annotated[
            int,
            Meta(
                ge=2, le=1000, description="How many jobs the gang has (2 to 1,000); with `gang`."
            ),
        ]
        | None
    ) = None


class CronSpec(JobSpec, kw_only=True):
    """A cron job as submitted to `POST /api/v1/cronjobs`: a job template plus its schedule."""

    schedule: Annotated[str, Meta(description="The Kubernetes CronJob grammar.")]
    time_zone: str | None = None
    mode: Literal["native", "managed"] = "native"
    suspend: bool = False
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    start_at: dt.datetime | None = None
    starting_deadline_seconds: PositiveInt64 | None = None


class Job(JobSpec, kw_only=True):
    """A job as kjs answers it: the spec's fields, then its current attempt's status."""

    id: Annotated[str, Meta(description="UUID v4.")]
    state: Annotated[JobState, Meta(description="The current attempt's state.")]
    attempt: Annotated[int, Meta(description="1, then one more per rerun or update.")]
    cluster_id: Annotated[str | None, Meta(description="Where it was placed.")]
    k8s_name: Annotated[str, Meta(description="The Kubernetes Job's name.")]
    created_at: dt.datetime
    updated_at: dt.datetime
    dispatched_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    exit_codes: Annotated[
        dict[str, dict[str, int]], Meta(description="Pod name to container name to exit code.")
    ]
    reason: str | None
    message: str | None
    cron_id: Annotated[str | None, Meta(description="The cron job this job is a run of.")]
    queue_position: Annotated[
        int | None,
        Meta(
            description=(
                "While pending and due: its place among its queue's due pending jobs in the "
                "order placement takes them (oldest first), 1 = next; counted when read. Null "
                "otherwise, and in watch lines and webhooks."
            )
        ),
    ] = None
    priority: Annotated[
        int,
        Meta(
            description=(
                "Its priority class's value when it was last written (submitted, edited, "
                "rerun); 0 without a class. Within a queue, higher is placed first."
            )
        ),
    ] = 0


class Cron(CronSpec, kw_only=True):
    """A cron job as kjs answers it: the spec's fields, then its status and run counters."""

    id: Annotated[str, Meta(description="UUID v4.")]
    attempt: int
    cluster_id: Annotated[str | None, Meta(description="A native cron job's cluster.")]
    k8s_name: Annotated[str, Meta(description="The Kubernetes CronJob's name (native).")]
    state: Annotated[
        str,
        Meta(
            description=(
                "native: `pending`, `dispatched`, `created`, `removed`; managed: `active`."
            )
        ),
    ]
    created_at: dt.datetime
    updated_at: dt.datetime
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    runs_total: int
    runs_succeeded: int
    next_runs: Annotated[
        list[dt.datetime],
        Meta(description="The next 5 fire times (UTC), soonest first; empty when suspended."),
    ] = field(default_factory=list)


def to_builtins(obj: Struct) -> dict[str, Any]:
    """A struct as plain JSON-able data."""
    data: dict[str, Any] = msgspec.to_builtins(obj)
    return data
