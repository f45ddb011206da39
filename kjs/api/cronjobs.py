"""`/api/v1/cronjobs`: cron jobs, their runs, suspend/resume/trigger (CONTRACT §6)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from kjs.api.policy import Action, access
from kjs.api.schema import (
    WITH_BODY,
    CronPage,
    CronSpecChanges,
    JobPage,
    RawBody,
    protected,
    raw_body,
)
from kjs.core.clock import now
from kjs.core.models import Cron, CronSpec, Job
from kjs.core.records import CronRecord, job_view
from kjs.core.validation import FieldError, InvalidInput, decode, decode_json
from kjs.scheduler.crons import CronService, cron_view, next_fire


def _service(request: Request[Any, Any, Any]) -> CronService:
    service: CronService = request.app.state.crons
    return service


NEXT_RUNS = 5


def next_runs(spec: CronSpec, after: dt.datetime, count: int = NEXT_RUNS) -> list[dt.datetime]:
    """The next `count` fire times after `after` (fewer if the schedule ends); none when
    suspended."""
    fires: list[dt.datetime] = []
    while not spec.suspend and len(fires) < count:
        fire = next_fire(spec, fires[-1] if fires else after)
        if fire is None:
            break
        fires.append(fire.astimezone(dt.UTC))
    return fires


async def _json(request: Request[Any, Any, Any], cron: CronRecord) -> Cron:
    view = cron_view(cron, await _service(request).counts(cron.id))
    return msgspec.structs.replace(view, next_runs=next_runs(cron.spec, now()))


class CronJobsController(Controller):
    path = "/api/v1/cronjobs"
    tags = ("cronjobs",)
    return_dto = None  # answers are encoded as they are: `RawBody` only documents bodies

    @post(
        "/",
        **protected(Action.SUBMIT, *WITH_BODY, 409),
        dto=RawBody[CronSpec],
        status_code=201,
        summary="Create a cron job",
    )
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[bytes] = b"") -> Cron:
        spec = decode(data, CronSpec)
        door = access(request)
        door.check(Action.SUBMIT, spec.namespace)
        door.check_queue(spec.queue)
        return await _json(request, await _service(request).create(spec))

    @get("/", **protected(Action.READ, 400), summary="List cron jobs, newest first")
    async def list_crons(
        self,
        request: Request[Any, Any, Any],
        name: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> CronPage:
        try:
            items, next_cursor = await _service(request).list_crons(
                limit=limit, cursor=cursor, name=name, namespaces=access(request).namespaces()
            )
        except ValueError as e:
            raise InvalidInput([FieldError("cursor", str(e))]) from e
        return CronPage(items=[await _json(request, c) for c in items], next_cursor=next_cursor)

    @get("/{cron_id:str}", **protected(Action.READ, 400, 404), summary="One cron job")
    async def get_cron(self, request: Request[Any, Any, Any], cron_id: FromPath[str]) -> Cron:
        return await _json(request, await access(request).cron(cron_id, Action.READ))

    @patch(
        "/{cron_id:str}",
        **protected(Action.SUBMIT, *WITH_BODY, 404, 409),
        dto=raw_body(CronSpecChanges),
        summary="Edit a cron job",
        description=(
            "The body names the fields to change; they are merged over the stored spec, and "
            "the result is validated as a whole."
        ),
    )
    async def update(
        self, request: Request[Any, Any, Any], cron_id: FromPath[str], data: JSONBody[bytes] = b""
    ) -> Cron:
        door = access(request)
        cron = await door.cron(cron_id, Action.SUBMIT)
        changes = decode_json(data)
        if not isinstance(changes, dict):
            raise InvalidInput([FieldError("$", "must be a JSON object of fields to change")])
        spec = decode(msgspec.json.encode({**msgspec.to_builtins(cron.spec), **changes}), CronSpec)
        door.move(cron.spec.namespace, spec.namespace)
        door.check_queue(cron.spec.queue)  # the queue it starts runs in, and the new one
        door.check_queue(spec.queue)
        return await _json(request, await _service(request).update(cron_id, spec))

    @delete(
        "/{cron_id:str}",
        **protected(Action.SUBMIT, 400, 404),
        status_code=200,
        summary="Delete a cron job (its CronJob too)",
    )
    async def remove(
        self, request: Request[Any, Any, Any], cron_id: FromPath[str]
    ) -> Response[Cron]:
        await access(request).cron(cron_id, Action.SUBMIT)
        cron = await _service(request).delete(cron_id)
        return Response(await _json(request, cron), status_code=200)

    @post(
        "/{cron_id:str}/suspend",
        **protected(Action.SUBMIT, 400, 404),
        status_code=200,
        summary="Stop starting runs",
    )
    async def suspend(self, request: Request[Any, Any, Any], cron_id: FromPath[str]) -> Cron:
        await access(request).cron(cron_id, Action.SUBMIT)
        return await _json(request, await _service(request).set_suspended(cron_id, True))

    @post(
        "/{cron_id:str}/resume",
        **protected(Action.SUBMIT, 400, 404),
        status_code=200,
        summary="Start runs again",
    )
    async def resume(self, request: Request[Any, Any, Any], cron_id: FromPath[str]) -> Cron:
        door = access(request)
        cron = await door.cron(cron_id, Action.SUBMIT)
        door.check_queue(cron.spec.queue)  # resumed, it starts runs in that queue again
        return await _json(request, await _service(request).set_suspended(cron_id, False))

    @post(
        "/{cron_id:str}/trigger",
        **protected(Action.SUBMIT, 400, 404),
        status_code=201,
        summary="Run it once now",
    )
    async def trigger(self, request: Request[Any, Any, Any], cron_id: FromPath[str]) -> Job:
        door = access(request)
        cron = await door.cron(cron_id, Action.SUBMIT)
        door.check_queue(cron.spec.queue)  # the run goes into the cron job's queue
        return job_view(await _service(request).trigger(cron_id))

    @get(
        "/{cron_id:str}/runs", **protected(Action.READ, 400, 404), summary="Its runs, newest first"
    )
    async def runs(
        self,
        request: Request[Any, Any, Any],
        cron_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> JobPage:
        door = access(request)
        await door.cron(cron_id, Action.READ)
        jobs = request.app.state.jobs
        position = await jobs.watch_position()  # to follow them: GET /jobs?watch=true&cron_id=
        try:
            # Runs started before an edit moved the cron job stay in their namespace.
            items, next_cursor = await jobs.list_jobs(
                limit=limit, cursor=cursor, cron_id=cron_id, namespaces=door.namespaces()
            )
        except ValueError as e:
            raise InvalidInput([FieldError("cursor", str(e))]) from e
        return JobPage(
            items=[job_view(j) for j in items], next_cursor=next_cursor, watch_cursor=str(position)
        )
