"""The original system's routes, in the forms it served (GET/DELETE with path and query
parameters) and the forms its documentation gives (POST with a JSON body)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from kjs.api.schema import WITH_BODY, RawBody, answer, protected
from kjs.api.services import Action
from kjs.core.errors import NotFound
from kjs.core.ids import new_id
from kjs.core.protocols import NameTaken
from kjs.core.records import CronRecord
from kjs.core.validation import InvalidInput
from kjs.plugins.compat import translate as tr
from kjs.plugins.compat.envelope import (
    ALREADY_EXISTS,
    DELETE_TIMEOUT,
    INVALID_PARAMETER,
    JOB_ID_EMPTY,
    PUBLISH,
    VERIFY_JOB,
    CompatEnvelope,
    CompatError,
    CompatRequest,
    failure,
    message,
    ok,
)
from kjs.plugins.compat.settings import REALM, anonymous_client, compat_settings
from kjs.plugins.compat.store import CompatRecord, records_of

if TYPE_CHECKING:
    from kjs.api.services import PluginServices

NO_ROWS = "sql: no rows in result set"  # the original's cause for an unknown id
MAX_PAGE = 500
INT64 = (-(2**63), 2**63 - 1)  # the original's integers (Go int64)


ENVELOPE = answer(CompatEnvelope, "The original's envelope: `code` says how it went.")


def compat_guard(action: Action, *, body: bool = False) -> dict[str, Any]:
    """As the rest of the API; with `[compat] open`, a caller without a token is the
    anonymous compatibility client (its jobs only, in `[compat] open_namespaces`). Every
    answer of the route itself is an HTTP 200 envelope; only the guard, the body's size and
    time, a body nested too deeply and the store answer problem details (400 also documents
    the framework's own check of path parameters)."""
    errors = WITH_BODY if body else (400,)
    return protected(action, *errors, answers={200: ENVELOPE}, anonymous=anonymous_client)


COMPAT_BODY: dict[str, Any] = {"dto": RawBody[CompatRequest], "return_dto": None}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _answer(work: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await work()
    except CompatError as e:
        return failure(e)
    except InvalidInput as e:
        causes = "; ".join(f"{tr.field_name(x.field)}: {x.message}" for x in e.errors)
        return failure(CompatError(VERIFY_JOB, causes))
    except NotFound:
        return failure(CompatError(INVALID_PARAMETER, NO_ROWS))


class Compat:
    """What the routes do, over the services kjs gave the plugin (one per request)."""

    def __init__(self, services: PluginServices, request: Request[Any, Any, Any]) -> None:
        self.request = request
        self.jobs = services.jobs
        self.crons = services.crons
        self.store = services.store
        self.records = records_of(services.store)
        self.sink = services.log_sink
        self.settings = services.settings
        self.access = services.access(request)
        self.queue = compat_settings(services.settings).queue

    async def record(self, job_id: str, kind: str, action: Action) -> CompatRecord:
        """The record of `job_id`, if the caller may do `action` where its job is (else 403)."""
        if not job_id:
            raise CompatError(JOB_ID_EMPTY, "job_id is empty.")
        found: CompatRecord | None = await asyncio.to_thread(self.records.get, job_id)
        if found is None or found.kind != kind:
            raise CompatError(INVALID_PARAMETER, NO_ROWS)
        self.access.check(action, await self._namespace(found), realm=REALM)
        return found

    async def _namespace(self, record: CompatRecord) -> str:
        """Where a record's job (or cron job, deleted too) is now."""
        if record.kind == "once":
            return (await self.jobs.get(record.job_id)).spec.namespace
        cron: CronRecord | None = await asyncio.to_thread(self.store.get_cron, record.job_id)
        if cron is None:
            raise CompatError(INVALID_PARAMETER, NO_ROWS)
        return cron.spec.namespace

    async def _write(
        self, write: Callable[[CompatRecord], Awaitable[object]], record: CompatRecord
    ) -> None:
        """Add or save a record; a live record of its kind with its name is code 105."""
        try:
            await write(record)
        except NameTaken:
            raise CompatError(
                ALREADY_EXISTS, f"job_name={record.job_name} already exists"
            ) from None

    async def _save(self, record: CompatRecord) -> None:
        await asyncio.to_thread(self.records.save, record)

    async def _await_cluster(
        self, current: Any, done: Callable[[Any], bool], fetch: Callable[[], Awaitable[Any]]
    ) -> None:
        """Wait for its cluster to confirm a delete, as the original did (code 253 after
        `delete_wait_s`)."""
        deadline = time.monotonic() + compat_settings(self.settings).delete_wait_s
        while not done(current):
            if time.monotonic() > deadline:
                raise CompatError(DELETE_TIMEOUT, "delete job timeout.")
            await asyncio.sleep(0.2)
            current = await fetch()

    async def _accepted(self, record: CompatRecord, accept: Callable[[], Awaitable[Any]]) -> None:
        """Run `accept` (the kjs submit); a refusal leaves no record behind."""
        try:
            await accept()
        except BaseException as e:
            await asyncio.to_thread(self.records.forget, record.job_id)
            if isinstance(e, (CompatError, InvalidInput, NotFound)):
                raise
            raise CompatError(PUBLISH, f"the job could not be accepted: {e}") from e

    def _new_record(self, fields: dict[str, Any], kind: str) -> CompatRecord:
        at = _now()
        return CompatRecord(
            job_id=new_id(),
            kind=kind,
            job_name=fields["job_name"],
            job_exec_time=fields.get("job_exec_time") or 0,
            meta=_meta(fields),
            command=fields["command"],
            schedule=fields.get("schedule"),
            created_at=at,
            updated_at=at,
        )

    # -- once jobs ---------------------------------------------------------------------------

    async def create_once(self, fields: dict[str, Any]) -> Response[bytes]:
        tr._required(fields, ["job_name", "namespace", "image", "command"], ".")
        tr.check_metadata(fields.get("metadata") or {})
        spec = tr.job_spec(
            fields, kind="once", job_name=fields["job_name"], now=_now(), queue=self.queue
        )
        self.access.check(Action.SUBMIT, spec.namespace, realm=REALM)
        self.access.check_queue(spec.queue)
        record = self._new_record(fields, "once")
        await self._write(self.records.add_grouped, record)
        await self._accepted(record, lambda: self.jobs.submit(spec, job_id=record.job_id))
        return ok({"job_id": record.job_id})

    async def update_once(self, fields: dict[str, Any]) -> Response[bytes]:
        tr._required(fields, ["namespace", "image", "command", "job_id"], ".")
        tr.check_metadata(fields.get("metadata") or {})
        record = await self.record(fields["job_id"], "once", Action.SUBMIT)
        spec = tr.job_spec(
            fields, kind="once", job_name=record.job_name, now=_now(), queue=self.queue
        )
        self.access.check(Action.SUBMIT, spec.namespace, realm=REALM)  # and where it goes
        self.access.check_queue((await self.jobs.get(record.job_id)).spec.queue)  # where it is
        self.access.check_queue(spec.queue)
        await self.jobs.update(record.job_id, spec, final_too=True)
        # If it was deleted, its name may have been taken since: then code 105.
        await self._write(self._save, _changed(record, fields, deleted=False))
        return message("update success.")

    async def once_json(self, record: CompatRecord) -> dict[str, Any]:
        job = await self.jobs.get(record.job_id)
        events = await self.jobs.events(record.job_id)
        # An imported job's first attempt ran on the original: its counters came with it.
        first = 1 if record.imported_times is None else 2
        mine = [e for e in events if e.attempt >= first]
        ran = {"created", "running", "succeeded", "failed"}
        times = (record.imported_times or 0) + len({e.attempt for e in mine if e.state in ran})
        successes = record.imported_successes + sum(e.state == "succeeded" for e in mine)
        return tr.once_json(record, job, times, successes)

    async def delete_once(self, job_id: str) -> Response[bytes]:
        record = await self.record(job_id, "once", Action.SUBMIT)
        if record.deleted:
            return message("job_status is delete")
        job = await self.jobs.cancel(job_id)
        await self._await_cluster(job, lambda j: j.state.is_final, lambda: self.jobs.get(job_id))
        await self._mark_deleted(record)
        return message(f"delete once_job success job_id: {job_id}")

    async def _mark_deleted(self, record: CompatRecord) -> None:
        await asyncio.to_thread(
            self.records.save,
            msgspec.structs.replace(record, deleted=True, updated_at=_now()),
        )

    # -- cron jobs ---------------------------------------------------------------------------

    async def create_cron(self, fields: dict[str, Any]) -> Response[bytes]:
        tr._required(fields, ["job_name", "namespace", "image", "schedule", "command"], "")
        tr.check_metadata(fields.get("metadata") or {})
        spec = tr.cron_spec(fields, fields["job_name"], _now(), self.queue)
        self.access.check(Action.SUBMIT, spec.namespace, realm=REALM)
        self.access.check_queue(spec.queue)
        record = self._new_record(fields, "cron")
        await self._write(self.records.add_grouped, record)
        await self._accepted(record, lambda: self.crons.create(spec, cron_id=record.job_id))
        return ok({"job_id": record.job_id})

    async def update_cron(self, fields: dict[str, Any]) -> Response[bytes]:
        tr._required(fields, ["job_id", "namespace", "image", "schedule", "command"], "")
        tr.check_metadata(fields.get("metadata") or {})
        record = await self.record(fields["job_id"], "cron", Action.SUBMIT)
        if record.deleted:
            raise CompatError(INVALID_PARAMETER, NO_ROWS)
        spec = tr.cron_spec(fields, record.job_name, _now(), self.queue)
        self.access.check(Action.SUBMIT, spec.namespace, realm=REALM)  # and where it goes
        self.access.check_queue((await self.crons.get(record.job_id)).spec.queue)  # where it is
        self.access.check_queue(spec.queue)
        await self.crons.update(record.job_id, spec)
        await self._save(_changed(record, fields))
        return message("update success.")

    async def cron_json(self, record: CompatRecord) -> dict[str, Any]:
        cron = await asyncio.to_thread(self.store.get_cron, record.job_id)
        if cron is None:
            raise CompatError(INVALID_PARAMETER, NO_ROWS)
        total, succeeded, active = await asyncio.to_thread(
            self.store.cron_run_counts, record.job_id
        )
        counts = (
            total + (record.imported_times or 0),
            succeeded + record.imported_successes,
            active,
        )
        return tr.cron_json(record, cron, counts)

    async def delete_cron(self, job_id: str) -> Response[bytes]:
        record = await self.record(job_id, "cron", Action.SUBMIT)
        if record.deleted:
            return message("job_status is delete")
        cron = await asyncio.to_thread(self.store.get_cron, job_id)
        if cron is None:
            raise CompatError(INVALID_PARAMETER, NO_ROWS)
        # Its agent deletes the CronJob (and its Jobs); a retry after a timeout only waits.
        deleted = cron if cron.deleted else await self.crons.delete(job_id)
        # Nothing to confirm if the CronJob never reached a cluster.
        await self._await_cluster(
            deleted,
            lambda c: c.cluster_id is None or c.state == "removed",
            lambda: asyncio.to_thread(self.store.get_cron, job_id),
        )
        await self._mark_deleted(record)
        return message(f"delete cron_job success job_id: {job_id}")

    # -- both --------------------------------------------------------------------------------

    async def describe(self, job_id: str, kind: str) -> Response[bytes]:
        record = await self.record(job_id, kind, Action.READ)
        return ok(await self._render(kind)(record))

    def _render(self, kind: str) -> Callable[[CompatRecord], Awaitable[dict[str, Any]]]:
        return self.once_json if kind == "once" else self.cron_json

    async def lists(self, kind: str, page_num: Any, page_size: Any) -> Response[bytes]:
        num = _int(page_num, 1, "page_num")
        num = num if num > 0 else 1
        size = _int(page_size, 10, "page_size")
        size = size if 0 < size <= MAX_PAGE else (10 if size <= 0 else MAX_PAGE)
        # Other namespaces are left out of the count as well as of the page.
        total, records = await asyncio.to_thread(
            self.records.page, kind, (num - 1) * size, size, self.access.namespaces()
        )
        render = self._render(kind)
        rows = []
        for record in records:
            try:
                rows.append(await render(record))
            except (NotFound, CompatError):  # removed meanwhile (e.g. by retention)
                continue
        return ok({"total": total, "page_num": num, "page_size": size, "data": rows or None})

    async def logs(self, job_id: str) -> Response[bytes]:
        if not job_id:
            raise CompatError(JOB_ID_EMPTY, "job_id is empty.")
        # (id the logs are stored under, its attempts, when it started)
        sources: list[tuple[str, int, dt.datetime]] = []
        cron = await asyncio.to_thread(self.store.get_cron, job_id)
        found = None if cron is not None else await asyncio.to_thread(self.store.get_job, job_id)
        owner = cron or found
        if owner is None:
            return ok(None)
        # Any job's id works here, native ones too (the compat_open client may not read those):
        # a compat job has a record, under its own id or its cron job's.
        origin = found.cron_id if found is not None and found.cron_id else job_id
        compat = await asyncio.to_thread(self.records.get, origin) is not None
        if not compat and origin != job_id:
            compat = await asyncio.to_thread(self.records.get, job_id) is not None
        self.access.check(Action.READ, owner.spec.namespace, realm=REALM if compat else None)
        if cron is not None:
            # Imported from the original: stored under the cron job's own id. Then every
            # run's pods (oldest first), under the cron job's id as the original showed them.
            sources.append((cron.id, 1, cron.created_at))
            runs, cursor = [], None
            while True:
                page, cursor = await self.jobs.list_jobs(
                    limit=500, cursor=cursor, cron_id=job_id, namespaces=self.access.namespaces()
                )
                runs += page
                if not cursor:
                    break
            sources += [(j.id, j.attempt, j.started_at or j.created_at) for j in reversed(runs)]
        elif found is not None:
            sources.append((found.id, found.attempt, found.started_at or found.created_at))
        rows: list[dict[str, Any]] = []
        for stored_under, attempts, started in sources:
            texts: dict[tuple[int, str, str], bytearray] = {}
            for attempt in range(1, attempts + 1):
                for pod, container, _, data in await self.sink.read(stored_under, attempt=attempt):
                    texts.setdefault((attempt, pod, container), bytearray()).extend(data)
            for (_, pod, _), text in texts.items():
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "job_id": job_id,
                        "pod_name": pod,
                        "logs": text.decode(errors="replace"),
                        "create_time": int(started.timestamp()),
                    }
                )
        return ok(rows or None)


def _meta(fields: dict[str, Any]) -> str:
    """The request's metadata as the original stored it: JSON text, or empty."""
    metadata = fields.get("metadata")
    return json.dumps(metadata) if metadata else ""


def _changed(record: CompatRecord, fields: dict[str, Any], **more: Any) -> CompatRecord:
    """The record after an update request."""
    return msgspec.structs.replace(
        record,
        job_exec_time=fields.get("job_exec_time") or 0,
        meta=_meta(fields),
        command=fields["command"],
        schedule=fields.get("schedule", record.schedule),
        updated_at=_now(),
        **more,
    )


def _int(value: Any, default: int, name: str) -> int:
    """Lenient, as the original: a value that is not a number is the default; a number the
    original could not hold (Go int64) is refused, naming the parameter."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = int(str(value))
        except (TypeError, ValueError):
            return default
    if not INT64[0] <= number <= INT64[1]:
        raise CompatError(
            INVALID_PARAMETER, f"{name}: {value} is out of range (at most {INT64[1]})"
        )
    return number


def _body(data: bytes) -> dict[str, Any]:
    return tr.decode(data)


def _routes(services: PluginServices, kind: str, path: str) -> type[Controller]:
    """The controller for `/api/once_job` or `/api/cron_job`."""
    once = kind == "once"
    create_, update_ = (
        (Compat.create_once, Compat.update_once)
        if once
        else (Compat.create_cron, Compat.update_cron)
    )
    delete_ = Compat.delete_once if once else Compat.delete_cron

    class Routes(Controller):
        tags = ["compatibility"]  # noqa: RUF012 (Litestar's own attribute)

        @post("/create", status_code=200, **compat_guard(Action.SUBMIT, body=True), **COMPAT_BODY)
        async def create(self, request: Request[Any, Any, Any], data: JSONBody[bytes] = b"") -> Any:
            async def work() -> Any:
                return await create_(Compat(services, request), _body(data))

            return await _answer(work)

        @post("/update", status_code=200, **compat_guard(Action.SUBMIT, body=True), **COMPAT_BODY)
        async def update(self, request: Request[Any, Any, Any], data: JSONBody[bytes] = b"") -> Any:
            async def work() -> Any:
                return await update_(Compat(services, request), _body(data))

            return await _answer(work)

        @get(
            "/lists",
            **compat_guard(Action.READ),
            summary=f"List ({kind}; original API)",
        )
        async def lists_get(self, request: Request[Any, Any, Any]) -> Any:
            q = request.query_params
            return await _answer(
                lambda: Compat(services, request).lists(kind, q.get("page_num"), q.get("page_size"))
            )

        @post("/lists", status_code=200, **compat_guard(Action.READ, body=True), **COMPAT_BODY)
        async def lists_post(
            self, request: Request[Any, Any, Any], data: JSONBody[bytes] = b""
        ) -> Any:
            async def work() -> Any:
                fields = _body(data)
                return await Compat(services, request).lists(
                    kind, fields.get("page_num"), fields.get("page_size")
                )

            return await _answer(work)

        @get("/describe/{job_id:str}", **compat_guard(Action.READ))
        async def describe_get(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Any:
            return await _answer(lambda: Compat(services, request).describe(job_id, kind))

        @post(
            ["/describe", "/describe/{job_id:str}"],
            status_code=200,
            **compat_guard(Action.READ, body=True),
            **COMPAT_BODY,
        )
        async def describe_post(
            self,
            request: Request[Any, Any, Any],
            job_id: FromPath[str] = "",
            data: JSONBody[bytes] = b"",
        ) -> Any:
            async def work() -> Any:
                return await Compat(services, request).describe(_wanted(data, job_id), kind)

            return await _answer(work)

        @delete("/delete/{job_id:str}", status_code=200, **compat_guard(Action.SUBMIT))
        async def delete_path(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Any:
            return await _answer(lambda: delete_(Compat(services, request), job_id))

        @post(
            ["/delete", "/delete/{job_id:str}"],
            status_code=200,
            **compat_guard(Action.SUBMIT, body=True),
            **COMPAT_BODY,
        )
        async def delete_post(
            self,
            request: Request[Any, Any, Any],
            job_id: FromPath[str] = "",
            data: JSONBody[bytes] = b"",
        ) -> Any:
            async def work() -> Any:
                return await delete_(Compat(services, request), _wanted(data, job_id))

            return await _answer(work)

    Routes.path = path
    Routes.__name__ = Routes.__qualname__ = f"Compat{kind.title()}Jobs"
    return Routes


def _wanted(data: bytes, path_id: str) -> str:
    """The id a documented-form request names: in its body, else in its path (the
    documentation writes the path as `/delete/job_id`, with the id in the body)."""
    body_id: str = _body(data).get("job_id") or ""
    return body_id or ("" if path_id == "job_id" else path_id)


def routes(services: PluginServices) -> list[Any]:
    """The original's routes, over `services` (the server's they were built for)."""

    @get("/api/job_logs/{job_id:str}", **compat_guard(Action.READ), tags=["compatibility"])
    async def job_logs_get(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Any:
        return await _answer(lambda: Compat(services, request).logs(job_id))

    @post(
        ["/api/job_logs", "/api/job_logs/{job_id:str}"],
        status_code=200,
        **compat_guard(Action.READ, body=True),
        **COMPAT_BODY,
        tags=["compatibility"],
    )
    async def job_logs_post(
        request: Request[Any, Any, Any], job_id: FromPath[str] = "", data: JSONBody[bytes] = b""
    ) -> Any:
        async def work() -> Any:
            return await Compat(services, request).logs(_wanted(data, job_id))

        return await _answer(work)

    return [
        _routes(services, "once", "/api/once_job"),
        _routes(services, "cron", "/api/cron_job"),
        job_logs_get,
        job_logs_post,
    ]
