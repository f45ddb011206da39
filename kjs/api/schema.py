"""What the OpenAPI schema (`/schema/openapi.json`) declares: the shapes of the answers, the
problem details of every error, the bearer scheme, and the request bodies.

Handlers read their bodies as bytes and decode them with kjs's own decoder
(`kjs.core.validation.decode`), whose 400 names the offending field (`env.FOO`), judges types
strictly and is shared with the compatibility routes; Litestar's own decoding would answer in
another shape. `RawBody[T]` is the Litestar DTO that makes this explicit: the handler gets the
body as sent, and the schema documents it as `T`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, OpenAPIResponse, Operation, SecurityScheme
from litestar.typing import FieldDefinition
from msgspec import Meta, Struct

from kjs.api.errors import PROBLEM
from kjs.api.policy import Action, Anonymous, guard
from kjs.core.models import Cron, CronSpec, Job, JobSpec
from kjs.core.validation import MAX_BATCH_ITEMS

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference, Schema

T = TypeVar("T")

BEARER = "bearer"
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
"""The `security` of every route that needs a token."""
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description=(
                "`Authorization: Bearer <token>`; a token has scopes (read < submit < admin) "
                "and may be limited to namespaces. With no tokens configured the server is open."
            ),
        )
    }
)


# -- errors -----------------------------------------------------------------------------------


class FieldProblem(Struct):
    """One offending input."""

    field: Annotated[
        str,
        Meta(description="JSON path of the input (`namespace`, `env.FOO`), or `$`: the body."),
    ]
    message: Annotated[str, Meta(description="What is wrong with it.")]


class Problem(Struct, omit_defaults=True):
    """RFC 9457 problem details (`application/problem+json`), the answer to every error."""

    type: Annotated[str, Meta(description="Always `about:blank`.")]
    title: Annotated[str, Meta(description="The status code's title (`Invalid input`, …).")]
    status: Annotated[int, Meta(description="The HTTP status code.")]
    detail: Annotated[str, Meta(description="What happened, for a person.")]
    errors: Annotated[
        list[FieldProblem] | None,
        Meta(description="Invalid input (400): each offending field. Absent otherwise."),
    ] = None


_ERRORS = {
    400: "Invalid input: `errors` names each offending field or parameter.",
    401: "No bearer token, or an unknown one.",
    403: "The token lacks the scope, or may not use the namespace.",
    404: "Not found.",
    408: "The request body did not arrive in time (`[http] body_timeout_s`).",
    409: "Conflicts with the current state.",
    410: "The `watch_cursor` is older than the history kept (or not this server's): list again.",
    413: "The request body is over 1 MiB.",
    503: "The store or the queue is unavailable (`detail` names it).",
}


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """Problem-details responses for these status codes."""
    return {
        code: ResponseSpec(
            Problem, description=_ERRORS[code], media_type=PROBLEM, generate_examples=False
        )
        for code in codes
    }


def answer(data: Any, description: str, media_type: str = "application/json") -> ResponseSpec:
    """A documented success answer (one a handler gives besides its default status)."""
    return ResponseSpec(
        data, description=description, media_type=media_type, generate_examples=False
    )


WITH_BODY = (400, 408, 413)
"""What any route that reads a body may answer besides its own errors."""


def protected(
    action: Action,
    *errors: int,
    answers: dict[int, ResponseSpec] | None = None,
    anonymous: Anonymous | None = None,
) -> dict[str, Any]:
    """A route's guard and what it documents: the bearer scheme, 401 and 403, its other error
    codes (always 503: every route reads the store) and any `answers` besides its default."""
    codes = sorted({401, 403, 503, *errors})
    return {
        "guards": [guard(action, anonymous=anonymous)],
        "security": SECURITY,
        "responses": {**problems(*codes), **(answers or {})},
    }


# -- request bodies ---------------------------------------------------------------------------


class RawBody(AbstractDTO[T]):
    """The body as sent (`data: bytes`), documented in the schema as `T` (`RawBody[JobSpec]`).

    The handler decodes it, when it is ready to: after the job an edit names has been found
    (404 first), or into the compatibility routes' own envelope."""

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """Nothing to build: no transfer model, the bytes go through."""

    def decode_bytes(self, value: bytes) -> bytes:
        return value

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()  # never asked: create_for_field_definition builds nothing

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False


def changes_of(kind: type[Struct]) -> type[Struct]:
    """The body of a PATCH: any of `kind`'s fields (merged over the stored spec, then the
    whole is validated), and no other."""
    fields = [
        (f.name, f.type | msgspec.UnsetType, msgspec.UNSET) for f in msgspec.structs.fields(kind)
    ]
    return msgspec.defstruct(
        f"{kind.__name__}Changes",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )


def raw_body(documented_as: type[Any]) -> type[RawBody[Any]]:
    """`RawBody[documented_as]`, for a type made at run time (a PATCH body)."""
    return RawBody.__class_getitem__(documented_as)


JobSpecChanges = changes_of(JobSpec)
CronSpecChanges = changes_of(CronSpec)


class JobBatchItem(Struct, forbid_unknown_fields=True, kw_only=True):
    """One job of a batch, with its idempotency key if it has one."""

    job: Annotated[
        JobSpec,
        Meta(description="As the body of `POST /api/v1/jobs`, and like it at most 1 MiB of JSON."),
    ]
    idempotency_key: Annotated[
        str | None,
        Meta(
            description=(
                "As the `Idempotency-Key` header of `POST /api/v1/jobs` (at most 255 "
                "characters; empty or null: none). An item whose key this principal used "
                "before in the namespace, or an earlier item used, gets that job."
            )
        ),
    ] = None


class JobBatchRequest(Struct, forbid_unknown_fields=True):
    """What `POST /api/v1/jobs:batch` takes: accepted all or none."""

    items: Annotated[
        list[JobBatchItem],
        Meta(min_length=1, max_length=MAX_BATCH_ITEMS, description="1 to 1,000 jobs."),
    ]


BATCH_TOO_LARGE = {
    413: ResponseSpec(
        Problem,
        description="The request body is over 16 MiB.",
        media_type=PROBLEM,
        generate_examples=False,
    )
}
"""The batch route's own 413 (its body limit is not the other routes')."""


# -- answers ----------------------------------------------------------------------------------


class JobPage(Struct):
    """A page of jobs, newest first."""

    items: list[Job]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as `cursor` for the next page; null on the last.")
    ]
    watch_cursor: Annotated[
        str,
        Meta(
            description=(
                "Pass as `watch_cursor` with `watch=true` to follow the changes made since "
                "this list was read."
            )
        ),
    ]


class JobBatch(Struct):
    """What `POST /api/v1/jobs:batch` answers."""

    items: Annotated[
        list[Job],
        Meta(
            description=(
                "One job per item, in the request's order: the new job, or the job its "
                "idempotency key names."
            )
        ),
    ]


class CronPage(Struct):
    """A page of cron jobs, newest first."""

    items: list[Cron]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as `cursor` for the next page; null on the last.")
    ]


class DryRun(Struct):
    """What `POST /jobs?dry_run=true` answers."""

    manifest: Annotated[
        dict[str, Any], Meta(description="The Kubernetes Job the job would become.")
    ]


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
    seq: Annotated[
        int | None,
        Meta(description="Its place in the job's history: `watch_cursor` to follow from it."),
    ] = None


class EventList(Struct):
    items: list[Event]


class CallbackAttempt(Struct, kw_only=True):
    """One webhook delivery attempt."""

    event_id: Annotated[str, Meta(description="Stable per job, attempt and final state.")]
    url: str
    at: dt.datetime
    status_code: Annotated[
        int | None, Meta(description="The receiver's answer; null if none came.")
    ]
    error: str | None
    duration_ms: int | None
    delivered: bool


class CallbackList(Struct):
    items: Annotated[list[CallbackAttempt], Meta(description="Oldest first.")]


class ResourceFigures(Struct, kw_only=True):
    cpu_millis: Annotated[int, Meta(description="CPU in millicores.")]
    memory_bytes: int
    pods: int


class ClusterResources(Struct, kw_only=True):
    """The ready, schedulable nodes' resources, as the agent last reported them."""

    allocatable: ResourceFigures
    free: Annotated[
        ResourceFigures,
        Meta(
            description="Allocatable less the requests of every non-terminal pod bound to the "
            "nodes, whoever created it (never below 0 per node), summed over the nodes."
        ),
    ]
    largest_free_node: Annotated[
        ResourceFigures,
        Meta(description="Each resource's largest free figure on any one node."),
    ]
    at: Annotated[dt.datetime, Meta(description="The moment the figures are from.")]
    partial: Annotated[
        bool,
        Meta(
            description="The agent may not read every namespace's pods: `free` counts only "
            "its namespaces' pods (it may be too high)."
        ),
    ]


class Cluster(Struct, kw_only=True):
    """A cluster as known from its agent's heartbeats."""

    id: str
    state: Annotated[str, Meta(description="`ready`, `unreachable` or `cordoned`.")]
    labels: dict[str, str]
    version: str | None
    capacity: Annotated[int, Meta(description="Jobs it can run at once (0: takes no work).")]
    running: int
    pending: int
    last_heartbeat: dt.datetime | None
    cordoned: bool
    load: Annotated[
        float | None,
        Meta(description="(running + pending + dispatched) / capacity; null while unknown."),
    ]
    dispatched: Annotated[int, Meta(description="Dispatched but not yet acknowledged.")]
    resources: Annotated[
        ClusterResources | None,
        Meta(description="null: its agent does not report resources (older, or no node read)."),
    ] = None


class ClusterList(Struct):
    items: list[Cluster]


class Health(Struct):
    status: Annotated[str, Meta(description="`ok`: the process is alive.")]


class Ready(Struct):
    status: Annotated[str, Meta(description="`ready`: the store and the queue answer.")]
    leader: Annotated[bool, Meta(description="Whether this replica leads the others.")]


WATCH_TYPES = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


class JobWatchItem(Struct, kw_only=True, omit_defaults=True):
    """One line of `GET /api/v1/jobs?watch=true` (NDJSON): a job that changed, as it is now
    (ADDED: created after the cursor; DELETED: removed by retention, as it was), or a BOOKMARK
    (no job): the position reached. Resume with `watch_cursor` = the last `seq` read."""

    type: WATCH_TYPES
    seq: int
    job: Job | None = None


class EventWatchItem(Struct, kw_only=True, omit_defaults=True):
    """One line of `GET /api/v1/jobs/{id}/events?watch=true` (NDJSON): an event of the job's
    history (ADDED), or a BOOKMARK. Resume with `watch_cursor` = the last `seq` read."""

    type: Literal["ADDED", "BOOKMARK"]
    seq: int
    event: Event | None = None


# A status no route answers: what `streamed` documents there moves into the 200 answer.
_STREAMED = 299


def streamed(item: Any, description: str) -> dict[int, ResponseSpec]:
    """`answers` of a route that answers JSON, or with `watch=true` a stream of JSON lines of
    `item`: with `operation_class=WithStream`, documented as a second media type of its 200."""
    return {_STREAMED: answer(item, description, "application/x-ndjson")}


@dataclasses.dataclass
class WithStream(Operation):
    def __post_init__(self) -> None:
        responses = self.responses or {}
        stream = responses.pop(str(_STREAMED), None)
        ok = responses.get("200")
        if isinstance(stream, OpenAPIResponse) and isinstance(ok, OpenAPIResponse):
            ok.content = {**(ok.content or {}), **(stream.content or {})}
            ok.description = f"{ok.description}. {stream.description}"
