"""`/api/v1/queues`: the queues jobs are submitted to (docs/queues.md). Anyone who may read lists
them, each with its `usage` (its jobs pending and placed, and what the placed ones request,
read when asked) and its fair share (`share`, `weighted_share`: of the ready clusters, measured
as placement measures it, `kjs.scheduler.fairshare`); defining and deleting one is an admin's,
not limited to namespaces (it concerns every namespace's jobs). The configuration's queues are
read-only here (409).

`/api/v1/priority-classes`: the priority classes of the configuration (read-only), for anyone who
may read."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.params import FromPath, JSONBody
from msgspec import Struct

from kjs.api.policy import EVERY_NAMESPACE, Action, access
from kjs.api.schema import WITH_BODY, RawBody, answer, protected
from kjs.core.clock import now
from kjs.core.priorities import PriorityClassView
from kjs.core.queues import Queue, QueueDefinition
from kjs.core.records import ClusterRecord, QueueUsage
from kjs.core.usage import QueueUsageSummary, summarize
from kjs.core.validation import decode
from kjs.scheduler.fairshare import FairShare, share_of
from kjs.scheduler.queues import QueueService


class QueueList(Struct, kw_only=True):
    items: list[Queue]


class PriorityClassList(Struct, kw_only=True):
    items: list[PriorityClassView]


def _service(request: Request[Any, Any, Any]) -> QueueService:
    service: QueueService = request.app.state.queues
    return service


class _UsageStore(Protocol):
    def queue_usage(self) -> list[QueueUsage]: ...
    def list_clusters(self) -> list[ClusterRecord]: ...


async def _with_usage(request: Request[Any, Any, Any], found: list[Queue]) -> list[Queue]:
    """The queues with what their jobs hold now (one grouped read of an index for them all)
    and their shares of the ready clusters (one read of the clusters' rows)."""
    components = request.app.state.components
    store: _UsageStore = components.store
    usage = summarize(await asyncio.to_thread(store.queue_usage))
    totals = FairShare.of(components).totals(await asyncio.to_thread(store.list_clusters), now())
    answered = []
    for queue in found:
        held = usage.get(queue.name, QueueUsageSummary())
        share = share_of(held, queue.weight, totals)
        answered.append(
            msgspec.structs.replace(
                queue, usage=held, share=share.share, weighted_share=share.weighted
            )
        )
    return answered


class QueuesController(Controller):
    path = "/api/v1/queues"
    tags = ("queues",)
    return_dto = None  # answers are encoded as they are: `RawBody` only documents bodies

    @get("/", **protected(Action.READ), summary="Every queue, by name (configuration and API)")
    async def list_queues(self, request: Request[Any, Any, Any]) -> QueueList:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        return QueueList(items=await _with_usage(request, await _service(request).list_queues()))

    @get("/{name:str}", **protected(Action.READ, 400, 404), summary="One queue")
    async def get_queue(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Queue:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        (queue,) = await _with_usage(request, [await _service(request).get(name)])
        return queue

    @put(
        "/{name:str}",
        **protected(
            Action.OPERATE,
            *WITH_BODY,
            409,
            answers={201: answer(Queue, "The queue, created.")},
        ),
        dto=RawBody[QueueDefinition],
        status_code=200,
        summary="Define a queue, or replace its definition",
        description=(
            "The body is the whole definition (`name` may be left out; given, it must be the "
            "path's). 201 when the queue is new, 200 when it replaces one. A queue of the "
            "configuration (`[scheduling.queues]`, and `default`) cannot be replaced: 409."
        ),
    )
    async def put_queue(
        self, request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[bytes] = b""
    ) -> Response[Queue]:
        access(request).check(Action.OPERATE, EVERY_NAMESPACE)
        definition = decode(data, QueueDefinition)
        queue, created = await _service(request).put(name, definition)
        (queue,) = await _with_usage(request, [queue])  # as a GET would answer it
        return Response(queue, status_code=201 if created else 200)

    @delete(
        "/{name:str}",
        **protected(Action.OPERATE, 400, 404, 409),
        status_code=204,
        summary="Delete a queue that has no unfinished job",
        description=(
            "409 while jobs of the queue are not final (it says how many), and for a queue of "
            "the configuration."
        ),
    )
    async def delete_queue(self, request: Request[Any, Any, Any], name: FromPath[str]) -> None:
        access(request).check(Action.OPERATE, EVERY_NAMESPACE)
        await _service(request).delete(name)


class PriorityClassesController(Controller):
    path = "/api/v1/priority-classes"
    tags = ("queues",)
    return_dto = None

    @get(
        "/",
        **protected(Action.READ),
        summary="Every priority class, highest value first (configuration only)",
        description=(
            "The classes of `[scheduling.priority_classes]`: `name`, `value` (within a queue, "
            "higher is placed first), `preemptible`, `description`. Read-only: they change when "
            "the server restarts with a new configuration."
        ),
    )
    async def list_priority_classes(self, request: Request[Any, Any, Any]) -> PriorityClassList:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        return PriorityClassList(items=_service(request).priority_classes())
