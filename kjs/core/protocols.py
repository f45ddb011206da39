"""The contracts plugins implement. Core code only ever talks to these."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import msgspec

from kjs.core.models import JobSpec
from kjs.core.queues import QueueRecord
from kjs.core.records import ClusterRecord, CronRecord, EventRecord, JobRecord, QueueUsage
from kjs.core.states import JobState


class DeliveryResult(msgspec.Struct, kw_only=True):
    """How one try of a `Notifier` went."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0


def _no_outbox(job: JobRecord) -> Sequence[tuple[str, bytes]]:
    return ()


def _no_event(job: JobRecord) -> EventRecord | None:
    return None


@dataclass(frozen=True)
class JobUpdate:
    """One job's change, for `JobStore.update_jobs`: `change` gets the job as stored (locked)
    and returns it changed, or None for no change; `outbox` and `event` get the changed job and
    say what to write with it. `acknowledge`, when given, gets the job as it is after the update
    (changed or not): True drops the job's open dispatch from the outbox in the same
    transaction (`outbox_ack`). `manifest`, when given, is the Kubernetes object (JSON) the
    change dispatches: stored with it as the changed job's attempt's (`job_manifest`)."""

    job_id: str
    change: Callable[[JobRecord], JobRecord | None]
    outbox: Callable[[JobRecord], Sequence[tuple[str, bytes]]] = _no_outbox
    event: Callable[[JobRecord], EventRecord | None] = _no_event
    acknowledge: Callable[[JobRecord], bool] | None = None
    manifest: bytes | None = None


@dataclass(frozen=True)
class PendingReason:
    """One placement key's pending reason to write (`JobStore.set_pending_reasons`)."""

    placement_key: str
    reason: str
    message: str
    created_after: dt.datetime | None = None
    at_least: int = 0


@dataclass(frozen=True)
class JobChange:
    """One item of a job watch: the job as read now, at the seq of its last change. `kind` is
    ADDED when the job was created after the watcher's position, DELETED for a job retention
    removed (the job as it was), else MODIFIED."""

    seq: int
    kind: Literal["ADDED", "MODIFIED", "DELETED"]
    job: JobRecord


@dataclass(frozen=True)
class PendingFeed:
    """What changed among pending jobs since a watch position (`JobStore.pending_since`): the
    jobs pending now among those changed (with their placement key), the ids of those no longer
    pending (or deleted), and the position this answer is complete up to. `snapshot`: `jobs`
    is every pending job (asked from no position, or one older than the history kept); the
    reader replaces what it had. `more`: changes past `position` were left for the next call."""

    jobs: list[tuple[str | None, JobRecord]]
    gone: list[str]
    position: int
    snapshot: bool = False
    more: bool = False


class NameTaken(Exception):
    """A store refused a name that must be unique (the compatibility layer's job names)."""


class JobView(Protocol):
    """A job as plugins see it (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def spec(self) -> JobSpec: ...
    @property
    def state(self) -> JobState: ...
    @property
    def attempt(self) -> int: ...
    @property
    def cluster_id(self) -> str | None: ...


class ClusterView(Protocol):
    """A cluster as plugins see it (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def pending(self) -> int: ...


# -- queue ---------------------------------------------------------------------------------------


class Delivery(Protocol):
    """One delivered message."""

    @property
    def body(self) -> bytes: ...
    @property
    def attempts(self) -> int: ...


Handler = Callable[[Delivery], Awaitable[bool]]
"""Returns True to acknowledge; False or an exception puts the message back (at-least-once)."""


class Queue(Protocol):
    """Topics with channels: every channel of a topic gets each message; consumers of one
    channel compete. Delivery is at least once."""

    async def start(self) -> None: ...
    async def publish(self, topic: str, body: bytes) -> None: ...
    async def subscribe(
        self, topic: str, channel: str, handler: Handler, *, max_in_flight: int | None = None
    ) -> None:
        """Run `handler` on the channel's messages, up to `max_in_flight` of them at once (None:
        the backend's default). Optional: kjs passes `max_in_flight` only to a backend whose
        `subscribe` takes it (`subscribe_with`)."""
        ...

    async def ping(self) -> None:
        """Raise if the queue cannot be reached."""
        ...

    async def close(self) -> None:
        """Stop consuming (in-flight handlers finish or their messages go back), then close."""
        ...


# -- store ---------------------------------------------------------------------------------------


class OutboxItem(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...


class OutboxDepth(NamedTuple):
    """What waits in the outbox (`OutboxStore.outbox_depth`)."""

    messages_due: int
    """Queue messages to publish now (a backlog when it stays high)."""
    messages_waiting: int
    """Queue messages published, kept to publish again later: dispatches until acknowledged."""
    webhooks_due: int
    """Webhook deliveries to try now."""
    webhooks_waiting: int
    """Webhook deliveries waiting for their next try (a receiver that failed)."""


class AllKeys(enum.Enum):
    """`Store.due_jobs` without a placement key: the due jobs of every key."""

    ALL = "all"


ALL_KEYS = AllKeys.ALL


@dataclass(frozen=True)
class Idempotency:
    """An idempotency key as the store keeps it (SHA-256 hex digests, 64 characters each)."""

    scope: str
    """Of (principal, namespace, key): unique among jobs."""
    request: str
    """Of the canonical request the key came with: a replay must match it."""


class IdempotencyConflict(Exception):
    """`JobStore.create_jobs` found an idempotency scope held by a job of another request (or
    given twice in the batch with different requests): nothing of the batch was stored."""

    def __init__(self, index: int, job_id: str) -> None:
        super().__init__(f"input {index}: its idempotency scope is job {job_id}'s")
        self.index = index
        """Which input of the batch."""
        self.job_id = job_id
        """The job that holds the scope (for a scope given twice: the earlier input's job)."""


# The store, split by concern: the server needs `Store` (jobs, cron jobs, outbox, clusters, queues);
# a backend may also offer `LogStore` (the `db` log sink keeps logs there) and `LeaseStore` (the
# `db` election). Methods are synchronous (run in a thread pool); each is one transaction.


JOB_SORTS = ("-created_at", "created_at", "-updated_at", "updated_at", "name", "-name")
"""The orders `JobStore.list_jobs` offers (`-`: descending); ties are broken in the same
direction by id (`name`: by creation time, then id)."""


@runtime_checkable
class JobStore(Protocol):
    """Jobs, their attempts' events, and what placement asks of them."""

    def create_job(
        self,
        job: JobRecord,
        outbox: Sequence[tuple[str, bytes]] = (),
        idempotency: Idempotency | None = None,
    ) -> JobRecord:
        """Insert the job and its outbox messages together. If a job with that id, or with that
        idempotency scope, exists already, return it instead (and insert nothing)."""
        ...

    def create_jobs(self, jobs: Sequence[tuple[JobRecord, Idempotency | None]]) -> list[JobRecord]:
        """Insert many jobs in one transaction, each with its `Accepted` event and labels as
        `create_job` writes them (no outbox messages); returns, per input and in order, the
        stored job: the new one, or the job that already holds its id or its idempotency scope
        (with the same request digest), for which nothing is inserted. A scope given twice in
        the batch with the same request is one job (the first input's). A scope held (before,
        or earlier in the batch) with another request raises `IdempotencyConflict`, and nothing
        of the batch is stored. Concurrent batches never store one scope twice. Meant to be
        fast: a few statements per batch, not per job."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...
    def get_jobs(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """Each of these jobs (None for an id that is none), in the order asked, in one read."""
        ...

    def get_job_by_idempotency(self, scope: str) -> tuple[JobRecord, str | None] | None:
        """The job of an idempotency scope, with the request digest stored with it."""
        ...

    def list_jobs(
        self, *, limit: int, cursor: str | None = None, sort: str = "-created_at", **filters: Any
    ) -> tuple[list[JobRecord], str | None]:
        """`limit` jobs in `sort` order (one of `JOB_SORTS`) and the cursor of the next page
        (None on the last): keyset pagination, each cursor made for its sort. Raises
        ValueError for a cursor not handed out by this store, or made for another sort.
        Filters (all optional, ANDed): `state`, `cluster_id`, `name` (exact), `name_prefix`,
        `namespace` (exact), `namespaces` (any of), `cron_id`, `labels` (every k=v),
        `created_after` (inclusive), `created_before` (exclusive)."""
        ...

    def watch_position(self) -> int:
        """The seq of the newest job change stored: every change up to it is committed and
        readable. Each change of a job (created, updated, deleted by retention) takes the next
        seq, and changes become readable in seq order (a reader never sees seq n+1 before n)."""
        ...

    def job_changes(self, after: int, *, limit: int, **filters: Any) -> tuple[list[JobChange], int]:
        """The jobs (`list_jobs`' filters) whose last change is after seq `after`, and those
        deleted since, oldest change first, at most `limit`; and the seq read up to, to pass as
        `after` next time. Raises `kjs.core.errors.Gone` when `after` is older than the history
        kept (deletions forgotten) or newer than `watch_position()`."""
        ...

    def update_job(
        self,
        job_id: str,
        change: Callable[[JobRecord], JobRecord | None],
        outbox: Callable[[JobRecord], Sequence[tuple[str, bytes]]] = lambda job: (),
        event: Callable[[JobRecord], EventRecord | None] = lambda job: None,
    ) -> tuple[JobRecord, JobRecord] | None:
        """Read the job locked, apply `change` (None = no change), write it with its outbox
        messages and event in one transaction; returns (before, after) or None."""
        ...

    def update_jobs(self, updates: Sequence[JobUpdate]) -> list[tuple[JobRecord, JobRecord] | None]:
        """`update_job` for many, in one transaction and in order (two updates of one job: the
        second sees the first's result); per update, (before, after) or None (no such job, or
        no change). An exception writes nothing of the lot."""
        ...

    def job_events(self, job_id: str, after: int = 0) -> list[EventRecord]:
        """The job's events with a seq after `after`, in the order stored (seq increasing)."""
        ...

    def gang_holder(self, namespace: str, gang: str) -> str | None:
        """The id of an unfinished job of `gang` (`JobSpec.gang`) in `namespace`, if any."""
        ...

    def job_manifest(self, job_id: str, attempt: int) -> bytes | None:
        """The manifest (JSON) an attempt was dispatched with (`JobUpdate.manifest`; the last
        one written if it was dispatched again), None if it never was. Removed with its job."""
        ...

    def due_jobs(
        self,
        now: dt.datetime,
        limit: int,
        placement_key: str | AllKeys | None = ALL_KEYS,
        *,
        after: tuple[dt.datetime, str] | None = None,
    ) -> list[JobRecord]:
        """Pending jobs whose run_at has come (or have none), oldest first (`created_at`, then
        id); with a `placement_key`, only those of that key (None: the jobs that have no key);
        with `after`, only those past that (created_at, id) — the next page."""
        ...

    def due_pages(
        self, now: dt.datetime, pages: Sequence[tuple[str | None, int]]
    ) -> list[list[JobRecord]]:
        """The first page of each of these placement keys, `(key, limit)`, as `due_jobs` reads
        it, in one call (one thread hop for a pass that starts on many small keys)."""
        ...

    def started_since(
        self,
        since: Mapping[str, dt.datetime],
        states: Sequence[JobState],
        whenever: Sequence[JobState] = (),
    ) -> dict[str, tuple[int, int, int]]:
        """Per cluster id of `since`: (jobs, CPU millicores, memory bytes) of its jobs in
        `states` that started (`started_at`) after the cluster's moment or never did, and of
        those in `whenever` whatever their `started_at` (absent: none). One grouped statement:
        what placement subtracts from a cluster's reported free figures."""
        ...

    def pending_since(self, after: int | None, limit: int) -> PendingFeed:
        """The pending jobs changed after watch position `after` (`watch_position`, the jobs'
        seq): at most `limit` changes a call. None (or a position older than the history kept):
        every pending job, as a snapshot. Placement's leader keeps its due jobs in memory by it
        (`kjs.scheduler.dueindex`); a store without it is read a page at a time instead."""
        ...

    def due_placement_keys(self, now: dt.datetime) -> list[tuple[str | None, int]]:
        """Each distinct placement key of the due jobs (as `due_jobs` means them), None for
        the jobs that have none, with how many due jobs it has; the key with the oldest job
        first. The key is `kjs.core.routing.placement_key_of(job.spec)`, kept with the job."""
        ...

    def queue_positions(
        self, queue: str, keys: Sequence[tuple[int, dt.datetime, str]], now: dt.datetime
    ) -> list[int]:
        """For each (priority, created_at, id) of a due pending job of `queue`, in the order
        given: its place among the queue's due pending jobs (as `due_jobs` means them), highest
        `priority` first, then oldest `created_at`, then id, 1 = next. One statement however
        many keys (a list page asks for all of its jobs of a queue at once), reading an index,
        not the jobs' rows."""
        ...

    def count_jobs_by_cluster(self, state: JobState) -> dict[str, int]: ...

    def count_jobs_by_cluster_and_state(
        self, states: Sequence[JobState]
    ) -> dict[str, dict[JobState, int]]:
        """Per cluster, how many of its jobs are in each of `states` (absent: none), counted
        in one statement: one consistent moment, even while jobs change state."""
        ...

    def queue_usage(self, states: Sequence[JobState] | None = None) -> list[QueueUsage]:
        """Per (queue, cluster id, state): how many jobs and their total requests, over the
        unfinished states and `lost` (lost jobs may still hold their pods) — or over `states`
        (placement reads only the placed ones). One grouped statement served by an index."""
        ...

    def namespace_usage(self, namespaces: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """Per namespace of `namespaces`: (jobs, CPU millicores, memory bytes) of its placed,
        unfinished jobs (dispatched … cancelling, and lost); absent when it has none."""
        ...

    def set_pending_reason(
        self,
        placement_key: str,
        reason: str,
        message: str,
        now: dt.datetime,
        *,
        created_after: dt.datetime | None = None,
    ) -> int:
        """Why the due pending jobs of this placement key wait (those created after
        `created_after`, when given): `reason` and `message` set on those that say otherwise, in
        one statement; how many changed. Not a change a watch reports (the job's state and spec
        are as they were)."""
        ...

    def set_pending_reasons(self, now: dt.datetime, told: Sequence[PendingReason]) -> None:
        """Many `set_pending_reason`s in one transaction, in order: each with `created_after`
        that changes fewer than `at_least` jobs is done again for its whole key (jobs joined it
        with an older `created_at`)."""
        ...

    def count_jobs_by_state(
        self, states: Sequence[JobState]
    ) -> dict[tuple[JobState, str | None], int]:
        """How many jobs are in each of `states`, per (state, cluster id; None for a job placed
        nowhere), absent when none; one grouped statement that reads an index, not the jobs'
        rows (the leader's gauges count every job kept, every few seconds)."""
        ...

    def next_run_at(self, after: dt.datetime | None = None) -> dt.datetime | None:
        """The earliest run_at of a pending delayed job (after `after`: for placement's timer)."""
        ...

    def delete_older_than(self, before: dt.datetime, batch: int = 1000) -> dict[str, int]:
        """Retention: remove finished jobs and their events older than `before` (their logs go
        through the log sink)."""
        ...


@runtime_checkable
class CronStore(Protocol):
    """Cron jobs and their fire times."""

    def create_cron(
        self, cron: CronRecord, outbox: Sequence[tuple[str, bytes]] = ()
    ) -> CronRecord: ...
    def get_cron(self, cron_id: str) -> CronRecord | None: ...
    def list_crons(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        namespaces: list[str] | None = None,
        name: str | None = None,
    ) -> tuple[list[CronRecord], str | None]: ...
    def update_cron(
        self,
        cron_id: str,
        change: Callable[[CronRecord], CronRecord | None],
        outbox: Callable[[CronRecord], Sequence[tuple[str, bytes]]] = lambda cron: (),
    ) -> tuple[CronRecord, CronRecord] | None: ...
    def pending_crons(self, limit: int) -> list[CronRecord]: ...
    def due_crons(self, now: dt.datetime, limit: int) -> list[CronRecord]: ...
    def next_cron_at(self) -> dt.datetime | None: ...
    def fire_cron(
        self,
        cron_id: str,
        fire_at: dt.datetime,
        next_run_at: dt.datetime | None,
        run: JobRecord | None,
    ) -> bool: ...
    def cron_run_counts(self, cron_id: str) -> tuple[int, int, int]: ...


@runtime_checkable
class OutboxStore(Protocol):
    """Messages written with a state change and published after it (dispatches, controls,
    webhook orders), and the record of each webhook delivery."""

    def outbox_due(
        self, now: dt.datetime, limit: int, webhooks: bool = False
    ) -> list[OutboxItem]: ...
    def add_outbox(self, messages: Sequence[tuple[str, bytes]]) -> None: ...
    def record_callback(
        self, job_id: str, event_id: str, url: str, at: dt.datetime, result: Any
    ) -> None: ...
    def list_callbacks(self, job_id: str) -> list[dict[str, Any]]: ...
    def outbox_sent(self, item_id: int, *, retry_at: dt.datetime | None) -> None:
        """Published: delete it, or keep it to publish again at `retry_at` (until acknowledged)."""
        ...

    def outbox_sent_many(self, items: Sequence[tuple[int, dt.datetime | None]]) -> None:
        """`outbox_sent` for many (item id, retry_at) in one transaction."""
        ...

    def outbox_next_at(self, webhooks: bool = False) -> dt.datetime | None: ...

    def outbox_depth(self, now: dt.datetime) -> OutboxDepth:
        """How many rows the outbox holds, queue messages and webhook deliveries apart, due at
        `now` or later, in one grouped statement."""
        ...

    def outbox_available_at(self, job_id: str) -> dt.datetime | None:
        """When the job's open dispatch is next due to be published (None: no open dispatch)."""
        ...

    def outbox_ack(self, job_id: str) -> None:
        """The agent has acted on the job's dispatch: stop re-publishing it."""
        ...


@runtime_checkable
class ClusterStore(Protocol):
    """The clusters agents announce, with their last heartbeat and cordon."""

    def upsert_cluster(self, cluster: ClusterRecord) -> None: ...
    def get_cluster(self, cluster_id: str) -> ClusterRecord | None: ...
    def list_clusters(self) -> list[ClusterRecord]: ...
    def set_cordoned(self, cluster_id: str, cordoned: bool) -> ClusterRecord | None: ...


class QueueInUse(Exception):
    """`QueueStore.delete_queue` found unfinished jobs in the queue, or cron jobs that start
    runs in it: nothing was deleted."""

    def __init__(self, name: str, unfinished: int, crons: int = 0) -> None:
        super().__init__(
            f"queue {name!r} has {unfinished} unfinished job(s) and {crons} cron job(s)"
        )
        self.name = name
        self.unfinished = unfinished
        """How many of its jobs are not final (pending … running, cancelling, lost)."""
        self.crons = crons
        """How many cron jobs (not deleted) name it."""


@runtime_checkable
class QueueStore(Protocol):
    """The queues defined over the API (the configuration's are not stored)."""

    def list_queues(self) -> list[QueueRecord]:
        """Every stored queue, by name."""
        ...

    def get_queue(self, name: str) -> QueueRecord | None: ...

    def put_queue(self, queue: QueueRecord) -> tuple[QueueRecord, bool]:
        """Create the queue, or replace its definition (keeping its `created_at`); returns it as
        stored and whether it is new."""
        ...

    def delete_queue(self, name: str) -> bool:
        """Delete the queue unless a job in it is unfinished (`QueueInUse`, nothing deleted),
        in one transaction; False when there is no such queue."""
        ...


@runtime_checkable
class LogStore(Protocol):
    """Collected container logs as sequenced chunks (what the `db` log sink uses)."""

    def append_log(
        self,
        job_id: str,
        attempt: int,
        pod: str,
        container: str,
        seq: int,
        data: bytes,
        truncated: bool,
    ) -> bool:
        """Store one chunk (a longer version replaces a prefix sent early); False if that
        (job, attempt, pod, container, seq) is stored already, as long."""
        ...

    def read_logs(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        pod: str | None = None,
        container: str | None = None,
        after: dict[tuple[str, str], int] | None = None,
    ) -> list[tuple[str, str, int, bytes]]:
        """(pod, container, seq, data) in order; `after` skips what a follower already has."""
        ...

    def truncated_logs(self, job_id: str, attempt: int) -> set[tuple[str, str]]: ...

    def log_chunk_counts(
        self, job_id: str, attempt: int
    ) -> dict[tuple[str, str], tuple[int, int]]: ...
    def delete_logs_older_than(self, before: dt.datetime, batch: int = 1000) -> int:
        """Retention: remove the chunks of attempts that ended before `before`."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    """Named leases with fencing tokens (what the `db` election uses)."""

    def acquire_lease(self, name: str, holder: str, ttl_s: float, now: dt.datetime) -> int | None:
        """Take or renew the named lease; returns the fencing token, or None if another holds it."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...


@runtime_checkable
class Store(JobStore, CronStore, OutboxStore, ClusterStore, QueueStore, Protocol):
    """Durable state: what the `store` key selects and the server needs of it."""

    def migrate(self) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


class Balancer(Protocol):
    """Places a job on one of the clusters that may take it."""

    def choose(
        self, job: JobView, clusters: Sequence[ClusterView], in_flight: dict[str, int]
    ) -> str | None:
        """The chosen cluster id, or None when every eligible cluster is full."""
        ...


class LogSink(Protocol):
    """Keeps collected logs. Every write and read of a job's log goes through the sink: the
    consumer's chunks, the check that a final state's logs are all there, the API's reads and
    follows, retention and `import-legacy`.

    A log is kept per (job, attempt, pod, container) as chunks keyed by `seq`
    (`kjs.core.messages.LogChunk`): chunk `seq` holds fixed bytes of the log, so every write is
    idempotent — the same chunk again changes nothing, a longer version of a chunk (one sent
    early held a prefix) replaces the shorter one, and a shorter one never replaces a longer.
    Chunks may arrive in any order and more than once (the queue is at-least-once)."""

    async def append(
        self,
        job_id: str,
        attempt: int,
        pod: str,
        container: str,
        seq: int,
        data: bytes,
        truncated: bool,
    ) -> bool:
        """Keep one chunk; `truncated` marks the container's log as cut at the cap after it.

        Idempotent by `seq`: returns False when the chunk is kept already, as long (and as
        marked); True when it is new, longer than the one kept (which it replaces), or the same
        bytes now marked truncated."""
        ...

    async def read(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        pod: str | None = None,
        container: str | None = None,
        after: dict[tuple[str, str], int] | None = None,
    ) -> list[tuple[str, str, int, bytes]]:
        """A job's chunks as (pod, container, seq, data), ordered by attempt, pod, container
        and seq; None filters nothing. `after` maps (pod, container) to the last seq a reader
        (a follower) has: only later chunks of that container are returned."""
        ...

    async def truncated(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        """The (pod, container)s of an attempt whose log was cut at the cap."""
        ...

    async def chunk_counts(
        self, job_id: str, attempt: int
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """(chunks, bytes) kept per (pod, container) of an attempt: a final state is stored
        once these cover what its status says was sent (`last_log_seq`, `log_bytes`)."""
        ...

    async def delete_older_than(self, before: dt.datetime) -> int:
        """Retention: drop every chunk first kept before `before`, of any job; returns how
        many. Called by the leader after the store removed the jobs finished before then."""
        ...


class Election(Protocol):
    """Decides whether this process is the leader for work that must happen once."""

    async def start(self) -> None: ...
    @property
    def is_leader(self) -> bool: ...
    @property
    def fencing_token(self) -> int: ...
    async def wait_leader(self) -> None: ...
    async def wait_lost(self) -> None:
        """Return once leadership, held now, is lost."""
        ...

    async def close(self) -> None:
        """Give up leadership at once (SIGTERM), so a successor need not wait for expiry."""
        ...


class Notifier(Protocol):
    """Delivers an announcement of a finished job (CONTRACT §7) once; kjs retries it."""

    async def deliver(self, url: str, event_id: str, body: bytes) -> Any:
        """Try once; returns a DeliveryResult."""
        ...

    async def close(self) -> None: ...
