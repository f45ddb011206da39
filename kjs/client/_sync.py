"""`Client`: the kjs API from synchronous code, on `httpx.Client`."""

from __future__ import annotations

import builtins
import datetime as dt
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from types import TracebackType
from typing import Any, TypeVar

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


class Client:
    """A connection to one kjs server (`url`: its root; the SDK adds `/api/v1`).

    Every call returns typed results (`Job`, `CronJob`, `Cluster`, …) or raises: an
    `ApiError` subclass with the server's problem details for a refusal, `ServerUnreachable`
    when the server cannot be reached. Use it as a context manager, or `close()` it.
    """

    def __init__(
        self,
        url: str = calls.DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        reconnect_for: float = RECONNECT_FOR_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.reconnect_for = reconnect_for
        self._http = httpx.Client(
            base_url=self.url + "/api/v1",
            headers=calls.headers(token),
            timeout=timeout,
            transport=transport,
        )
        self._batch_route = True  # until the server says it has none (404/405)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(
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

    @contextmanager
    def _stream(
        self, path: str, params: Params, read_timeout: float | None
    ) -> Iterator[httpx.Response]:
        """A streamed GET whose status is a success (else its ApiError); transport errors
        are the caller's to handle."""
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise error_for(response)
            yield response

    def _lines(self, path: str, query: Params, resume: Resume) -> Generator[Line, None, None]:
        """Every line of a watch, across reconnections (each resumes after the last seq)."""
        while True:
            read_timeout = resume.read_timeout()
            error: Exception | None = None  # None: the server ended the stream (stopping)
            shorten = False
            try:
                with self._stream(path, resume.params(query), read_timeout) as response:
                    check_stream(response, self.url)
                    for raw in response.iter_lines():
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
                time.sleep(resume.retry_after(error))

    # -- jobs -------------------------------------------------------------------------------

    def submit(self, job: JobInput, *, idempotency_key: str | None = None) -> Job:
        """Submit a job (`POST /jobs`). With an `idempotency_key` the same submission made
        again (a retry) answers the first job instead of a second one."""
        return self._send(calls.submit(job, idempotency_key))

    def submit_many(
        self,
        jobs: Sequence[JobInput],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
    ) -> builtins.list[Job]:
        """Submit many jobs: `POST /jobs:batch` in chunks of up to 1,000, each stored all or
        none (errors name `items[i]` counted over the whole of `jobs`). A server without the
        batch route gets one `POST /jobs` each. Jobs of chunks before a refused one stay
        submitted: give idempotency keys to submit the same list again safely."""
        keys = calls.batch_keys(jobs, idempotency_keys)
        submitted: builtins.list[Job] = []
        for start in range(0, len(jobs), calls.MAX_BATCH):
            chunk = slice(start, start + calls.MAX_BATCH)
            if self._batch_route:
                try:
                    batch = calls.submit_batch(jobs[chunk], keys[chunk])
                    stored = self._send(batch)
                    submitted.extend(stored)
                    continue
                except ApiError as e:
                    if e.status not in (404, 405):
                        raise shift_items(e, start) from None
                    self._batch_route = False
            for index, (job, key) in enumerate(zip(jobs[chunk], keys[chunk], strict=True)):
                try:
                    submitted.append(self.submit(job, idempotency_key=key))
                except ApiError as e:
                    raise item_error(e, start + index) from None
        return submitted

    def dry_run(self, job: JobInput) -> dict[str, Any]:
        """The Kubernetes Job `job` would become (`POST /jobs?dry_run=true`); nothing stored."""
        return self._send(calls.dry_run(job))

    def get(self, job_id: str) -> Job:
        """One job."""
        return self._send(calls.get_job(job_id))

    def list(
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
        """One page of jobs, newest first or in `sort` order (`-created_at`, `created_at`,
        `-updated_at`, `updated_at`, `name`, `-name`; `limit` at most 500); `next_cursor` for the
        next. `name_prefix` needs sort `name` or `-name`; sorts by update time or name take only
        `namespace` (and `name_prefix`) as filters."""
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
        return self._send(calls.list_jobs(filters, limit, cursor, sort))

    def iter_jobs(
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
    ) -> Generator[Job, None, None]:
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
            page = self._send(calls.list_jobs(filters, page_size, cursor, sort))
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def watch(
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
    ) -> Generator[WatchEvent, None, None]:
        """Each change to the matching jobs, as it happens, until you stop iterating.

        From `watch_cursor` (a page's `watch_cursor`, or the `seq` of a change seen) or else
        from now. A dropped connection is resumed from the last change seen, nothing lost or
        repeated; failing to reconnect for `reconnect_for` seconds raises ServerUnreachable,
        a cursor the server no longer knows WatchExpired (list again). `bookmarks=True` also
        yields the server's keep-alives (`type == "BOOKMARK"`, no job), whose `seq` is a
        cursor too."""
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
        for line in self._lines("/jobs", query, resume):
            change = job_change(line, bookmarks)
            if change is not None:
                yield change

    def watch_events(
        self, job_id: str, *, watch_cursor: str | int | None = None
    ) -> Generator[Event, None, None]:
        """The job's status events: its history (after `watch_cursor`, an event's `seq`),
        then each new one as it is stored, until you stop iterating. Reconnects like
        `watch`."""
        resume = Resume(self.url, watch_cursor, reconnect_for=self.reconnect_for)
        yield from self._events(job_id, resume)

    def _events(self, job_id: str, resume: Resume) -> Generator[Event, None, None]:
        for line in self._lines(calls.events_path(job_id), [], resume):
            event = job_event(line)
            if event is not None:
                yield event

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> Job:
        """Wait until the job is final (succeeded, failed or cancelled) and return it.

        Follows the job's event stream (no polling); `on_event` sees every status event on
        the way, the history first. Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        resume = Resume(self.url, None, reconnect_for=self.reconnect_for, deadline=deadline)
        try:
            with closing(self._events(job_id, resume)) as events:
                for event in events:
                    if on_event is not None:
                        on_event(event)
                    if event.is_final:
                        job = self.get(job_id)
                        if job.is_final:  # else it was an earlier attempt's end
                            return job
        except TimeoutError:
            raise TimeoutError(f"job {job_id} is not final after {timeout} s") from None
        raise AssertionError("a job's event stream does not end")  # pragma: no cover

    def events(self, job_id: str) -> builtins.list[Event]:
        """The job's status history, oldest first."""
        return self._send(calls.events(job_id))

    def logs(
        self,
        job_id: str,
        *,
        pod: str | None = None,
        container: str | None = None,
        attempt: int | None = None,
    ) -> Logs:
        """The job's collected logs (the current attempt's unless `attempt`): each pod's
        introduced by a `==> pod/container <==` line. When there are none, the text is empty
        and its `note` says why (`log_collect` and the outcome)."""
        return self._send(calls.logs(job_id, pod, container, attempt))

    def follow_logs(
        self,
        job_id: str,
        *,
        pod: str | None = None,
        container: str | None = None,
        attempt: int | None = None,
    ) -> Generator[Logs, None, None]:
        """The job's logs as text chunks while it runs; ends when the job has finished. Why
        there is no log (see `logs`) comes as an empty chunk whose `note` says it."""
        params = calls.log_params(pod, container, attempt, follow=True)
        try:
            with self._stream(calls.logs_path(job_id), params, None) as response:
                followed = FollowedLogs()
                for text in response.iter_text():
                    yield from followed.feed(text)
                yield from followed.feed(None)
        except httpx.TransportError as e:
            raise ServerUnreachable(self.url, e) from e

    def cancel(self, job_id: str) -> Job:
        """Cancel the job: `cancelled` at once if it never left the server, else `cancelling`
        until its cluster has deleted it. A final job is returned as it is."""
        return self._send(calls.cancel(job_id))

    def rerun(self, job_id: str) -> Job:
        """Run the job again, as attempt n+1."""
        return self._send(calls.rerun(job_id))

    def update(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        """Change fields of the job's spec: in place while pending, else as a new attempt."""
        return self._send(calls.update_job(job_id, changes))

    def callbacks(self, job_id: str) -> builtins.list[dict[str, Any]]:
        """The job's webhook delivery attempts, oldest first."""
        return self._send(calls.callbacks(job_id))

    def redeliver(self, job_id: str) -> Job:
        """Deliver the final state's webhook again."""
        return self._send(calls.redeliver(job_id))

    # -- cron jobs --------------------------------------------------------------------------

    def create_cron(self, cron: CronInput) -> CronJob:
        """Create a cron job: a job template plus `schedule` (and `time_zone`, `mode`, …)."""
        return self._send(calls.create_cron(cron))

    def get_cron(self, cron_id: str) -> CronJob:
        return self._send(calls.get_cron(cron_id))

    def list_crons(
        self, *, limit: int = 100, cursor: str | None = None, **filters: str | None
    ) -> CronJobPage:
        """One page of cron jobs, newest first (filters: `name`)."""
        return self._send(calls.list_crons(filters, limit, cursor))

    def iter_crons(
        self, *, page_size: int = 500, **filters: str | None
    ) -> Generator[CronJob, None, None]:
        """Every cron job matching the filters, page after page."""
        cursor: str | None = None
        while True:
            page = self._send(calls.list_crons(filters, page_size, cursor))
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def cron_runs(self, cron_id: str, *, limit: int = 100, cursor: str | None = None) -> JobPage:
        """One page of the cron job's runs, newest first."""
        return self._send(calls.cron_runs(cron_id, limit, cursor))

    def update_cron(self, cron_id: str, changes: Mapping[str, Any]) -> CronJob:
        return self._send(calls.update_cron(cron_id, changes))

    def delete_cron(self, cron_id: str) -> CronJob:
        """Delete the cron job (and its Kubernetes CronJob); returns it as it was."""
        return self._send(calls.delete_cron(cron_id))

    def suspend_cron(self, cron_id: str) -> CronJob:
        return self._send(calls.suspend_cron(cron_id, True))

    def resume_cron(self, cron_id: str) -> CronJob:
        return self._send(calls.suspend_cron(cron_id, False))

    def trigger_cron(self, cron_id: str) -> Job:
        """Start a run now; returns the run's job."""
        return self._send(calls.trigger_cron(cron_id))

    # -- clusters ---------------------------------------------------------------------------

    def clusters(self) -> builtins.list[Cluster]:
        """Every cluster known from its agent's heartbeats."""
        return self._send(calls.clusters())

    def cluster(self, cluster_id: str) -> Cluster:
        return self._send(calls.cluster(cluster_id))

    def cordon(self, cluster_id: str) -> Cluster:
        """Take no new work on the cluster (needs an admin token)."""
        return self._send(calls.cordon(cluster_id, True))

    def uncordon(self, cluster_id: str) -> Cluster:
        return self._send(calls.cordon(cluster_id, False))

    # -- queues -----------------------------------------------------------------------------

    def queues(self) -> builtins.list[Queue]:
        """Every queue, by name: the server's configuration's and those defined over the API."""
        return self._send(calls.queues())

    def queue(self, name: str) -> Queue:
        return self._send(calls.queue(name))

    def priority_classes(self) -> builtins.list[PriorityClass]:
        """The server's priority classes (its configuration's), highest value first."""
        return self._send(calls.priority_classes())

    def put_queue(self, name: str, definition: Mapping[str, Any]) -> Queue:
        """Define a queue, or replace its definition (`weight`, `limits`, `namespaces`,
        `priority_class`; needs an admin token). A queue of the configuration: `Conflict`."""
        return self._send(calls.put_queue(name, definition))

    def delete_queue(self, name: str) -> None:
        """Delete a queue; `Conflict` while jobs of it are unfinished (or for a queue of the
        configuration)."""
        self._send(calls.delete_queue(name))
