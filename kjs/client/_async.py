"""`AsyncClient`: the kjs API from async code (asyncio or trio), on `httpx.AsyncClient`.

The same methods as `Client`, each `async def`; the ones that iterate are async generators.
Requests and decoding come from `_calls`, reconnecting from `_watch`: only the I/O differs.
"""

from __future__ import annotations

import builtins
import datetime as dt
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
import msgspec

from kjs.client import _calls as calls
from kjs.client._calls import Call, CronInput, JobInput, Params
from kjs.client._errors import (
    ApiError,
    ServerUnreachable,
    UnexpectedResponse,
    error_for,
    item_error,
    shift_items,
)
from kjs.client._logs import FollowedLogs, Logs
from kjs.client._models import (
    Cluster,
    CronJob,
    CronJobPage,
    Event,
    Job,
    JobPage,
    PriorityClass,
    Queue,
    WatchEvent,
)
from kjs.client._watch import (
    RECONNECT_FOR_S,
    Line,
    Resume,
    check_stream,
    job_change,
    job_event,
    read_line,
)

T = TypeVar("T")


class AsyncClient:
    """`Client` for async code: `async with AsyncClient(url) as kjs: await kjs.get(id)`.

    Iterating methods (`iter_jobs`, `watch`, `watch_events`, `follow_logs`, `iter_crons`)
    are async generators; one left before its end holds its connection until it is closed
    (`contextlib.aclosing`) or collected.
    """

    def __init__(
        self,
        url: str = calls.DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        reconnect_for: float = RECONNECT_FOR_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.reconnect_for = reconnect_for
        self._http = httpx.AsyncClient(
            base_url=self.url + "/api/v1",
            headers=calls.headers(token),
            timeout=timeout,
            transport=transport,
        )
        self._batch_route = True  # until the server says it has none (404/405)

    def __repr__(self) -> str:
        return f"AsyncClient({self.url!r})"

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- transport --------------------------------------------------------------------------

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, content=call.body, headers=call.headers
            )
        except httpx.TransportError as e:
            raise ServerUnreachable(self.url, e) from e
        if response.is_error:
            raise error_for(response)
        try:
            if call.read_headers is not None:
                return call.read_headers(response.content, response.headers)
            return call.read(response.content)
        except msgspec.DecodeError as e:
            raise UnexpectedResponse(f"{call.method} {call.path}: unreadable answer: {e}") from e

    @asynccontextmanager
    async def _stream(
        self, path: str, params: Params, read_timeout: float | None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET whose status is a success (else its ApiError); transport errors
        are the caller's to handle."""
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.is_error:
                await response.aread()
                raise error_for(response)
            yield response

    async def _lines(self, path: str, query: Params, resume: Resume) -> AsyncGenerator[Line, None]:
        """Every line of a watch, across reconnections (each resumes after the last seq)."""
        while True:
            read_timeout = resume.read_timeout()
            error: Exception | None = None  # None: the server ended the stream (stopping)
            shorten = False
            try:
                async with self._stream(path, resume.params(query), read_timeout) as response:
                    check_stream(response, self.url)
                    async for raw in response.aiter_lines():
                        if not raw:
                            continue
                        line = read_line(raw)
                        resume.saw(line)
                        yield line
                        if resume.reconnect_now(read_timeout):
                            shorten = True  # a read timeout that ends by the deadline
                            break
            except (httpx.TransportError, ApiError) as e:
                error = e
            if not shorten:
                await anyio.sleep(resume.retry_after(error))

    # -- jobs -------------------------------------------------------------------------------

    async def submit(self, job: JobInput, *, idempotency_key: str | None = None) -> Job:
        """Submit a job (`POST /jobs`); see `Client.submit`."""
        return await self._send(calls.submit(job, idempotency_key))

    async def submit_many(
        self,
        jobs: Sequence[JobInput],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
    ) -> builtins.list[Job]:
        """Submit many jobs, in batches of up to 1,000; see `Client.submit_many`."""
        keys = calls.batch_keys(jobs, idempotency_keys)
        submitted: builtins.list[Job] = []
        for start in range(0, len(jobs), calls.MAX_BATCH):
            chunk = slice(start, start + calls.MAX_BATCH)
            if self._batch_route:
                try:
                    batch = calls.submit_batch(jobs[chunk], keys[chunk])
                    stored = await self._send(batch)
                    submitted.extend(stored)
                    continue
                except ApiError as e:
                    if e.status not in (404, 405):
                        raise shift_items(e, start) from None
                    self._batch_route = False
            for index, (job, key) in enumerate(zip(jobs[chunk], keys[chunk], strict=True)):
                try:
                    submitted.append(await self.submit(job, idempotency_key=key))
                except ApiError as e:
                    raise item_error(e, start + index) from None
        return submitted

    async def dry_run(self, job: JobInput) -> dict[str, Any]:
        """The Kubernetes Job `job` would become; nothing stored."""
        return await self._send(calls.dry_run(job))

    async def get(self, job_id: str) -> Job:
        """One job."""
        return await self._send(calls.get_job(job_id))

    async def list(
        self,
        *,
        state: str | None = None,
        cluster_id: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        cron_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        sort: str | None = None,
    ) -> JobPage:
        """One page of jobs, newest first; `next_cursor` for the next."""
        filters = calls.job_filters(
            state=state,
            cluster_id=cluster_id,
            name=name,
            labels=labels,
            cron_id=cron_id,
            created_after=created_after,
            created_before=created_before,
            namespace=namespace,
            name_prefix=name_prefix,
        )
        return await self._send(calls.list_jobs(filters, limit, cursor, sort))

    async def iter_jobs(
        self,
        *,
        state: str | None = None,
        cluster_id: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        cron_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        page_size: int = 500,
        sort: str | None = None,
    ) -> AsyncGenerator[Job, None]:
        """Every job matching the filters, newest first (or in `sort` order, as `list`), page
        after page."""
        filters = calls.job_filters(
            state=state,
            cluster_id=cluster_id,
            name=name,
            labels=labels,
            cron_id=cron_id,
            created_after=created_after,
            created_before=created_before,
            namespace=namespace,
            name_prefix=name_prefix,
        )
        cursor: str | None = None
        while True:
            page = await self._send(calls.list_jobs(filters, page_size, cursor, sort))
            for job in page.items:
                yield job
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def watch(
        self,
        *,
        watch_cursor: str | int | None = None,
        state: str | None = None,
        cluster_id: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        cron_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        bookmarks: bool = False,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Each change to the matching jobs, as it happens; see `Client.watch`."""
        query = calls.job_filters(
            state=state,
            cluster_id=cluster_id,
            name=name,
            labels=labels,
            cron_id=cron_id,
            created_after=created_after,
            created_before=created_before,
            namespace=namespace,
            name_prefix=name_prefix,
        )
        resume = Resume(self.url, watch_cursor, reconnect_for=self.reconnect_for)
        # aclosing: leaving this generator closes the stream now, not when it is collected.
        async with aclosing(self._lines("/jobs", query, resume)) as lines:
            async for line in lines:
                change = job_change(line, bookmarks)
                if change is not None:
                    yield change

    async def watch_events(
        self, job_id: str, *, watch_cursor: str | int | None = None
    ) -> AsyncGenerator[Event, None]:
        """The job's status events, history first, then each new one; see
        `Client.watch_events`."""
        resume = Resume(self.url, watch_cursor, reconnect_for=self.reconnect_for)
        async with aclosing(self._events(job_id, resume)) as events:
            async for event in events:
                yield event

    async def _events(self, job_id: str, resume: Resume) -> AsyncGenerator[Event, None]:
        async with aclosing(self._lines(calls.events_path(job_id), [], resume)) as lines:
            async for line in lines:
                event = job_event(line)
                if event is not None:
                    yield event

    async def wait(
        self,
        job_id: str,
        *,
        # The same call as `Client.wait`, rather than a cancel scope around it: the deadline
        # also shortens the stream's read timeout, so no read outlives it by much.
        timeout: float | None = None,  # noqa: ASYNC109
        on_event: Callable[[Event], None] | None = None,
    ) -> Job:
        """Wait until the job is final and return it; see `Client.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        resume = Resume(self.url, None, reconnect_for=self.reconnect_for, deadline=deadline)
        try:
            async with aclosing(self._events(job_id, resume)) as events:
                async for event in events:
                    if on_event is not None:
                        on_event(event)
                    if event.is_final:
                        job = await self.get(job_id)
                        if job.is_final:  # else it was an earlier attempt's end
                            return job
        except TimeoutError:
            raise TimeoutError(f"job {job_id} is not final after {timeout} s") from None
        raise AssertionError("a job's event stream does not end")  # pragma: no cover

    async def events(self, job_id: str) -> builtins.list[Event]:
        """The job's status history, oldest first."""
        return await self._send(calls.events(job_id))

    async def logs(
        self,
        job_id: str,
        *,
        pod: str | None = None,
        container: str | None = None,
        attempt: int | None = None,
    ) -> Logs:
        """The job's collected logs; see `Client.logs`."""
        return await self._send(calls.logs(job_id, pod, container, attempt))

    async def follow_logs(
        self,
        job_id: str,
        *,
        pod: str | None = None,
        container: str | None = None,
        attempt: int | None = None,
    ) -> AsyncGenerator[Logs, None]:
        """The job's logs as text chunks while it runs; see `Client.follow_logs`."""
        params = calls.log_params(pod, container, attempt, follow=True)
        try:
            async with self._stream(calls.logs_path(job_id), params, None) as response:
                followed = FollowedLogs()
                async for text in response.aiter_text():
                    for chunk in followed.feed(text):
                        yield chunk
                for chunk in followed.feed(None):
                    yield chunk
        except httpx.TransportError as e:
            raise ServerUnreachable(self.url, e) from e

    async def cancel(self, job_id: str) -> Job:
        """Cancel the job; see `Client.cancel`."""
        return await self._send(calls.cancel(job_id))

    async def rerun(self, job_id: str) -> Job:
        """Run the job again, as attempt n+1."""
        return await self._send(calls.rerun(job_id))

    async def update(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        """Change fields of the job's spec: in place while pending, else as a new attempt."""
        return await self._send(calls.update_job(job_id, changes))

    async def callbacks(self, job_id: str) -> builtins.list[dict[str, Any]]:
        """The job's webhook delivery attempts, oldest first."""
        return await self._send(calls.callbacks(job_id))

    async def redeliver(self, job_id: str) -> Job:
        """Deliver the final state's webhook again."""
        return await self._send(calls.redeliver(job_id))

    # -- cron jobs --------------------------------------------------------------------------

    async def create_cron(self, cron: CronInput) -> CronJob:
        """Create a cron job: a job template plus `schedule`."""
        return await self._send(calls.create_cron(cron))

    async def get_cron(self, cron_id: str) -> CronJob:
        return await self._send(calls.get_cron(cron_id))

    async def list_crons(
        self, *, limit: int = 100, cursor: str | None = None, **filters: str | None
    ) -> CronJobPage:
        """One page of cron jobs, newest first (filters: `name`)."""
        return await self._send(calls.list_crons(filters, limit, cursor))

    async def iter_crons(
        self, *, page_size: int = 500, **filters: str | None
    ) -> AsyncGenerator[CronJob, None]:
        """Every cron job matching the filters, page after page."""
        cursor: str | None = None
        while True:
            page = await self._send(calls.list_crons(filters, page_size, cursor))
            for cron in page.items:
                yield cron
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def cron_runs(
        self, cron_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the cron job's runs, newest first."""
        return await self._send(calls.cron_runs(cron_id, limit, cursor))

    async def update_cron(self, cron_id: str, changes: Mapping[str, Any]) -> CronJob:
        return await self._send(calls.update_cron(cron_id, changes))

    async def delete_cron(self, cron_id: str) -> CronJob:
        """Delete the cron job (and its Kubernetes CronJob); returns it as it was."""
        return await self._send(calls.delete_cron(cron_id))

    async def suspend_cron(self, cron_id: str) -> CronJob:
        return await self._send(calls.suspend_cron(cron_id, True))

    async def resume_cron(self, cron_id: str) -> CronJob:
        return await self._send(calls.suspend_cron(cron_id, False))

    async def trigger_cron(self, cron_id: str) -> Job:
        """Start a run now; returns the run's job."""
        return await self._send(calls.trigger_cron(cron_id))

    # -- clusters ---------------------------------------------------------------------------

    async def clusters(self) -> builtins.list[Cluster]:
        """Every cluster known from its agent's heartbeats."""
        return await self._send(calls.clusters())

    async def cluster(self, cluster_id: str) -> Cluster:
        return await self._send(calls.cluster(cluster_id))

    async def cordon(self, cluster_id: str) -> Cluster:
        """Take no new work on the cluster (needs an admin token)."""
        return await self._send(calls.cordon(cluster_id, True))

    async def uncordon(self, cluster_id: str) -> Cluster:
        return await self._send(calls.cordon(cluster_id, False))

    # -- queues -----------------------------------------------------------------------------

    async def queues(self) -> builtins.list[Queue]:
        """Every queue, by name: the server's configuration's and those defined over the API."""
        return await self._send(calls.queues())

    async def queue(self, name: str) -> Queue:
        return await self._send(calls.queue(name))

    async def priority_classes(self) -> builtins.list[PriorityClass]:
        """The server's priority classes (its configuration's), highest value first."""
        return await self._send(calls.priority_classes())

    async def put_queue(self, name: str, definition: Mapping[str, Any]) -> Queue:
        """Define a queue, or replace its definition (`weight`, `limits`, `namespaces`,
        `priority_class`; needs an admin token). A queue of the configuration: `Conflict`."""
        return await self._send(calls.put_queue(name, definition))

    async def delete_queue(self, name: str) -> None:
        """Delete a queue; `Conflict` while jobs of it are unfinished (or for a queue of the
        configuration)."""
        await self._send(calls.delete_queue(name))
