"""Queues (issue 18): every job belongs to one. A queue is defined in the configuration
(`[scheduling.queues.<name>]`, read-only over the API) or over the API (`PUT /api/v1/queues/{name}`,
kept in the store); `default` always exists.

What a definition holds: a `weight` (used by fair share), a `priority_class` (its jobs' default
class, `kjs.core.priorities`), whether its jobs may preempt others (`preemption`), `limits`
(checked here, enforced by placement), and the `namespaces` whose jobs it takes (enforced at
submit). Pure: no store, no HTTP; the service
(`kjs.scheduler.queues`) puts it together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from kjs.core.quantity import QuantityError, cpu_millicores, memory_bytes
from kjs.core.requests import cpu_text, memory_text
from kjs.core.usage import QueueUsageSummary
from kjs.core.validation import DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_MSG

DEFAULT_QUEUE = "default"
MAX_NAME = 63

_LABEL_RULE = f"must be at most 63 characters; {LABEL_MSG}"  # validation's rule and words

Quantity = Annotated[
    str, Meta(description='A Kubernetes quantity: `"8"`, `"500m"` (CPU), `"16Gi"` (memory).')
]


class ClusterLimits(Struct, forbid_unknown_fields=True, kw_only=True):
    """What a queue's jobs may hold at once (None: no limit)."""

    max_running: Annotated[
        int | None,
        Meta(description="Jobs placed and not final (dispatched … running, lost)."),
    ] = None
    max_cpu: Annotated[Quantity | None, Meta(description='CPU requested, e.g. `"8"`.')] = None
    max_memory: Annotated[Quantity | None, Meta(description='Memory requested, e.g. `"16Gi"`.')] = (
        None
    )


class QueueLimits(ClusterLimits, kw_only=True):
    """A queue's limits in total, and on each cluster (`per_cluster`)."""

    per_cluster: ClusterLimits = field(default_factory=ClusterLimits)


class QueueDefinition(Struct, forbid_unknown_fields=True, kw_only=True):
    """A queue as defined: the body of `PUT /api/v1/queues/{name}`, a
    `[scheduling.queues.<name>]` table."""

    name: Annotated[
        str | None, Meta(description="Optional: when given, the path's (or the table's) name.")
    ] = None
    weight: Annotated[
        float,
        Meta(gt=0, description="Its share against the other queues: fair share (docs/queues.md)."),
    ] = 1.0
    limits: QueueLimits = field(default_factory=QueueLimits)
    namespaces: Annotated[
        list[str], Meta(description="The namespaces whose jobs it takes; empty: every one.")
    ] = field(default_factory=list)
    priority_class: Annotated[
        str | None,
        Meta(
            description=(
                "The priority class of its jobs that name none (one of "
                "`[scheduling.priority_classes]`); none: priority 0."
            )
        ),
    ] = None
    preemption: Annotated[
        bool,
        Meta(
            description=(
                "Whether its jobs that fit nowhere may preempt running jobs of a lower, "
                "preemptible priority class (docs/queues.md, Preemption)."
            )
        ),
    ] = True


QueueSource = Literal["config", "api"]


class Queue(Struct, kw_only=True):
    """A queue as kjs answers it (`GET /api/v1/queues`)."""

    name: str
    source: Annotated[
        QueueSource,
        Meta(description="`config`: from `[scheduling.queues]`, read-only; `api`: PUT."),
    ]
    weight: float
    limits: QueueLimits
    namespaces: list[str]
    priority_class: str | None
    preemption: bool
    created_at: Annotated[dt.datetime | None, Meta(description="None for a config queue.")]
    updated_at: dt.datetime | None
    usage: Annotated[
        QueueUsageSummary | None,
        Meta(description="Its jobs now, read with the queue (`GET /api/v1/queues`)."),
    ] = None
    share: Annotated[
        float | None,
        Meta(
            description=(
                "Its fair share now: what its placed, unfinished jobs request of the ready "
                "clusters' CPU or memory, whichever is larger (of their job slots when no "
                "cluster reports figures); 0..1 (docs/queues.md, Fair share)."
            )
        ),
    ] = None
    weighted_share: Annotated[
        float | None,
        Meta(description="`share` ÷ `weight`: placement places next from the queue lowest in it."),
    ] = None


class QueueRecord(Struct, kw_only=True):
    """A queue defined over the API, as the store keeps it."""

    name: str
    definition: QueueDefinition
    created_at: dt.datetime
    updated_at: dt.datetime


def view(
    name: str,
    definition: QueueDefinition,
    source: QueueSource,
    created_at: dt.datetime | None = None,
    updated_at: dt.datetime | None = None,
) -> Queue:
    return Queue(
        name=name,
        source=source,
        weight=definition.weight,
        limits=definition.limits,
        namespaces=list(definition.namespaces),
        priority_class=definition.priority_class,
        preemption=definition.preemption,
        created_at=created_at,
        updated_at=updated_at,
    )


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a queue (None: it can)."""
    if len(name) > MAX_NAME or not DNS1123_LABEL.fullmatch(name):
        return _LABEL_RULE
    return None


def limit_problems(prefix: str, limits: ClusterLimits) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if limits.max_running is not None and limits.max_running < 0:
        found.append((f"{prefix}max_running", "must be 0 or more"))
    for key, parse in (("max_cpu", cpu_millicores), ("max_memory", memory_bytes)):
        value = getattr(limits, key)
        if value is None:
            continue
        try:
            parse(value)
        except QuantityError as e:
            found.append((f"{prefix}{key}", str(e)))
    return found


def problems(definition: QueueDefinition, name: str) -> list[tuple[str, str]]:
    """Every (field, why) a definition of queue `name` breaks: empty when it is valid."""
    found: list[tuple[str, str]] = []
    if (why := name_problem(name)) is not None:
        found.append(("name", why))
    elif definition.name is not None and definition.name != name:
        found.append(("name", f"must be {name!r}, the queue's name, or left out"))
    found += limit_problems("limits.", definition.limits)
    found += limit_problems("limits.per_cluster.", definition.limits.per_cluster)
    for i, namespace in enumerate(definition.namespaces):
        if len(namespace) > MAX_NAME or not DNS1123_LABEL.fullmatch(namespace):
            found.append((f"namespaces[{i}]", _LABEL_RULE))
    if len(set(definition.namespaces)) != len(definition.namespaces):
        found.append(("namespaces", "names a namespace twice"))
    pc = definition.priority_class
    if pc is not None and (len(pc) > 253 or not DNS1123_SUBDOMAIN.fullmatch(pc)):
        found.append(
            ("priority_class", "must be a priority class name: a lowercase RFC 1123 subdomain")
        )
    return found


def configured(queues: Mapping[str, QueueDefinition]) -> dict[str, QueueDefinition]:
    """The config's queues, with `default` (no limits, weight 1) unless it defines its own."""
    found = dict(queues)
    found.setdefault(DEFAULT_QUEUE, QueueDefinition())
    return found


def admission_problem(
    name: str, definition: QueueDefinition | None, namespace: str, known: Iterable[str]
) -> str | None:
    """Why a job of `namespace` may not go to queue `name` (None: it may). `definition` None: no
    such queue; `known`: the queues there are, to say so."""
    if definition is None:
        listed = ", ".join(sorted(known)) or "none"
        return f"unknown queue {name!r} (known: {listed})"
    if definition.namespaces and namespace not in definition.namespaces:
        takes = ", ".join(sorted(definition.namespaces))
        return (
            f"queue {name!r} takes jobs of namespaces {takes} only, not of namespace {namespace!r}"
        )
    return None


class Held(Struct, kw_only=True):
    """What a queue's (or a namespace's) placed, unfinished jobs hold: jobs, CPU, memory."""

    jobs: int = 0
    cpu_millis: int = 0
    memory_bytes: int = 0

    def add(self, jobs: int, cpu_millis: int, memory_bytes: int) -> None:
        self.jobs += jobs
        self.cpu_millis += cpu_millis
        self.memory_bytes += memory_bytes


def limit_reached(
    what: str, limits: ClusterLimits, held: Held, cpu: int = 0, memory: int = 0
) -> str | None:
    """Why one more job (asking `cpu` millicores, `memory` bytes; 0: any job at all) would break a
    limit of `what` ("queue team-a", "namespace ml", "queue team-a on cluster c1"), as a person
    reads it — None when it would not. Pure."""
    if limits.max_running is not None and held.jobs + 1 > limits.max_running:
        return f"{what} is at max_running {limits.max_running} ({held.jobs} running)"
    if limits.max_cpu is not None:
        cap = cpu_millicores(limits.max_cpu)
        if held.cpu_millis + max(cpu, 1) > cap:
            return (
                f"{what} is at max_cpu {limits.max_cpu} ({cpu_text(held.cpu_millis)} requested"
                + (f", this job needs {cpu_text(cpu)})" if cpu else ")")
            )
    if limits.max_memory is not None:
        cap = memory_bytes(limits.max_memory)
        if held.memory_bytes + max(memory, 1) > cap:
            return (
                f"{what} is at max_memory {limits.max_memory} "
                f"({memory_text(held.memory_bytes)} requested"
                + (f", this job needs {memory_text(memory)})" if memory else ")")
            )
    return None
