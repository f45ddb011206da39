"""`/api/v1/jobs`: submit (one, or a batch at `/api/v1/jobs:batch`), list, read, edit, cancel,
rerun, events and logs (CONTRACT §6)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from msgspec import Meta

from kjs.api.policy import Action, access
from kjs.api.schema import (
    BATCH_TOO_LARGE,
    WITH_BODY,
    CallbackAttempt,
    CallbackList,
    DryRun,
    Event,
    EventList,
    EventWatchItem,
    JobBatch,
    JobBatchRequest,
    JobPage,
    JobSpecChanges,
    JobWatchItem,
    RawBody,
    WithStream,
    answer,
    protected,
    raw_body,
    streamed,
)
from kjs.core import aio
from kjs.core.errors import error_text
from kjs.core.models import Job, JobSpec
from kjs.core.protocols import JOB_SORTS
from kjs.core.records import EventRecord, JobRecord, job_view
from kjs.core.states import JobState
from kjs.core.validation import (
    MAX_BATCH_BODY_BYTES,
    MAX_BATCH_ITEMS,
    MAX_BODY_BYTES,
    FieldError,
    InvalidInput,
    decode,
    decode_json,
    not_utf8,
)
from kjs.scheduler import lognotes, positions
from kjs.scheduler.service import BatchItem, JobService

log = logging.getLogger(__name__)

FOLLOW_POLL_S = 0.5
NDJSON = "application/x-ndjson"
WATCH_BOOKMARK_S = 10.0  # a line at least this often: proxies keep the stream, clients its place
WATCH_PAGE = 500
MAX_ATTEMPT = 2**31 - 1  # the store's column


def _service(request: Request[Any, Any, Any]) -> JobService:
    service: JobService = request.app.state.jobs
    return service


def _store(request: Request[Any, Any, Any]) -> positions.PositionStore:
    """The store, for what the service does not read: queue positions."""
    store: positions.PositionStore = request.app.state.components.store
    return store


def _utc(name: str, value: dt.datetime | None) -> dt.datetime | None:
    """A time filter: an instant, so it must carry its UTC offset (`Z`, `+02:00`)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput([FieldError(name, "needs a UTC offset, e.g. 2026-01-01T00:00:00Z")])
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as e:
        raise InvalidInput([FieldError(name, "out of range")]) from e


def _labels(values: list[str] | None) -> dict[str, str]:
    labels = {}
    for i, value in enumerate(values or []):
        key, sep, label_value = value.partition("=")
        if not sep or not key:
            raise InvalidInput([FieldError(f"label[{i}]", "must be key=value")])
        labels[key] = label_value
    return labels


class _RawItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A batch item as first read: its job kept as sent, to be decoded on its own (its errors
    then name `items[i].<field>`, and its size is known)."""

    job: msgspec.Raw
    idempotency_key: str | None = None


class _RawBatch(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[_RawItem], Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


def _batch_items(body: bytes) -> list[BatchItem]:
    """The jobs of a batch body (`JobBatchRequest`), or a 400 naming every offending field of
    every item as `items[i].<field>` (`items[i].job`: the job as a whole)."""
    if fault := not_utf8(body):  # checked whole: the items are read apart (`msgspec.Raw`)
        raise InvalidInput([FieldError("$", fault)])
    batch = decode(body, _RawBatch)
    items: list[BatchItem] = []
    errors: list[FieldError] = []
    for index, item in enumerate(batch.items):
        path = f"items[{index}]"
        if len(item.job) > MAX_BODY_BYTES:
            errors.append(
                FieldError(
                    f"{path}.job",
                    f"at most {MAX_BODY_BYTES} bytes of JSON, as POST /api/v1/jobs takes "
                    f"(got {len(item.job)})",
                )
            )
            continue
        try:
            spec = decode(item.job, JobSpec)
        except InvalidInput as e:
            errors += [
                FieldError(f"{path}.job" if f.field == "$" else f"{path}.{f.field}", f.message)
                for f in e.errors
            ]
            continue
        items.append(BatchItem(spec, item.idempotency_key))
    if errors:
        raise InvalidInput(errors)
    return items


# Which filters each sort serves fast at 10^6 jobs (bench/ui_api.py): an index reads them in
# that order. By creation: every filter but a name prefix (whose range index cannot give that
# order, and walking creation order for a rare prefix reads every job). By update time or name:
# within one namespace at most, and for a name, a prefix of it.
_SORTED_FILTERS = {
    "created_at": {
        "state",
        "cluster_id",
        "name",
        "cron_id",
        "labels",
        "created_after",
        "created_before",
        "namespace",
    },
    "updated_at": {"namespace"},
    "name": {"namespace", "name_prefix"},
}


def check_sort(sort: str, filters: dict[str, Any]) -> None:
    """A 400 naming `sort` unless it is one of JOB_SORTS and serves the filters given."""
    if sort not in JOB_SORTS:
        raise InvalidInput([FieldError("sort", f"must be one of {', '.join(JOB_SORTS)}")])
    allowed = _SORTED_FILTERS[sort.lstrip("-")]
    given = sorted(k for k, v in filters.items() if v and k != "namespaces" and k not in allowed)
    if given:
        names = ", ".join("label" if k == "labels" else k for k in given)
        if sort.lstrip("-") == "created_at":
            why = "name_prefix needs sort=name or sort=-name"
        else:
            takes = " and ".join(sorted(allowed))
            why = f"sort={sort} takes only the {takes} filters (sort by created_at for {names})"
        raise InvalidInput([FieldError("sort", why)])


def _event(record: EventRecord) -> Event:
    return Event(**msgspec.structs.asdict(record))


def _watch_cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not _SEQ.fullmatch(value):
        raise InvalidInput([FieldError("watch_cursor", "must be a `seq` or `watch_cursor` read")])
    return int(value)


_NAME_PREFIX = re.compile(r"[a-z0-9-]{1,63}")
_SEQ = re.compile(r"[0-9]{1,18}")  # ASCII digits, below 2**63 (the store's column)
_LINE = msgspec.json.Encoder()
# Proxies must pass each line on as it comes (nginx buffers unless told), and never cache it.
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _Lines(Stream):
    """A stream of JSON lines. Litestar gives a response the route's media type (JSON here,
    for the list) over the response's own; this one keeps its own."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        return super().to_asgi_response(*args, **{**kwargs, "media_type": NDJSON})


def _line(item: JobWatchItem | EventWatchItem) -> bytes:
    return _LINE.encode(item) + b"\n"


async def _next_change(request: Request[Any, Any, Any], feed: Any, position: int) -> bool:
    """Wait for a change past `position`: True on one; False after WATCH_BOOKMARK_S or when the
    server is stopping (then `stopping` is set)."""
    stopping: asyncio.Event = request.app.state.stopping
    changed = asyncio.ensure_future(feed.wait_beyond(position, WATCH_BOOKMARK_S))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({changed, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (changed, stop):
            task.cancel()
    return changed.done() and not changed.cancelled() and changed.result()


def _watch_stream(request: Request[Any, Any, Any], lines: AsyncIterator[bytes]) -> Stream:
    """The lines, ended (not cut) when the server stops or the store fails mid-stream: the
    client resumes from the last seq it read, here or on another replica."""
    stopping: asyncio.Event = request.app.state.stopping

    async def guarded() -> AsyncIterator[bytes]:
        try:
            async for line in lines:
                yield line
                if stopping.is_set():
                    return
        except Exception as e:  # the store went away: one line in the log, the stream ends
            log.warning("watch of %s ended: %s", request.url.path, error_text(e))

    return _Lines(guarded(), media_type=NDJSON, headers=_STREAM_HEADERS)


async def _job_watch(
    request: Request[Any, Any, Any],
    service: JobService,
    after: int | None,
    filters: dict[str, Any],
) -> Stream:
    if after is None:
        after = await service.watch_position()
    # Read here, not in the stream: an expired cursor is a 410 before any line.
    first = await service.job_changes(after, limit=WATCH_PAGE, **filters)

    async def lines() -> AsyncIterator[bytes]:
        position = after
        yield _line(JobWatchItem(type="BOOKMARK", seq=position))
        changes, reached = first
        while True:
            for change in changes:
                item = JobWatchItem(type=change.kind, seq=change.seq, job=job_view(change.job))
                yield _line(item)
            position = reached
            if not changes and not await _next_change(request, service.feed, position):
                if request.app.state.stopping.is_set():
                    return
                yield _line(JobWatchItem(type="BOOKMARK", seq=position))
            changes, reached = await service.job_changes(position, limit=WATCH_PAGE, **filters)

    return _watch_stream(request, lines())


def _event_watch(
    request: Request[Any, Any, Any], service: JobService, job_id: str, after: int
) -> Stream:
    async def lines() -> AsyncIterator[bytes]:
        position = after
        yield _line(EventWatchItem(type="BOOKMARK", seq=position))
        while True:
            # The feed's position before the read: a change after it wakes the next wait.
            feed_position = await service.watch_position()
            events = await service.events_after(job_id, position)
            for event in events:
                assert event.seq is not None
                position = event.seq
                yield _line(EventWatchItem(type="ADDED", seq=position, event=_event(event)))
            if not await _next_change(request, service.feed, feed_position):
                if request.app.state.stopping.is_set():
                    return
                yield _line(EventWatchItem(type="BOOKMARK", seq=position))

    return _watch_stream(request, lines())


class JobsController(Controller):
    # `/api/v1`, not `/api/v1/jobs`: `POST /api/v1/jobs:batch` is a sibling of `/api/v1/jobs`,
    # not a path below it (Litestar joins a controller's path and a handler's with a `/`).
    path = "/api/v1"
    tags = ("jobs",)
    return_dto = None  # answers are encoded as they are: `RawBody` only documents bodies

    @post(
        "/jobs",
        **protected(
            Action.SUBMIT,
            *WITH_BODY,
            409,
            answers={
                201: answer(Job, "The job, accepted."),
                200: answer(
                    Job | DryRun,
                    "The job first submitted with this Idempotency-Key; with dry_run=true, "
                    "the Kubernetes object it would become.",
                ),
            },
        ),
        dto=RawBody[JobSpec],
        status_code=201,
        summary="Submit a job (or render it, with dry_run=true)",
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[bytes] = b"",
        dry_run: FromQuery[bool] = False,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[Job | DryRun]:
        spec = decode(data, JobSpec)
        door = access(request)
        door.check(Action.SUBMIT, spec.namespace)
        door.check_queue(spec.queue)
        service = _service(request)
        if dry_run:
            return Response(DryRun(manifest=await service.dry_run(spec)), status_code=200)
        job, created = await service.submit(
            spec, idempotency_key=idempotency_key, principal=door.who.name
        )
        return Response(job_view(job), status_code=201 if created else 200)

    @post(
        "/jobs:batch",
        **protected(Action.SUBMIT, *WITH_BODY, 409, answers=BATCH_TOO_LARGE),
        dto=RawBody[JobBatchRequest],
        status_code=201,
        request_max_body_size=MAX_BATCH_BODY_BYTES,
        summary="Submit many jobs at once, all or none",
        description=(
            "Up to 1,000 jobs in one request (body at most 16 MiB, each job at most 1 MiB of "
            "JSON), stored in one transaction or not at all: a 400 names each offending field "
            "as `items[i].<field>`, a namespace the token may not use refuses the whole batch "
            "(403), and so does an idempotency key used before with another request (409). "
            "The answer lists one job per item, in order."
        ),
    )
    async def submit_batch(
        self, request: Request[Any, Any, Any], data: JSONBody[bytes] = b""
    ) -> JobBatch:
        items = _batch_items(data)
        door = access(request)
        for namespace in dict.fromkeys(item.spec.namespace for item in items):
            door.check(Action.SUBMIT, namespace)
        for queue in dict.fromkeys(item.spec.queue for item in items):
            door.check_queue(queue)
        results = await _service(request).submit_batch(items, principal=door.who.name)
        return JobBatch(items=[job_view(job) for job, _ in results])

    @get(
        "/jobs",
        **protected(
            Action.READ,
            400,
            410,
            answers=streamed(JobWatchItem, "With watch=true: JSON lines, a JobWatchItem each."),
        ),
        operation_class=WithStream,
        summary="List jobs, newest first (or in `sort` order); watch=true follows their changes",
        description=(
            "With `watch=true` the answer is a stream of JSON lines (`application/x-ndjson`), "
            "one `JobWatchItem` each, for the jobs the filters select: the jobs changed since "
            "`watch_cursor` (from a list's `watch_cursor`, or the last `seq` read), then each "
            "change as it is stored, and a BOOKMARK line at the start and after "
            f"{WATCH_BOOKMARK_S:.0f} s without changes. Without `watch_cursor` it starts from "
            "now. Resuming from the last `seq` read loses and repeats nothing; a cursor older "
            "than the history kept answers 410. `limit` and `cursor` do not apply."
        ),
    )
    async def list_jobs(
        self,
        request: Request[Any, Any, Any],
        job_state: Annotated[JobState | None, QueryParameter(name="state")] = None,
        cluster_id: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
        label: FromQuery[list[str] | None] = None,
        cron_id: FromQuery[str | None] = None,
        created_after: FromQuery[dt.datetime | None] = None,
        created_before: FromQuery[dt.datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
        watch: FromQuery[bool] = False,
        watch_cursor: FromQuery[str | None] = None,
        namespace: Annotated[
            str | None,
            QueryParameter(
                description="One namespace (exact). Outside a token's namespaces: no jobs."
            ),
        ] = None,
        name_prefix: Annotated[
            str | None,
            QueryParameter(
                description="Jobs whose name starts with it (lowercase letters, digits, `-`)."
            ),
        ] = None,
        sort: Annotated[
            str,
            QueryParameter(
                description=(
                    f"The order: one of {', '.join(f'`{s}`' for s in JOB_SORTS)} (`-`: "
                    "descending; ties broken by id, `name` by creation then id). By creation "
                    "it takes every filter but `name_prefix`; by update time, `namespace` "
                    "only; by name, `namespace` and `name_prefix` (so `name_prefix` needs a "
                    "name sort): other combinations are a 400. A cursor continues the sort it "
                    "was made for. Not for a watch."
                )
            ),
        ] = JOB_SORTS[0],
    ) -> JobPage:  # or, with watch=true, a stream (documented by WithStream)
        if name_prefix is not None and not _NAME_PREFIX.fullmatch(name_prefix):
            raise InvalidInput(
                [
                    FieldError(
                        "name_prefix",
                        "must be the start of a job name: 1 to 63 lowercase letters, digits or '-'",
                    )
                ]
            )
        filters: dict[str, Any] = {
            "state": job_state,
            "cluster_id": cluster_id,
            "name": name,
            "namespace": namespace,
            "name_prefix": name_prefix,
            "cron_id": cron_id,
            "labels": _labels(label),
            "created_after": _utc("created_after", created_after),
            "created_before": _utc("created_before", created_before),
            "namespaces": access(request).namespaces(),
        }
        service = _service(request)
        if not watch:  # a watch follows changes in their order: no sort, every filter
            check_sort(sort, filters)
        if watch and cursor is not None:
            raise InvalidInput([FieldError("cursor", "pages a list; a watch takes watch_cursor")])
        if watch:
            return await _job_watch(request, service, _watch_cursor(watch_cursor), filters)  # type: ignore[return-value]
        position = await service.watch_position()
        try:
            items, next_cursor = await service.list_jobs(
                limit=limit, cursor=cursor, sort=sort, **filters
            )
        except ValueError as e:
            raise InvalidInput([FieldError("cursor", str(e))]) from e
        places = await positions.queue_positions(_store(request), items)
        return JobPage(
            items=[job_view(j, places.get(j.id)) for j in items],
            next_cursor=next_cursor,
            watch_cursor=str(position),
        )

    @get("/jobs/{job_id:str}", **protected(Action.READ, 400, 404), summary="One job")
    async def get_job(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Job:
        job = await access(request).job(job_id, Action.READ)
        return job_view(job, await positions.queue_position(_store(request), job))

    @patch(
        "/jobs/{job_id:str}",
        **protected(Action.SUBMIT, *WITH_BODY, 404, 409),
        dto=raw_body(JobSpecChanges),
        summary="Edit a job: in place while pending, else as a new attempt",
        description=(
            "The body names the fields to change; they are merged over the stored spec, and "
            "the result is validated as a whole."
        ),
    )
    async def update(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], data: JSONBody[bytes] = b""
    ) -> Job:
        door = access(request)
        job = await door.job(job_id, Action.SUBMIT)
        changes = decode_json(data)
        if not isinstance(changes, dict):
            raise InvalidInput([FieldError("$", "must be a JSON object of fields to change")])
        merged = {**msgspec.to_builtins(job.spec), **changes}
        spec = decode(msgspec.json.encode(merged), JobSpec)
        door.move(job.spec.namespace, spec.namespace)
        door.check_queue(job.spec.queue)  # the queue it is in, and the one it runs (again) in
        door.check_queue(spec.queue)
        return job_view(await _service(request).update(job_id, spec))

    @delete(
        "/jobs/{job_id:str}",
        **protected(Action.SUBMIT, 400, 404, answers={200: answer(Job, "The job, already final.")}),
        status_code=202,
        summary="Cancel a job",
    )
    async def cancel(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Response[Job]:
        await access(request).job(job_id, Action.SUBMIT)
        job = await _service(request).cancel(job_id)
        return Response(job_view(job), status_code=200 if job.state.is_final else 202)

    @post(
        "/jobs/{job_id:str}/rerun",
        **protected(Action.SUBMIT, 400, 404),
        status_code=201,
        summary="Run a job again as attempt n+1",
    )
    async def rerun(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Job:
        door = access(request)
        job = await door.job(job_id, Action.SUBMIT)
        door.check_queue(job.spec.queue)  # a rerun uses the queue's room again
        return job_view(await _service(request).rerun(job_id))

    @get(
        "/jobs/{job_id:str}/callbacks",
        **protected(Action.READ, 400, 404),
        summary="Webhook delivery attempts, oldest first",
    )
    async def callbacks(
        self, request: Request[Any, Any, Any], job_id: FromPath[str]
    ) -> CallbackList:
        await access(request).job(job_id, Action.READ)
        attempts = await _service(request).callbacks(job_id)
        return CallbackList(items=[CallbackAttempt(**a) for a in attempts])

    @get(
        "/jobs/{job_id:str}/manifest",
        **protected(
            Action.READ,
            400,
            404,
            answers={
                200: answer(
                    dict[str, Any],
                    "The Kubernetes object exactly as dispatched for that attempt.",
                )
            },
        ),
        summary="The Kubernetes object an attempt was dispatched as",
        description=(
            "Stored when the attempt is dispatched. `attempt` defaults to the current one; a "
            "404 says why there is none (not dispatched yet, no such attempt, never dispatched)."
        ),
    )
    async def manifest(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[str],
        attempt: Annotated[int | None, QueryParameter(ge=1, le=MAX_ATTEMPT)] = None,
    ) -> Response[bytes]:
        job = await access(request).job(job_id, Action.READ)
        body = await _service(request).manifest(job, attempt or job.attempt)
        return Response(body, media_type="application/json")

    @post(
        "/jobs/{job_id:str}/callbacks/redeliver",
        **protected(Action.SUBMIT, 400, 404, 409),
        status_code=202,
        summary="Deliver the final state's webhook again",
    )
    async def redeliver(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Job:
        await access(request).job(job_id, Action.SUBMIT)
        return job_view(await _service(request).redeliver(job_id))

    @get(
        "/jobs/{job_id:str}/events",
        **protected(
            Action.READ,
            400,
            404,
            answers=streamed(
                EventWatchItem, "With watch=true: JSON lines, an EventWatchItem each."
            ),
        ),
        operation_class=WithStream,
        summary="Status history; watch=true follows it",
        description=(
            "With `watch=true` the answer is a stream of JSON lines (`application/x-ndjson`), "
            "one `EventWatchItem` each: the events after `watch_cursor` (all, without it), then "
            "each new one as it is stored, and BOOKMARK lines as for the jobs' watch."
        ),
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[str],
        watch: FromQuery[bool] = False,
        watch_cursor: FromQuery[str | None] = None,
    ) -> EventList:  # or, with watch=true, a stream (documented by WithStream)
        await access(request).job(job_id, Action.READ)
        service = _service(request)
        if watch:
            return _event_watch(request, service, job_id, _watch_cursor(watch_cursor) or 0)  # type: ignore[return-value]
        events = await service.events(job_id)
        return EventList(items=[_event(e) for e in events])

    @get(
        "/jobs/{job_id:str}/logs",
        **protected(
            Action.READ,
            400,
            404,
            answers={
                200: answer(
                    str,
                    "Each pod's log, introduced by a `==> pod/container <==` line; with none "
                    "to show, one `[kjs: …]` line saying why (`log_collect` and the outcome), "
                    "also in the `X-Kjs-Logs-Note` header when known before the body.",
                    "text/plain",
                )
            },
        ),
        media_type="text/plain",
        summary="Collected container logs; follow=true streams while the job runs",
    )
    async def logs(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[str],
        pod: FromQuery[str | None] = None,
        container: FromQuery[str | None] = None,
        attempt: Annotated[int | None, QueryParameter(ge=1, le=MAX_ATTEMPT)] = None,
        follow: FromQuery[bool] = False,
    ) -> Stream:
        job = await access(request).job(job_id, Action.READ)
        sink = request.app.state.components.log_sink
        service = _service(request)
        wanted = attempt or job.attempt

        cap = request.app.state.settings.logs.cap_bytes_per_container

        async def empty_note(current: JobRecord) -> str:
            """Why nothing is shown (the job as read last)."""
            if pod is not None or container is not None:
                others = await sink.chunk_counts(job_id, wanted)  # names, not the bytes
                if others:
                    return lognotes.other_logs_note(pod, container, [f"{p}/{c}" for p, c in others])
            return lognotes.no_logs_note(current, wanted, pod=pod, container=container)

        first = await sink.read(job_id, attempt=wanted, pod=pod, container=container)
        headers: dict[str, str] = {}
        # Known now: nothing is kept and nothing will come (a follow of a running job may
        # still bring lines, so its answer says why only in the body, at its end).
        settled = job.state.is_final or job.attempt != wanted or job.spec.log_collect == "never"
        if not first and (not follow or settled):
            headers[lognotes.NOTE_HEADER] = lognotes.printable(await empty_note(job))
        # A follow of what will bring nothing (`never`, an earlier attempt, a final job) says
        # why at once rather than when the job ends.
        following = follow and not (settled and not first)

        async def chunks() -> AsyncIterator[bytes]:
            # Per container: the last chunk delivered and how much of it (it may still grow).
            delivered: dict[tuple[str, str], tuple[int, int]] = {}
            current: tuple[str, str] | None = None
            rows, latest, asked, shown = first, job, False, False
            while True:
                new_bytes = False
                for pod_name, container_name, seq, data in rows:
                    key = (pod_name, container_name)
                    last_seq, length = delivered.get(key, (-1, 0))
                    fresh = data[length:] if seq == last_seq else data
                    delivered[key] = (seq, len(data))
                    if not fresh:
                        continue
                    if key != current:
                        current = key
                        yield f"==> {pod_name}/{container_name} <==\n".encode()
                    new_bytes = shown = True
                    yield fresh
                if following:
                    latest = await service.get(job_id)
                    if not asked and lognotes.streams_on_request(latest, wanted):
                        # Someone is reading: have the agent send the lines as they come. Best
                        # effort: a store error here must not cut the answer already started.
                        asked = True
                        try:
                            await service.stream_logs(latest)
                        except Exception:
                            log.warning("job %s: could not ask for its log", job_id, exc_info=True)
                    done = (latest.state.is_final or latest.attempt != wanted) and not new_bytes
                if not following or done:
                    for cut_pod, cut_container in sorted(await sink.truncated(job_id, wanted)):
                        if pod in (None, cut_pod) and container in (None, cut_container):
                            yield (
                                f"[kjs: the log of {cut_pod}/{cut_container} was cut at "
                                f"{cap} bytes]\n"
                            ).encode()
                    if not shown:
                        note = headers.get(lognotes.NOTE_HEADER) or await empty_note(latest)
                        yield lognotes.note_line(note)
                    return
                stopping: asyncio.Event = request.app.state.stopping
                await aio.wait_event(stopping, FOLLOW_POLL_S)
                if stopping.is_set():  # SIGTERM: end the stream now, saying why
                    yield b"[kjs: the server is stopping; follow again to read on]\n"
                    return
                after = {k: seq - 1 for k, (seq, _) in delivered.items()}
                rows = await sink.read(
                    job_id, attempt=wanted, pod=pod, container=container, after=after
                )

        return Stream(chunks(), media_type="text/plain", headers=headers)
