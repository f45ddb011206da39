"""What the agent keeps of each watched Job and pod: only the fields its decisions read.

A whole pod or Job as the API sends it weighs kilobytes (its spec, managed fields, full
statuses); the agent tracks tens of thousands of them. These records are decoded straight from
the API's JSON with msgspec, which skips every other field without building it, and they keep
the API's shape (`metadata`, `spec`, `status`, camelCase names in snake_case), so the pure
decisions in `kjs.agent.status` read them as they read the plain dicts of the API.

A field `kjs.agent.status` or the agent reads must be here: a missing one reads as absent.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


# gc=False: records hold no reference cycles, and tens of thousands of them need not be
# traversed by every full garbage collection.
class _Record(msgspec.Struct, rename="camel", gc=False):
    pass


class OwnerReference(_Record):
    kind: str | None = None
    uid: str | None = None


class ObjectMeta(_Record):
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None


class PodMeta(_Record):
    """A pod's metadata, without its labels and annotations (the agent reads its owners)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    owner_references: list[OwnerReference] | None = None


class Condition(_Record):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None


class Waiting(_Record):
    reason: str | None = None
    message: str | None = None


class Running(_Record):
    """Present while the container runs: its fields are not read."""


class Terminated(_Record):
    exit_code: int | None = None


class ContainerState(_Record):
    waiting: Waiting | None = None
    running: Running | None = None
    terminated: Terminated | None = None


class ContainerStatus(_Record):
    name: str = ""
    state: ContainerState | None = None


class PodStatus(_Record):
    phase: str | None = None
    conditions: list[Condition] | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None


class PodRecord(_Record):
    metadata: PodMeta = msgspec.field(default_factory=PodMeta)
    status: PodStatus | None = None


class TemplateSpec(_Record):
    restart_policy: str | None = None


class Template(_Record):
    spec: TemplateSpec | None = None


class JobSpec(_Record):
    """What `status.pods_decide` reads; for fields it only tests for presence, their value
    (rare, small) as the API gives it."""

    completions: int | None = None
    parallelism: int | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    backoff_limit: int | None = None
    active_deadline_seconds: int | None = None
    pod_failure_policy: Any = None
    success_policy: Any = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    managed_by: str | None = None
    template: Template | None = None


class JobStatus(_Record):
    conditions: list[Condition] | None = None
    active: int | None = None


class JobRecord(_Record):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: JobSpec | None = None
    status: JobStatus | None = None


class _ListMeta(msgspec.Struct, rename="camel"):
    resource_version: str = ""
    continue_: str | None = msgspec.field(default=None, name="continue")


class ObjectList(msgspec.Struct, Generic[T]):
    metadata: _ListMeta
    items: list[T] | None = None


class _Event(msgspec.Struct):
    type: str
    object: msgspec.Raw


class Decoder(Generic[T]):
    """Decodes one kind of record from list responses and watch lines."""

    def __init__(self, record: type[T]) -> None:
        self.record = msgspec.json.Decoder(record)
        self.list = msgspec.json.Decoder(ObjectList[record])  # type: ignore[valid-type]
        self._event = msgspec.json.Decoder(_Event)

    def event(self, line: bytes) -> tuple[str, T | dict[str, Any]]:
        """(type, record) of a watch line; an ERROR event's object (a Status) as a dict."""
        event = self._event.decode(line)
        if event.type == "ERROR":
            status: dict[str, Any] = msgspec.json.decode(event.object)
            return event.type, status
        return event.type, self.record.decode(event.object)


JOBS = Decoder(JobRecord)
PODS = Decoder(PodRecord)
