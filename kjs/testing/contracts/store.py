"""The store contract (`kjs.core.protocols.Store`): what every store backend must do.

Needs a fixture `store`: a migrated, empty store of your backend, for each test (a new one, or
the same one emptied), closed by your fixture afterwards. The tests call it from several threads
at once, as kjs does (the methods run in a thread pool). Then::

    from kjs.testing.contracts.store import *  # noqa: F403

`make_job`, `routed`, `scoped` and `NOW` are public too, for tests of your own. A store that does
not offer the optional `LogStore` or `LeaseStore` protocols has those tests skipped, saying so.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import msgspec
import pytest

from kjs.core.errors import Gone
from kjs.core.messages import WEBHOOK_TOPIC, ResourceAmounts
from kjs.core.models import CronSpec, JobSpec, Resources
from kjs.core.protocols import (
    Idempotency,
    IdempotencyConflict,
    JobChange,
    JobUpdate,
    LeaseStore,
    LogStore,
    PendingReason,
    QueueInUse,
    Store,
)
from kjs.core.quantity import MAX_AMOUNT, MAX_TOTAL
from kjs.core.queues import ClusterLimits, QueueDefinition, QueueLimits, QueueRecord
from kjs.core.records import ClusterRecord, ClusterResources, CronRecord, EventRecord, JobRecord
from kjs.core.requests import Requests
from kjs.core.routing import placement_key_of
from kjs.core.states import JobState

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def log_store(store: Store) -> LogStore:
    """The store as a `LogStore`, if it offers one (the `db` log sink needs it)."""
    if not isinstance(store, LogStore):
        pytest.skip(f"{type(store).__name__} offers no LogStore (optional)")
    return store


@pytest.fixture
def lease_store(store: Store) -> LeaseStore:
    """The store as a `LeaseStore`, if it offers one (the `db` election needs it)."""
    if not isinstance(store, LeaseStore):
        pytest.skip(f"{type(store).__name__} offers no LeaseStore (optional)")
    return store


def with_feed(store: Store) -> Store:
    """The store, if it offers `pending_since` (optional: placement reads pages without it)."""
    if not callable(getattr(store, "pending_since", None)):
        pytest.skip(f"{type(store).__name__} offers no pending_since (optional)")
    return store


def make_job(n: int = 0, **changes: object) -> JobRecord:
    spec = msgspec.convert(
        {"name": f"job-{n}", "namespace": "ops", "image": "alpine", "labels": {"team": "data"}},
        JobSpec,
    )
    job_id = str(uuid.uuid4())
    job = JobRecord(
        id=job_id,
        spec=spec,
        k8s_name=f"job-{n}-{job_id[:8]}",
        created_at=NOW + dt.timedelta(seconds=n),
        updated_at=NOW + dt.timedelta(seconds=n),
    )
    return msgspec.structs.replace(job, **changes)


def test_jobs_are_read_many_at_once_in_the_order_asked(store: Store) -> None:
    a, b = store.create_job(make_job(1)), store.create_job(make_job(2))
    found = store.get_jobs([b.id, "no-such-job", a.id, b.id])
    assert [j.id if j else None for j in found] == [b.id, None, a.id, b.id]
    assert found[0] == store.get_job(b.id)
    assert store.get_jobs([]) == []


def test_a_job_round_trips_with_every_field(store: Store) -> None:
    job = make_job(
        state=JobState.RUNNING,
        attempt=2,
        cluster_id="c1",
        run_at=NOW,
        dispatched_at=NOW,
        started_at=NOW,
        exit_codes={"pod-a": {"main": 3}},
        reason="R",
        message="m",
        cron_id=str(uuid.uuid4()),
        idempotency_key="k-1",
        priority=-42,
    )
    store.create_job(job)
    assert store.get_job(job.id) == job
    assert store.get_job(str(uuid.uuid4())) is None


def scoped(scope: str, request: str = "1") -> Idempotency:
    return Idempotency(scope=scope * 64, request=request * 64)


def test_an_idempotency_scope_returns_the_first_job_and_writes_nothing_more(
    store: Store,
) -> None:
    key = scoped("a")
    first = store.create_job(
        make_job(1, idempotency_key="same"), [("kjs.dispatch.c1", b"one")], key
    )
    again = store.create_job(
        make_job(2, idempotency_key="same"), [("kjs.dispatch.c1", b"two")], key
    )
    assert again == first
    assert [o.body for o in store.outbox_due(NOW + dt.timedelta(days=1), 10)] == [b"one"]
    assert store.get_job_by_idempotency(key.scope) == (first, key.request)
    assert store.get_job_by_idempotency(scoped("b").scope) is None


def test_the_same_key_in_another_scope_is_another_job(store: Store) -> None:
    # The key as the client sent it is no longer unique: only its scope (principal,
    # namespace, key) is.
    team_a = store.create_job(make_job(1, idempotency_key="same"), (), scoped("a"))
    team_b = store.create_job(make_job(2, idempotency_key="same"), (), scoped("b", "2"))
    assert team_a.id != team_b.id
    assert store.get_job_by_idempotency(scoped("a").scope) == (team_a, "1" * 64)
    assert store.get_job_by_idempotency(scoped("b").scope) == (team_b, "2" * 64)
    # Jobs without a key, or with a key but no scope (cron runs, older jobs), never collide.
    store.create_job(make_job(3))
    store.create_job(make_job(4))
    store.create_job(make_job(5, idempotency_key="same"))
    assert len(store.list_jobs(limit=10)[0]) == 5


def test_a_batch_round_trips_in_order(store: Store) -> None:
    assert store.create_jobs([]) == []
    jobs = [make_job(n, idempotency_key=f"k{n}" if n % 2 else None) for n in range(6)]
    batch = [(job, scoped(str(n)) if n % 2 else None) for n, job in enumerate(jobs)]
    assert store.create_jobs(batch) == jobs
    for n, job in enumerate(jobs):
        assert store.get_job(job.id) == job
        assert [(e.state, e.reason, e.at) for e in store.job_events(job.id)] == [
            ("pending", "Accepted", job.created_at)
        ]
        if n % 2:
            assert store.get_job_by_idempotency(scoped(str(n)).scope) == (job, "1" * 64)
    page, _ = store.list_jobs(limit=10, labels={"team": "data"})
    assert [j.id for j in page] == [j.id for j in reversed(jobs)]
    assert [j.id for j in store.due_jobs(NOW + dt.timedelta(minutes=1), 10)] == [j.id for j in jobs]


def test_a_batch_returns_the_job_of_a_used_scope_and_stores_nothing_more(store: Store) -> None:
    first = store.create_job(make_job(1, idempotency_key="same"), (), scoped("a"))
    again, new, twice, retried = make_job(2), make_job(3), make_job(4), make_job(5)
    stored = store.create_jobs(
        [
            (again, scoped("a")),  # stored before: its job
            (new, scoped("b")),
            (twice, scoped("b")),  # earlier in the batch, the same request: that job
            (first, None),  # a job stored already (a retried create): itself
            (retried, None),
        ]
    )
    assert stored == [first, new, new, first, retried]
    assert store.get_job(again.id) is None and store.get_job(twice.id) is None
    assert len(store.list_jobs(limit=10)[0]) == 3
    assert [e.reason for e in store.job_events(first.id)] == ["Accepted"]
    assert store.get_job_by_idempotency(scoped("a").scope) == (first, "1" * 64)
    assert store.get_job_by_idempotency(scoped("b").scope) == (new, "1" * 64)


def test_a_batch_reusing_a_scope_for_another_request_stores_nothing(store: Store) -> None:
    first = store.create_job(make_job(1), (), scoped("a"))
    with pytest.raises(IdempotencyConflict) as before:
        store.create_jobs([(make_job(2), None), (make_job(3), scoped("a", "2"))])
    assert (before.value.index, before.value.job_id) == (1, first.id)
    earlier = make_job(4)
    with pytest.raises(IdempotencyConflict) as inside:
        store.create_jobs([(earlier, scoped("b")), (make_job(5), scoped("b", "2"))])
    assert (inside.value.index, inside.value.job_id) == (1, earlier.id)
    assert store.list_jobs(limit=10)[0] == [first]
    assert store.get_job_by_idempotency(scoped("b").scope) is None


def test_concurrent_batches_never_store_one_scope_twice(store: Store) -> None:
    scopes = [Idempotency(scope=f"{n:064d}", request="1" * 64) for n in range(20)]
    results: dict[int, list[JobRecord]] = {}

    def submit(thread: int) -> None:
        batch: list[tuple[JobRecord, Idempotency | None]]
        batch = [(make_job(n), scope) for n, scope in enumerate(scopes)]
        batch += [(make_job(100 + thread * 10 + n), None) for n in range(5)]
        results[thread] = store.create_jobs(list(reversed(batch)) if thread % 2 else batch)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    winners = {}
    for scope in scopes:
        found = store.get_job_by_idempotency(scope.scope)
        assert found is not None
        winners[scope.scope] = found[0].id
    for n, stored in results.items():
        mine = list(reversed(stored)) if n % 2 else stored
        assert [j.id for j in mine[:20]] == [winners[s.scope] for s in scopes]
    assert len(store.list_jobs(limit=100)[0]) == 20 + 4 * 5


def test_outbox_messages_are_written_with_the_job(store: Store) -> None:
    job = store.create_job(make_job(), [("kjs.dispatch.c1", b"dispatch"), ("kjs.other", b"x")])
    due = store.outbox_due(NOW, 10)
    assert [(o.topic, o.body, o.job_id) for o in due] == [
        ("kjs.dispatch.c1", b"dispatch", job.id),
        ("kjs.other", b"x", None),
    ]
    # A dispatch is kept (to re-publish) until acknowledged; other messages go once sent.
    store.outbox_sent(due[0].id, retry_at=NOW + dt.timedelta(seconds=30))
    store.outbox_sent(due[1].id, retry_at=None)
    assert store.outbox_due(NOW + dt.timedelta(seconds=29), 10) == []
    (retry,) = store.outbox_due(NOW + dt.timedelta(seconds=30), 10)
    assert retry.attempts == 1
    # When its published copy expires, the sweeper may move it: the store says when that is.
    assert store.outbox_available_at(job.id) == NOW + dt.timedelta(seconds=30)
    store.outbox_ack(job.id)
    assert store.outbox_due(NOW + dt.timedelta(days=1), 10) == []
    assert store.outbox_available_at(job.id) is None


def test_listing_is_newest_first_in_pages_with_nothing_missed(store: Store) -> None:
    jobs = [store.create_job(make_job(n)) for n in range(25)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = store.list_jobs(limit=10, cursor=cursor)
        seen += [j.id for j in page]
        if cursor is None:
            break
    assert seen == [j.id for j in reversed(jobs)]


def test_listing_filters(store: Store) -> None:
    cron_id = str(uuid.uuid4())
    a = store.create_job(make_job(1, state=JobState.RUNNING, cluster_id="c1"))
    b = store.create_job(make_job(2, cron_id=cron_id, cluster_id="c2"))
    c = store.create_job(make_job(3))
    store.update_job(
        c.id,
        lambda j: msgspec.structs.replace(
            j, spec=msgspec.structs.replace(j.spec, labels={"team": "web"})
        ),
    )

    def ids(**filters: object) -> list[str]:
        return [j.id for j in store.list_jobs(limit=50, **filters)[0]]  # type: ignore[arg-type]

    assert ids(state="running") == [a.id]
    assert ids(cluster_id="c2") == [b.id]
    assert ids(name="job-3") == [c.id]
    assert ids(cron_id=cron_id) == [b.id]
    assert ids(labels={"team": "data"}) == [b.id, a.id]
    assert ids(labels={"team": "web"}) == [c.id]
    assert ids(created_after=NOW + dt.timedelta(seconds=2)) == [c.id, b.id]
    assert ids(created_before=NOW + dt.timedelta(seconds=2)) == [a.id]
    with pytest.raises(ValueError, match="cursor"):
        store.list_jobs(limit=5, cursor="garbage")


def _named(n: int, name: str, namespace: str = "ops", **changes: object) -> JobRecord:
    job = make_job(n, **changes)
    return msgspec.structs.replace(
        job, spec=msgspec.structs.replace(job.spec, name=name, namespace=namespace)
    )


def test_listing_by_namespace_and_name_prefix(store: Store) -> None:
    web = store.create_job(_named(1, "web-a"))
    web2 = store.create_job(_named(2, "web-b", namespace="dev"))
    store.create_job(_named(3, "webz"))  # starts with `web`, not with `web-`
    store.create_job(_named(4, "api"))
    store.create_job(_named(5, "wec"))  # the name right after every `web…` one

    def ids(**filters: object) -> list[str]:
        return [j.id for j in store.list_jobs(limit=50, **filters)[0]]  # type: ignore[arg-type]

    assert ids(namespace="dev") == [web2.id]
    assert ids(name_prefix="web-") == [web2.id, web.id]
    assert ids(name_prefix="web-", namespace="ops") == [web.id]
    assert ids(name_prefix="web-", namespaces=["dev"]) == [web2.id]
    assert ids(name_prefix="z") == ids(name_prefix="nothing") == ids(namespace="nobody") == []
    assert len(ids(name_prefix="we")) == 4


def _walk(store: Store, sort: str, limit: int = 2, **filters: object) -> list[str]:
    """Every job's name, page after page, in `sort` order."""
    names: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list_jobs(limit=limit, cursor=cursor, sort=sort, **filters)
        names += [j.spec.name for j in page]
        if cursor is None:
            return names


def test_listing_in_each_sort_pages_through_every_job_once(store: Store) -> None:
    # Names in another order than creation; two jobs share a name and two an update time.
    names = ["m", "c", "x", "c", "a"]
    for n, name in enumerate(names):
        updated = NOW + dt.timedelta(seconds=10 - n if n != 4 else 7)
        store.create_job(_named(n, name, updated_at=updated))
    assert _walk(store, "-created_at") == ["a", "c", "x", "c", "m"]
    assert _walk(store, "created_at") == names
    assert _walk(store, "name") == ["a", "c", "c", "m", "x"]
    assert _walk(store, "-name") == ["x", "m", "c", "c", "a"]
    # updated: m 10, c 9, x 8, c 7, a 7 (a tie: broken by id, each job still once)
    by_update = _walk(store, "-updated_at", limit=1)
    assert by_update[:3] == ["m", "c", "x"] and sorted(by_update[3:]) == ["a", "c"]
    assert _walk(store, "updated_at", limit=1) == list(reversed(by_update))
    assert _walk(store, "name", name_prefix="c") == ["c", "c"]
    assert [j.spec.name for j in store.list_jobs(limit=10, sort="-name")[0]] == _walk(
        store, "-name"
    )


def test_an_attempt_s_manifest_is_stored_with_its_dispatch_and_removed_with_its_job(
    store: Store,
) -> None:
    old_at = NOW - dt.timedelta(days=40)
    job = store.create_job(make_job(1, created_at=old_at, updated_at=old_at))
    assert store.job_manifest(job.id, 1) is None

    def dispatched(j: JobRecord) -> JobRecord:
        return msgspec.structs.replace(j, state=JobState.DISPATCHED, cluster_id="c1")

    manifest = b'{"kind":"Job","metadata":{"name":"job-1"}}'
    store.update_jobs([JobUpdate(job.id, dispatched, manifest=manifest)])
    assert store.job_manifest(job.id, 1) == manifest
    assert store.job_manifest(job.id, 2) is None
    # No change written (the job moved on meanwhile): no manifest either.
    store.update_jobs([JobUpdate(job.id, lambda j: None, manifest=b"{}")])
    assert store.job_manifest(job.id, 1) == manifest

    def finished(j: JobRecord) -> JobRecord:
        return msgspec.structs.replace(
            j, state=JobState.SUCCEEDED, finished_at=old_at, updated_at=old_at
        )

    store.update_jobs([JobUpdate(job.id, finished)])
    assert store.delete_older_than(NOW - dt.timedelta(days=30))["jobs"] == 1
    assert store.job_manifest(job.id, 1) is None


def test_a_cursor_continues_only_the_sort_it_was_made_for(store: Store) -> None:
    for n in range(3):
        store.create_job(make_job(n))
    _, cursor = store.list_jobs(limit=1, sort="name")
    assert cursor is not None
    with pytest.raises(ValueError, match=r"cursor.*sort=name"):
        store.list_jobs(limit=1, cursor=cursor, sort="-created_at")
    with pytest.raises(ValueError, match="sort"):
        store.list_jobs(limit=1, sort="size")


def test_update_writes_state_event_and_outbox_together(store: Store) -> None:
    job = store.create_job(make_job())
    later = NOW + dt.timedelta(minutes=1)
    result = store.update_job(
        job.id,
        lambda j: msgspec.structs.replace(
            j, state=JobState.DISPATCHED, cluster_id="c1", updated_at=later
        ),
        outbox=lambda j: [(f"kjs.dispatch.{j.cluster_id}", b"go")],
        event=lambda j: EventRecord(
            job_id=j.id, attempt=j.attempt, state=j.state, at=later, cluster_id=j.cluster_id
        ),
    )
    assert result is not None
    before, after = result
    assert before.state == JobState.PENDING and after.state == JobState.DISPATCHED
    assert store.get_job(job.id) == after
    assert [e.state for e in store.job_events(job.id)] == ["pending", "dispatched"]
    assert [o.topic for o in store.outbox_due(later, 10)] == ["kjs.dispatch.c1"]
    assert store.update_job(job.id, lambda j: None) is None  # no change, nothing written
    assert store.update_job(str(uuid.uuid4()), lambda j: j) is None


def test_updates_of_many_jobs_go_in_order_in_one_transaction(store: Store) -> None:
    a, b = store.create_job(make_job(1)), store.create_job(make_job(2))
    a_dispatch = [("kjs.dispatch.c1", b"a")]
    store.update_job(a.id, lambda j: j, outbox=lambda j: a_dispatch)
    later = NOW + dt.timedelta(minutes=1)

    def bump(j: JobRecord) -> JobRecord:
        return msgspec.structs.replace(j, attempt=j.attempt + 1, updated_at=later)

    results = store.update_jobs(
        [
            JobUpdate(a.id, bump, acknowledge=lambda j: j.attempt == 2),
            JobUpdate(str(uuid.uuid4()), bump),  # no such job
            JobUpdate(a.id, bump),  # sees the first update's result
            JobUpdate(b.id, lambda j: None, acknowledge=lambda j: True),  # no change
            JobUpdate(
                b.id,
                bump,
                event=lambda j: EventRecord(
                    job_id=j.id, attempt=j.attempt, state=j.state, at=later
                ),
            ),
        ]
    )
    assert [r and (r[0].attempt, r[1].attempt) for r in results] == [
        (1, 2),
        None,
        (2, 3),
        None,
        (1, 2),
    ]
    assert store.get_job(a.id).attempt == 3  # type: ignore[union-attr]
    assert [e.attempt for e in store.job_events(b.id)] == [1, 2]
    assert store.outbox_available_at(a.id) is None  # acknowledged with the first update

    def fails(j: JobRecord) -> JobRecord:
        raise RuntimeError("this change cannot be made")

    with pytest.raises(RuntimeError):
        store.update_jobs([JobUpdate(b.id, bump), JobUpdate(a.id, fails)])
    assert store.get_job(b.id).attempt == 2  # type: ignore[union-attr]  # nothing of the lot


def test_updates_of_the_same_jobs_in_other_orders_all_go_through(store: Store) -> None:
    """Writers that update the same jobs in opposite orders at once (replicas consuming news
    of the same jobs, placement) never fail each other: no deadlock escapes the store."""
    jobs = [store.create_job(make_job(n)) for n in range(6)]

    def bump(j: JobRecord) -> JobRecord:
        return msgspec.structs.replace(j, attempt=j.attempt + 1)

    errors: list[BaseException] = []

    def writer(reverse: bool) -> None:
        order = list(reversed(jobs)) if reverse else jobs
        try:
            for _ in range(20):
                store.update_jobs([JobUpdate(j.id, bump) for j in order])
        except BaseException as e:  # reported below, with the test's own assertion
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i % 2 == 1,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {store.get_job(j.id).attempt for j in jobs} == {1 + 4 * 20}  # type: ignore[union-attr]


def test_jobs_are_counted_by_cluster_and_state(store: Store) -> None:
    for n, (state, cluster) in enumerate(
        [
            (JobState.RUNNING, "c1"),
            (JobState.RUNNING, "c1"),
            (JobState.CREATED, "c1"),
            (JobState.DISPATCHED, "c2"),
            (JobState.SUCCEEDED, "c2"),
            (JobState.PENDING, None),
        ]
    ):
        store.create_job(make_job(n, state=state, cluster_id=cluster))
    counts = store.count_jobs_by_cluster_and_state(
        [JobState.RUNNING, JobState.CREATED, JobState.DISPATCHED]
    )
    assert counts == {
        "c1": {JobState.RUNNING: 2, JobState.CREATED: 1},
        "c2": {JobState.DISPATCHED: 1},
    }
    assert store.count_jobs_by_cluster_and_state([]) == {}


def test_jobs_are_counted_by_state_and_cluster_placed_or_not(store: Store) -> None:
    for n, (state, cluster) in enumerate(
        [
            (JobState.PENDING, None),
            (JobState.PENDING, None),
            (JobState.RUNNING, "c1"),
            (JobState.SUCCEEDED, "c1"),
            (JobState.SUCCEEDED, "c1"),
            (JobState.SUCCEEDED, "c2"),
            (JobState.CANCELLED, None),  # cancelled before it was placed
        ]
    ):
        store.create_job(make_job(n, state=state, cluster_id=cluster))
    assert store.count_jobs_by_state(list(JobState)) == {
        (JobState.PENDING, None): 2,
        (JobState.RUNNING, "c1"): 1,
        (JobState.SUCCEEDED, "c1"): 2,
        (JobState.SUCCEEDED, "c2"): 1,
        (JobState.CANCELLED, None): 1,
    }
    assert store.count_jobs_by_state([JobState.SUCCEEDED, JobState.FAILED]) == {
        (JobState.SUCCEEDED, "c1"): 2,
        (JobState.SUCCEEDED, "c2"): 1,
    }
    assert store.count_jobs_by_state([]) == {}


def test_the_outbox_depth_counts_messages_and_webhooks_due_and_waiting(store: Store) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # all that is added now is due
    assert store.outbox_depth(at) == (0, 0, 0, 0)
    job = store.create_job(make_job(), [("kjs.dispatch.c1", b"d"), ("kjs.x", b"1")])
    store.add_outbox([(WEBHOOK_TOPIC, b"w1"), (WEBHOOK_TOPIC, b"w2"), (WEBHOOK_TOPIC, b"w3")])
    depth = store.outbox_depth(at)
    assert (depth.messages_due, depth.messages_waiting) == (2, 0)
    assert (depth.webhooks_due, depth.webhooks_waiting) == (3, 0)
    # A dispatch published waits for its acknowledgement; a webhook that failed for its retry.
    dispatch, _ = store.outbox_due(at, 10)
    store.outbox_sent(dispatch.id, retry_at=at + dt.timedelta(seconds=30))
    webhook, *_ = store.outbox_due(at, 10, webhooks=True)
    store.outbox_sent(webhook.id, retry_at=at + dt.timedelta(seconds=5))
    assert store.outbox_depth(at) == (1, 1, 2, 1)
    assert store.outbox_depth(at + dt.timedelta(seconds=10)) == (1, 1, 3, 0)
    store.outbox_ack(job.id)
    assert store.outbox_depth(at) == (1, 0, 2, 1)


def test_many_sent_outbox_items_are_written_down_together(store: Store) -> None:
    job = store.create_job(
        make_job(), [("kjs.dispatch.c1", b"d"), ("kjs.x", b"1"), ("kjs.y", b"2")]
    )
    dispatch, one, two = store.outbox_due(NOW, 10)
    store.outbox_sent_many(
        [(dispatch.id, NOW + dt.timedelta(seconds=30)), (one.id, None), (two.id, None)]
    )
    assert store.outbox_due(NOW + dt.timedelta(seconds=29), 10) == []
    (again,) = store.outbox_due(NOW + dt.timedelta(seconds=30), 10)
    assert (again.id, again.attempts, again.job_id) == (dispatch.id, 1, job.id)
    store.outbox_sent_many([])  # nothing to write


def test_concurrent_updates_of_one_job_are_serialised(store: Store) -> None:
    job = store.create_job(make_job())

    def bump(_: int) -> None:
        for _ in range(25):
            store.update_job(job.id, lambda j: msgspec.structs.replace(j, attempt=j.attempt + 1))

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.get_job(job.id)
    assert final is not None and final.attempt == 1 + 4 * 25


def test_due_jobs_and_the_next_run_at(store: Store) -> None:
    now_job = store.create_job(make_job(1))
    later = store.create_job(make_job(2, run_at=NOW + dt.timedelta(hours=1)))
    store.create_job(make_job(3, state=JobState.RUNNING))
    assert [j.id for j in store.due_jobs(NOW, 10)] == [now_job.id]
    assert [j.id for j in store.due_jobs(NOW + dt.timedelta(hours=1), 10)] == [now_job.id, later.id]
    assert store.next_run_at() == NOW + dt.timedelta(hours=1)


def routed(n: int, cluster: str | list[str] | None = None, **changes: object) -> JobRecord:
    """make_job(n), routed: `cluster`, and `selector` for its cluster_selector."""
    job = make_job(n, **{k: v for k, v in changes.items() if k != "selector"})
    selector = changes.get("selector", {})
    spec = msgspec.structs.replace(job.spec, cluster=cluster, cluster_selector=selector)
    return msgspec.structs.replace(job, spec=spec)


def test_due_jobs_are_grouped_by_placement_key_the_oldest_key_first(store: Store) -> None:
    store.create_job(routed(0, "c1", state=JobState.RUNNING))  # not pending: not due
    a = store.create_job(routed(1, "c1"))
    zone = store.create_job(routed(2, selector={"zone": "a"}))
    anywhere = store.create_job(routed(3))
    b = store.create_job(routed(4, "c1"))
    both = store.create_job(routed(5, ["c2", "c1"], selector={"zone": "a", "gpu": "yes"}))
    later = store.create_job(routed(6, "c1", run_at=NOW + dt.timedelta(hours=1)))
    long = store.create_job(routed(7, selector={f"k{i}": "v" * 60 for i in range(10)}))
    c1 = placement_key_of(a.spec)
    # queue|namespace|priority|route: one canonical string per route (the selector's keys
    # sorted), "" for any cluster, and no key (None) when the route is longer than the column.
    assert (
        placement_key_of(both.spec)
        == 'default|ops|0|{"c":["c2","c1"],"s":{"gpu":"yes","zone":"a"}}'
    )
    assert c1 == 'default|ops|0|{"c":"c1"}' and placement_key_of(anywhere.spec) == "default|ops|0|"
    assert placement_key_of(long.spec) is None
    assert store.due_placement_keys(NOW) == [
        (c1, 2),
        ('default|ops|0|{"s":{"zone":"a"}}', 1),
        ("default|ops|0|", 1),
        (placement_key_of(both.spec), 1),
        (None, 1),
    ]
    assert [j.id for j in store.due_jobs(NOW, 10, placement_key=c1)] == [a.id, b.id]
    assert [j.id for j in store.due_jobs(NOW, 1, placement_key=c1)] == [a.id]
    assert [j.id for j in store.due_jobs(NOW, 10, placement_key="default|ops|0|")] == [anywhere.id]
    assert [j.id for j in store.due_jobs(NOW, 10, placement_key=None)] == [long.id]
    assert store.due_jobs(NOW, 10, placement_key='default|ops|0|{"c":"nowhere"}') == []
    # Without a key: every due job, as before.
    assert [j.id for j in store.due_jobs(NOW, 10)] == [
        j.id for j in (a, zone, anywhere, b, both, long)
    ]
    hour = NOW + dt.timedelta(hours=1)
    assert store.due_placement_keys(hour)[0] == (c1, 3)
    assert [j.id for j in store.due_jobs(hour, 10, placement_key=c1)] == [a.id, b.id, later.id]


def test_an_edit_or_a_state_change_keeps_the_placement_key_right(store: Store) -> None:
    P = "default|ops|0|"  # the keys' common prefix: queue|namespace|priority|
    a = store.create_job(routed(1, "c1"))
    b = store.create_job(routed(2, "c1"))
    store.update_job(  # rerouted
        b.id,
        lambda j: msgspec.structs.replace(j, spec=msgspec.structs.replace(j.spec, cluster="c2")),
    )
    assert store.due_placement_keys(NOW) == [(P + '{"c":"c1"}', 1), (P + '{"c":"c2"}', 1)]
    store.update_job(a.id, lambda j: msgspec.structs.replace(j, state=JobState.DISPATCHED))
    assert store.due_placement_keys(NOW) == [(P + '{"c":"c2"}', 1)]
    assert [j.id for j in store.due_jobs(NOW, 10, placement_key=P + '{"c":"c2"}')] == [b.id]
    assert store.due_jobs(NOW, 10, placement_key=P + '{"c":"c1"}') == []


def asking(
    n: int, cpu: str | None, memory: str | None, pods: int | None, **changes: object
) -> JobRecord:
    """make_job(n) whose pod requests `cpu` and `memory` (None: not named), `pods` at once."""
    job = make_job(n, **changes)
    resources = msgspec.convert({"requests": {"cpu": cpu, "memory": memory}}, Resources)
    spec = msgspec.structs.replace(job.spec, resources=resources, parallelism=pods)
    return msgspec.structs.replace(job, spec=spec)


def _in(queue: str, job: JobRecord) -> JobRecord:
    return msgspec.structs.replace(job, spec=msgspec.structs.replace(job.spec, queue=queue))


def test_queue_usage_sums_each_queues_requests_per_cluster_and_state(store: Store) -> None:
    """A job's total request is its pod's (the default's, 100m and 128Mi, for what it does not
    name) times parallelism; usage counts the unfinished jobs and the lost ones, not the final."""
    mi = 1024 * 1024
    store.create_job(_in("a", asking(1, "500m", "1Gi", 4)))  # pending: 2 CPU, 4Gi
    store.create_job(_in("a", asking(2, "2", None, None, state=JobState.RUNNING, cluster_id="c1")))
    store.create_job(_in("a", asking(3, None, "256Mi", 2, state=JobState.LOST, cluster_id="c1")))
    store.create_job(_in("a", asking(4, "1", "1Gi", 1, state=JobState.SUCCEEDED, cluster_id="c1")))
    store.create_job(_in("b", asking(5, "1", "1Gi", 1, state=JobState.DISPATCHED, cluster_id="c2")))
    store.create_job(asking(6, None, None, None, state=JobState.CREATED, cluster_id="c1"))
    found = sorted(store.queue_usage(), key=lambda u: (u.queue, u.cluster_id or "", u.state.value))
    assert [
        (u.queue, u.cluster_id, u.state, u.jobs, u.cpu_millis, u.memory_bytes) for u in found
    ] == [
        ("a", None, JobState.PENDING, 1, 2000, 4096 * mi),
        ("a", "c1", JobState.LOST, 1, 200, 512 * mi),
        ("a", "c1", JobState.RUNNING, 1, 2000, 128 * mi),
        ("b", "c2", JobState.DISPATCHED, 1, 1000, 1024 * mi),
        ("default", "c1", JobState.CREATED, 1, 100, 128 * mi),
    ]
    placed = store.queue_usage([JobState.DISPATCHED, JobState.CREATED])
    assert sorted((u.queue, u.state) for u in placed) == [
        ("b", JobState.DISPATCHED),
        ("default", JobState.CREATED),
    ]


def test_a_jobs_request_follows_its_spec_when_it_is_edited(store: Store) -> None:
    job = store.create_job(asking(1, "1", "1Gi", 1))
    store.update_job(
        job.id,
        lambda j: msgspec.structs.replace(j, spec=msgspec.structs.replace(j.spec, parallelism=3)),
    )
    (usage,) = store.queue_usage()
    assert (usage.jobs, usage.cpu_millis, usage.memory_bytes) == (1, 3000, 3 * 1024**3)
    store.create_jobs([(asking(2, "250m", "64Mi", 2), None)])  # a batch computes them too
    assert sum(u.cpu_millis for u in store.queue_usage()) == 3500


def test_sums_of_the_largest_jobs_do_not_overflow(store: Store) -> None:
    """A pod of the largest amounts kjs accepts, times the most pods: the job's figure is
    clamped to MAX_TOTAL, and three of them (past int64 as plain sums) still add up."""
    most_cpu, most_memory = f"{MAX_AMOUNT}m", "1Pi"
    for n, state in ((1, JobState.PENDING), (2, JobState.RUNNING), (3, JobState.RUNNING)):
        placed = {"cluster_id": "c1"} if state != JobState.PENDING else {}
        store.create_job(asking(n, most_cpu, most_memory, 2**31 - 1, state=state, **placed))
    usage = store.queue_usage()
    assert sum(u.cpu_millis for u in usage) == sum(u.memory_bytes for u in usage) == 3 * MAX_TOTAL
    placed_usage = store.namespace_usage(["ops", make_job(1).spec.namespace])
    assert placed_usage[make_job(1).spec.namespace] == (2, 2 * MAX_TOTAL, 2 * MAX_TOTAL)


def test_a_state_change_keeps_the_request_figure_of_when_the_spec_was_written(
    store: Store,
) -> None:
    """The figure is computed at submit and edit with that replica's default_requests; another
    replica's defaults do not flip it on every state change."""
    job = store.create_job(asking(1, None, None, None))  # the defaults: 100m, 128Mi
    if not hasattr(store, "default_requests"):
        pytest.skip("this store has no default_requests to change")
    mine = store.default_requests
    setattr(store, "default_requests", Requests(5000, 5 << 30))  # another replica's  # noqa: B010
    try:
        store.update_job(job.id, lambda j: msgspec.structs.replace(j, state=JobState.DISPATCHED))
        (usage,) = store.queue_usage()
        assert (usage.cpu_millis, usage.memory_bytes) == (100, 128 << 20)
        edited = msgspec.structs.replace(job.spec, parallelism=2)  # an edit: computed anew
        store.update_job(job.id, lambda j: msgspec.structs.replace(j, spec=edited))
        (usage,) = store.queue_usage()
        assert (usage.cpu_millis, usage.memory_bytes) == (10_000, 10 << 30)
    finally:
        setattr(store, "default_requests", mine)  # noqa: B010


def test_namespace_usage_counts_the_placed_jobs_of_the_namespaces_asked(store: Store) -> None:
    store.create_job(asking(1, "1", "1Gi", 2, state=JobState.RUNNING, cluster_id="c1"))
    store.create_job(asking(2, "500m", None, None, state=JobState.LOST, cluster_id="c1"))
    store.create_job(asking(3, "8", "8Gi", 1))  # pending: placed nowhere, holds nothing
    store.create_job(asking(4, "8", "8Gi", 1, state=JobState.FAILED, cluster_id="c1"))
    other = make_job(5, state=JobState.RUNNING, cluster_id="c1")
    store.create_job(
        msgspec.structs.replace(other, spec=msgspec.structs.replace(other.spec, namespace="web"))
    )
    assert store.namespace_usage(["ops", "none"]) == {"ops": (2, 2500, 2 * 1024**3 + (128 << 20))}
    assert store.namespace_usage([]) == {}


def test_a_pending_reason_is_set_on_the_due_jobs_of_one_key(store: Store) -> None:
    a = store.create_job(routed(1, "c1"))
    b = store.create_job(routed(2, "c1"))
    later = store.create_job(routed(3, "c1", run_at=NOW + dt.timedelta(hours=1)))
    other = store.create_job(routed(4, "c2"))
    key = placement_key_of(a.spec)
    assert key is not None
    position = store.watch_position()
    assert store.set_pending_reason(key, "NoCapacity", "c1 is full", NOW) == 2
    found = {j: store.get_job(j) for j in (a.id, b.id, later.id, other.id)}
    assert [(j.reason, j.message) for j in found.values() if j is not None] == [
        ("NoCapacity", "c1 is full"),
        ("NoCapacity", "c1 is full"),
        (None, None),  # not due yet
        (None, None),  # another key
    ]
    assert store.set_pending_reason(key, "NoCapacity", "c1 is full", NOW) == 0  # said already
    # Only those created after a moment (the newcomers since the last write).
    newer = store.create_job(routed(9, "c1"))
    after = NOW + dt.timedelta(seconds=5)
    assert (
        store.set_pending_reason(key, "Cordoned", "c1", NOW + dt.timedelta(1), created_after=after)
        == 1
    )
    assert store.get_job(newer.id).reason == "Cordoned"  # type: ignore[union-attr]
    assert store.get_job(a.id).reason == "NoCapacity"  # type: ignore[union-attr]
    # Not a change a watch reports.
    assert store.job_changes(position, limit=10)[0] == [
        c for c in store.job_changes(position, limit=10)[0] if c.job.id == newer.id
    ]


def test_pending_reasons_are_written_together_and_a_short_newcomers_range_widens(
    store: Store,
) -> None:
    a, b = store.create_job(routed(1, "c1")), store.create_job(routed(2, "c2"))
    key_a, key_b = placement_key_of(a.spec), placement_key_of(b.spec)
    assert key_a is not None and key_b is not None
    store.set_pending_reasons(
        NOW, [PendingReason(key_a, "NoCapacity", "c1 is full"), PendingReason(key_b, "X", "y")]
    )
    assert store.get_job(a.id).reason == "NoCapacity"  # type: ignore[union-attr]
    assert store.get_job(b.id).reason == "X"  # type: ignore[union-attr]
    # Newcomers after a moment: one expected, none created since (the job joined the key with
    # an older created_at): the whole key is written.
    after = NOW + dt.timedelta(hours=1)
    store.set_pending_reasons(NOW, [PendingReason(key_a, "Cordoned", "c1", after, at_least=1)])
    assert store.get_job(a.id).reason == "Cordoned"  # type: ignore[union-attr]
    # Expected as many as changed: the range alone.
    store.set_pending_reasons(NOW, [PendingReason(key_b, "Z", "z", after, at_least=0)])
    assert store.get_job(b.id).reason == "X"  # type: ignore[union-attr]
    store.set_pending_reasons(NOW, [])


def test_clusters_keep_their_cordon_across_heartbeats(store: Store) -> None:
    heartbeat = ClusterRecord(
        id="c1", labels={"zone": "a"}, capacity=10, running=2, last_heartbeat=NOW
    )
    store.upsert_cluster(heartbeat)
    assert store.get_cluster("c1") == heartbeat
    assert store.set_cordoned("c1", True) is not None
    store.upsert_cluster(msgspec.structs.replace(heartbeat, running=5))
    cluster = store.get_cluster("c1")
    assert cluster is not None and cluster.cordoned and cluster.running == 5
    assert [c.id for c in store.list_clusters()] == ["c1"]
    assert store.set_cordoned("nope", True) is None


def test_clusters_keep_the_resources_of_their_last_heartbeat(store: Store) -> None:
    """Memory in bytes goes beyond 32 bits; a heartbeat without resources clears them."""
    figures = ResourceAmounts(cpu_millis=96_000, memory_bytes=768 << 30, pods=330)
    resources = ClusterResources(
        allocatable=figures,
        free=ResourceAmounts(cpu_millis=500, memory_bytes=(768 << 30) - 1, pods=1),
        largest_free_node=ResourceAmounts(cpu_millis=250, memory_bytes=5 << 30, pods=1),
        at=NOW,
        partial=True,
    )
    heartbeat = ClusterRecord(id="c-res", capacity=3, last_heartbeat=NOW, resources=resources)
    store.upsert_cluster(heartbeat)
    assert store.get_cluster("c-res") == heartbeat
    assert [c.resources for c in store.list_clusters() if c.id == "c-res"] == [resources]
    store.upsert_cluster(msgspec.structs.replace(heartbeat, resources=None))
    cluster = store.get_cluster("c-res")
    assert cluster is not None and cluster.resources is None


def test_log_chunks_are_stored_once_and_read_in_order(log_store: LogStore) -> None:
    job_id = str(uuid.uuid4())
    big = bytes(range(256)) * 4096  # 1 MiB, incompressible enough to matter
    assert log_store.append_log(job_id, 1, "pod-a", "main", 1, b"second\n", False)
    assert log_store.append_log(job_id, 1, "pod-a", "main", 0, b"first\n", False)
    assert not log_store.append_log(
        job_id, 1, "pod-a", "main", 0, b"first\n", False
    )  # a redelivery
    assert log_store.append_log(job_id, 1, "pod-b", "main", 0, big, True)
    assert log_store.append_log(job_id, 2, "pod-c", "main", 0, b"attempt 2\n", False)
    assert log_store.read_logs(job_id, attempt=1) == [
        ("pod-a", "main", 0, b"first\n"),
        ("pod-a", "main", 1, b"second\n"),
        ("pod-b", "main", 0, big),
    ]
    assert log_store.read_logs(job_id, attempt=1, pod="pod-a", after={("pod-a", "main"): 0}) == [
        ("pod-a", "main", 1, b"second\n")
    ]


def test_a_cron_job_round_trips(store: Store) -> None:
    spec = msgspec.convert(
        {
            "name": "nightly",
            "namespace": "ops",
            "image": "alpine",
            "schedule": "0 3 * * *",
            "mode": "managed",
        },
        CronSpec,
    )
    cron = CronRecord(
        id=str(uuid.uuid4()),
        spec=spec,
        k8s_name="nightly-x",
        created_at=NOW,
        updated_at=NOW,
        next_run_at=NOW,
    )
    store.create_cron(cron)
    assert store.get_cron(cron.id) == cron


def test_the_leader_lease_with_expiry_and_fencing(lease_store: LeaseStore) -> None:
    assert lease_store.acquire_lease("leader", "a", 10, NOW) == 1
    assert (
        lease_store.acquire_lease("leader", "a", 10, NOW + dt.timedelta(seconds=5)) == 1
    )  # renewed
    assert lease_store.acquire_lease("leader", "b", 10, NOW + dt.timedelta(seconds=14)) is None
    # a did not renew in time: b takes over with a larger fencing token.
    assert lease_store.acquire_lease("leader", "b", 10, NOW + dt.timedelta(seconds=16)) == 2
    assert lease_store.acquire_lease("leader", "a", 10, NOW + dt.timedelta(seconds=17)) is None
    lease_store.release_lease("leader", "b")
    assert lease_store.acquire_lease("leader", "a", 10, NOW + dt.timedelta(seconds=18)) == 3


def test_a_cron_tick_fires_once_however_many_replicas_try(store: Store) -> None:
    spec = msgspec.convert(
        {
            "name": "tick",
            "namespace": "ops",
            "image": "alpine",
            "schedule": "* * * * *",
            "mode": "managed",
        },
        CronSpec,
    )
    cron = store.create_cron(
        CronRecord(
            id=str(uuid.uuid4()),
            spec=spec,
            k8s_name="tick-x",
            created_at=NOW,
            updated_at=NOW,
            next_run_at=NOW,
        )
    )
    assert [c.id for c in store.due_crons(NOW, 10)] == [cron.id]
    results = []

    def fire(n: int) -> None:
        run = make_job(n, cron_id=cron.id)
        results.append(store.fire_cron(cron.id, NOW, NOW + dt.timedelta(minutes=1), run))

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert store.cron_run_counts(cron.id) == (1, 0, 1)
    assert store.due_crons(NOW, 10) == []
    assert store.next_cron_at() == NOW + dt.timedelta(minutes=1)
    updated = store.update_cron(cron.id, lambda c: msgspec.structs.replace(c, deleted=True))
    assert updated is not None and updated[1].deleted
    assert store.list_crons(limit=10) == ([], None)


def test_a_chunk_sent_early_grows_but_never_shrinks(log_store: LogStore) -> None:
    job_id = str(uuid.uuid4())
    assert log_store.append_log(job_id, 1, "p", "c", 0, b"line 1\n", False)
    assert log_store.append_log(job_id, 1, "p", "c", 0, b"line 1\nline 2\n", False)  # grew
    assert not log_store.append_log(
        job_id, 1, "p", "c", 0, b"line 1\n", False
    )  # a late, shorter copy
    assert log_store.read_logs(job_id) == [("p", "c", 0, b"line 1\nline 2\n")]
    assert log_store.log_chunk_counts(job_id, 1) == {("p", "c"): (1, 14)}


def test_a_chunk_learns_that_the_log_was_cut_there(log_store: LogStore) -> None:
    job_id = str(uuid.uuid4())
    assert log_store.append_log(job_id, 1, "p", "c", 0, b"x" * 10, False)  # streamed early
    assert log_store.truncated_logs(job_id, 1) == set()
    assert log_store.append_log(job_id, 1, "p", "c", 0, b"x" * 10, True)  # the final read: cut here
    assert log_store.truncated_logs(job_id, 1) == {("p", "c")}
    assert not log_store.append_log(job_id, 1, "p", "c", 0, b"x" * 10, True)


def test_migrating_again_keeps_what_is_stored(store: Store) -> None:
    job = store.create_job(make_job(), [("kjs.dispatch.c1", b"dispatch")])
    store.migrate()
    assert store.get_job(job.id) == job
    assert [o.body for o in store.outbox_due(NOW, 10)] == [b"dispatch"]


def test_retention_removes_what_is_older_and_keeps_the_rest(store: Store) -> None:
    # Logs are not the store's to remove: the log sink has its own retention.
    old_at = NOW - dt.timedelta(days=40)
    old = store.create_job(
        make_job(
            1, state=JobState.SUCCEEDED, finished_at=old_at, created_at=old_at, updated_at=old_at
        )
    )
    running = store.create_job(make_job(2, state=JobState.RUNNING, created_at=old_at))
    recent = store.create_job(make_job(3, state=JobState.FAILED, finished_at=NOW))
    for job in (old, running, recent):
        store.update_job(
            job.id,
            lambda j: msgspec.structs.replace(j, message="seen"),
            event=lambda j: EventRecord(job_id=j.id, attempt=1, state=j.state, at=j.created_at),
        )
    recent_events = store.job_events(recent.id)
    removed = store.delete_older_than(NOW - dt.timedelta(days=30), batch=1)
    assert removed["jobs"] == 1
    assert store.get_job(old.id) is None and store.job_events(old.id) == []
    assert store.get_job(running.id) is not None  # never removes an unfinished job
    assert store.job_events(running.id) == []  # but its old events go
    assert store.get_job(recent.id) is not None and store.job_events(recent.id) == recent_events


# -- the job watch -----------------------------------------------------------------------------


def _follow(store: Store, after: int) -> tuple[list[JobChange], int]:
    """Every change after `after`, page by page (pages of 3: the paging is tested too)."""
    changes: list[JobChange] = []
    while True:
        page, reached = store.job_changes(after, limit=3)
        changes += page
        if reached == after:
            return changes, after
        after = reached


def test_each_job_change_takes_the_next_position_and_a_watcher_sees_the_latest(
    store: Store,
) -> None:
    start = store.watch_position()
    a, b = store.create_job(make_job(1)), store.create_job(make_job(2))
    changes, position = _follow(store, start)
    assert [(c.kind, c.job.id) for c in changes] == [("ADDED", a.id), ("ADDED", b.id)]
    assert position == store.watch_position() == changes[-1].seq > start
    cancelled = msgspec.structs.replace(a, state=JobState.CANCELLED)
    store.update_jobs([JobUpdate(a.id, lambda j: cancelled)])
    (change,), _ = _follow(store, position)
    assert (change.kind, change.job) == ("MODIFIED", cancelled)
    store.update_jobs([JobUpdate(b.id, lambda j: None)])  # no change: nothing to see
    assert _follow(store, change.seq)[0] == []  # (its position may have been used up)
    # From the start again: one item a job, as it is now (ADDED: created after `start`).
    again, _ = _follow(store, start)
    assert [(c.kind, c.job.id, c.job.state) for c in again] == [
        ("ADDED", b.id, JobState.PENDING),
        ("ADDED", a.id, JobState.CANCELLED),
    ]


def test_a_watch_takes_the_list_filters(store: Store) -> None:
    start = store.watch_position()
    ops = store.create_job(make_job(1))
    other = make_job(2)
    store.create_job(
        msgspec.structs.replace(
            other, spec=msgspec.structs.replace(other.spec, namespace="dev", labels={})
        )
    )
    changes, _ = store.job_changes(start, limit=10, namespaces=["ops"])
    assert [c.job.id for c in changes] == [ops.id]
    changes, _ = store.job_changes(start, limit=10, labels={"team": "data"}, state="pending")
    assert [c.job.id for c in changes] == [ops.id]
    assert store.job_changes(start, limit=10, namespaces=[])[0] == []
    changes, _ = store.job_changes(start, limit=10, namespace="dev")
    assert [c.job.id for c in changes] == [other.id]
    changes, _ = store.job_changes(start, limit=10, name_prefix="job-1")
    assert [c.job.id for c in changes] == [ops.id]


def test_a_job_removed_by_retention_is_a_deletion_until_it_is_forgotten(store: Store) -> None:
    start = store.watch_position()
    done = store.create_job(
        make_job(1, state=JobState.SUCCEEDED, finished_at=NOW - dt.timedelta(days=2))
    )
    _, position = _follow(store, start)
    store.delete_older_than(NOW - dt.timedelta(days=1))
    (change,), _ = _follow(store, position)
    assert (change.kind, change.job.id, change.job.state) == ("DELETED", done.id, "succeeded")
    # Deletions older than the retention's cut are forgotten: a cursor from before them is gone.
    store.delete_older_than(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    with pytest.raises(Gone):
        store.job_changes(position, limit=10)
    assert store.job_changes(change.seq, limit=10) == ([], change.seq)


def test_pending_jobs_come_whole_then_as_they_change(store: Store) -> None:
    """`pending_since`: every pending job with its placement key (a snapshot), then the pending
    jobs among those changed since, and the ids of those no longer pending or deleted."""
    store = with_feed(store)
    waiting = store.create_job(make_job(1))
    store.create_job(make_job(2, state=JobState.RUNNING, cluster_id="c1"))
    first = store.pending_since(None, 100)
    assert first.snapshot and not first.more
    assert first.jobs == [(placement_key_of(waiting.spec), store.get_job(waiting.id))]
    assert first.position == store.watch_position()

    new = store.create_job(make_job(3))
    edited = msgspec.structs.replace(waiting, spec=msgspec.structs.replace(waiting.spec, queue="q"))
    store.update_jobs([JobUpdate(waiting.id, lambda j: edited)])
    feed = store.pending_since(first.position, 100)
    assert not feed.snapshot and not feed.more and feed.gone == []
    assert {job.id: key for key, job in feed.jobs} == {
        new.id: placement_key_of(new.spec),
        waiting.id: placement_key_of(edited.spec),
    }
    assert store.get_job(waiting.id) in [job for _, job in feed.jobs]

    placed = msgspec.structs.replace(edited, state=JobState.DISPATCHED, cluster_id="c1")
    store.update_jobs([JobUpdate(waiting.id, lambda j: placed)])
    after = store.pending_since(feed.position, 100)
    assert (after.jobs, after.gone) == ([], [waiting.id])
    assert store.pending_since(after.position, 100).jobs == []


def test_pending_changes_come_a_limit_at_a_time_and_deletions_too(store: Store) -> None:
    store = with_feed(store)
    start = store.pending_since(None, 100).position
    jobs = [store.create_job(make_job(n)) for n in range(3)]
    seen: list[str] = []
    position, calls = start, 0
    while True:
        feed = store.pending_since(position, 2)
        seen += [job.id for _, job in feed.jobs]
        position, calls = feed.position, calls + 1
        if not feed.more:
            break
    assert sorted(seen) == sorted(j.id for j in jobs) and calls == 2  # each once, 2 calls
    done = store.create_job(
        make_job(9, state=JobState.SUCCEEDED, finished_at=NOW - dt.timedelta(days=2))
    )
    store.delete_older_than(NOW - dt.timedelta(days=1))
    feed = store.pending_since(position, 100)
    assert done.id in feed.gone and feed.jobs == []
    # A position older than the history kept: a snapshot again.
    store.delete_older_than(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    again = store.pending_since(start, 100)
    assert again.snapshot and {job.id for _, job in again.jobs} == {j.id for j in jobs}


def test_a_position_the_store_never_gave_is_gone(store: Store) -> None:
    with pytest.raises(Gone):
        store.job_changes(store.watch_position() + 1, limit=10)


def test_a_watcher_among_concurrent_writers_misses_no_change(store: Store) -> None:
    """Writers in several threads (on MySQL: transactions that commit in any order); a reader
    that follows the positions as they come must end with every job as it is stored."""
    jobs = [store.create_job(make_job(n)) for n in range(8)]
    start = store.watch_position()
    seen: dict[str, list[int]] = {}  # each job's attempts, in the order the reader saw them
    writing = threading.Event()
    errors: list[BaseException] = []

    def bump(j: JobRecord) -> JobRecord:
        return msgspec.structs.replace(j, attempt=j.attempt + 1)

    def writer(n: int) -> None:
        try:
            for round_ in range(15):
                mine = jobs[n::2] if round_ % 2 else list(reversed(jobs[n::2]))
                store.update_jobs([JobUpdate(j.id, bump) for j in mine])
                store.create_job(make_job(100 * (n + 1) + round_))
        except BaseException as e:  # reported below, with the test's own assertion
            errors.append(e)

    def reader() -> None:
        after = start
        try:
            while writing.is_set() or after < store.watch_position():
                page, reached = store.job_changes(after, limit=5)
                assert all(after < c.seq <= reached for c in page), (after, reached, page)
                for change in page:
                    seen.setdefault(change.job.id, []).append(change.job.attempt)
                after = reached
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    writing.set()
    follower = threading.Thread(target=reader)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    follower.join()
    assert errors == []
    stored = store.list_jobs(limit=100)[0]
    assert len(stored) == 8 + 2 * 15
    assert {k: v[-1] for k, v in seen.items()} == {j.id: j.attempt for j in stored}
    # Never a change twice, never an older state after a newer one.
    assert all(v == sorted(set(v)) for v in seen.values()), seen


def test_a_job_s_events_are_read_after_a_position(store: Store) -> None:
    job = store.create_job(make_job())
    store.update_jobs(
        [
            JobUpdate(
                job.id,
                lambda j: msgspec.structs.replace(j, state=JobState.CANCELLED),
                event=lambda j: EventRecord(job_id=j.id, attempt=1, state="cancelled", at=NOW),
            )
        ]
    )
    accepted, cancelled = store.job_events(job.id)
    assert accepted.seq is not None and cancelled.seq is not None
    assert accepted.seq < cancelled.seq
    assert [e.state for e in store.job_events(job.id, accepted.seq)] == ["cancelled"]
    assert store.job_events(job.id, cancelled.seq) == []


def _queue(name: str, at: dt.datetime = NOW, **definition: object) -> QueueRecord:
    return QueueRecord(
        name=name,
        definition=QueueDefinition(**definition),  # type: ignore[arg-type]
        created_at=at,
        updated_at=at,
    )


def test_a_queue_is_created_then_replaced_keeping_its_creation_time(store: Store) -> None:
    limits = QueueLimits(max_running=4, max_cpu="8", per_cluster=ClusterLimits(max_memory="16Gi"))
    gpu = _queue("gpu", weight=2.5, limits=limits, namespaces=["ml"], priority_class="high")
    assert store.put_queue(gpu) == (gpu, True)
    assert store.get_queue("gpu") == gpu
    later = NOW + dt.timedelta(minutes=5)
    replaced, created = store.put_queue(_queue("gpu", later, weight=1.0))
    assert not created
    assert replaced == msgspec.structs.replace(_queue("gpu", later, weight=1.0), created_at=NOW)
    assert store.get_queue("gpu") == replaced
    store.put_queue(_queue("batch"))
    assert [q.name for q in store.list_queues()] == ["batch", "gpu"]
    assert store.get_queue("nope") is None


def test_a_queue_with_unfinished_jobs_is_not_deleted(store: Store) -> None:
    store.put_queue(_queue("gpu"))
    queued = msgspec.structs.replace(make_job(1).spec, queue="gpu")
    jobs = [
        store.create_job(make_job(1, spec=queued)),
        store.create_job(make_job(2, spec=queued, state=JobState.RUNNING, cluster_id="c1")),
        store.create_job(make_job(3, spec=queued, state=JobState.SUCCEEDED)),
        store.create_job(make_job(4)),  # another queue's
    ]
    assert store.get_job(jobs[0].id).spec.queue == "gpu"  # type: ignore[union-attr]
    with pytest.raises(QueueInUse) as in_use:
        store.delete_queue("gpu")
    assert in_use.value.unfinished == 2
    assert store.get_queue("gpu") is not None
    # One finishes, the other is edited into another queue: none left, the queue goes.
    store.update_job(jobs[0].id, lambda j: msgspec.structs.replace(j, state=JobState.CANCELLED))
    moved = msgspec.structs.replace(queued, queue="default")
    store.update_job(jobs[1].id, lambda j: msgspec.structs.replace(j, spec=moved))
    assert store.delete_queue("gpu") is True
    assert store.get_queue("gpu") is None
    assert store.delete_queue("gpu") is False


def test_a_queue_a_cron_job_names_is_not_deleted(store: Store) -> None:
    store.put_queue(_queue("etl"))
    spec = msgspec.convert(
        {"name": "n", "namespace": "ops", "image": "alpine", "schedule": "0 3 * * *"}, CronSpec
    )
    elsewhere = msgspec.structs.replace(spec, queue="etl-2", env={"queue": "etl"})  # LIKE: yes
    for i, cron_spec in enumerate((msgspec.structs.replace(spec, queue="etl"), elsewhere)):
        store.create_cron(
            CronRecord(
                id=str(uuid.uuid4()),
                spec=cron_spec,
                k8s_name=f"n-{i}",
                created_at=NOW,
                updated_at=NOW,
                next_run_at=NOW,
            )
        )
    store.create_job(make_job(1, spec=msgspec.structs.replace(make_job(1).spec, queue="etl")))
    with pytest.raises(QueueInUse) as in_use:
        store.delete_queue("etl")
    assert (in_use.value.unfinished, in_use.value.crons) == (1, 1)  # not the one only mentioning it
    assert store.get_queue("etl") is not None


def test_queue_positions_count_the_queue_s_due_pending_jobs_oldest_first(store: Store) -> None:
    gpu = msgspec.structs.replace(make_job(0).spec, queue="gpu")

    def queued(n: int, **changes: object) -> JobRecord:
        return store.create_job(make_job(n, spec=gpu, **changes))

    first = queued(1)
    queued(2, state=JobState.RUNNING, cluster_id="c1")  # placed: not waiting
    queued(3, run_at=NOW + dt.timedelta(hours=1))  # not due yet
    store.create_job(make_job(3))  # another queue's
    twins = sorted([queued(4), queued(4)], key=lambda j: j.id)  # one instant: by id
    last = queued(9)
    now = NOW + dt.timedelta(minutes=1)

    def positions(*jobs: JobRecord, queue: str = "gpu", at: dt.datetime = now) -> list[int]:
        return store.queue_positions(queue, [(j.priority, j.created_at, j.id) for j in jobs], at)

    assert positions(last, first, *twins) == [4, 1, 2, 3]  # the order asked, not sorted
    assert positions(twins[1]) == [3] and positions(last) == [4]
    assert positions(first, first) == [1, 1]
    assert positions() == []
    # The job due in an hour counts from then on; another queue is counted on its own.
    assert positions(last, at=NOW + dt.timedelta(hours=2)) == [5]
    other = store.create_job(make_job(5))
    assert positions(other, queue="default") == [2]
    # The first is placed: everyone moves up.
    store.update_job(first.id, lambda j: msgspec.structs.replace(j, state=JobState.DISPATCHED))
    assert positions(*twins, last) == [1, 2, 3]


def test_queue_positions_put_higher_priorities_first(store: Store) -> None:
    gpu = msgspec.structs.replace(make_job(0).spec, queue="gpu")

    def queued(n: int, priority: int, **changes: object) -> JobRecord:
        return store.create_job(make_job(n, spec=gpu, priority=priority, **changes))

    old_low, high, mid, high_later = queued(1, 0), queued(2, 100), queued(3, 10), queued(4, 100)
    lowest, new_low = queued(5, -1_000_000_000), queued(6, 0)
    queued(7, 50_000, state=JobState.RUNNING, cluster_id="c1")  # placed: not in the line
    queued(8, 60_000, run_at=NOW + dt.timedelta(hours=1))  # not due yet
    store.create_job(make_job(9, priority=1_000))  # another queue's
    now = NOW + dt.timedelta(minutes=1)

    def positions(*jobs: JobRecord) -> list[int]:
        return store.queue_positions("gpu", [(j.priority, j.created_at, j.id) for j in jobs], now)

    # Placement's order: the highest priority first, then the oldest, then by id.
    line = [high, high_later, mid, old_low, new_low, lowest]
    assert [positions(j) for j in line] == [[1], [2], [3], [4], [5], [6]]
    # One statement for many keys, in the order asked, across priorities and within one.
    assert positions(lowest, old_low, high_later, mid, new_low, high) == [6, 4, 2, 3, 5, 1]
    assert positions(high, lowest) == [1, 6]  # the priorities between them are counted
    assert positions(mid, new_low) == [3, 5]
    stored = store.get_job(mid.id)
    assert stored is not None and stored.priority == 10
    assert placement_key_of(mid.spec, 10) == "gpu|ops|10|"
    assert ("gpu|ops|10|", 1) in store.due_placement_keys(now)
    # A higher one arrives last: it goes ahead of everyone of a lower priority.
    urgent = queued(20, 101)
    assert positions(urgent, high, lowest) == [1, 2, 7]


def test_started_since_sums_per_cluster_what_its_report_may_not_count(
    store: Store,
) -> None:
    """Placement subtracts it from a cluster's reported free figures: the jobs in `states`
    that started after the cluster's moment (or never did), and those in `whenever` however
    long ago."""
    before, after = NOW - dt.timedelta(minutes=5), NOW + dt.timedelta(seconds=1)
    placed = [
        (1, "1", JobState.RUNNING, "c1", after),  # counted
        (2, "2", JobState.RUNNING, "c1", before),  # in the report already
        (3, "500m", JobState.CREATED, "c1", None),  # counted: its pods may not be bound
        (4, "4", JobState.SUCCEEDED, "c1", after),  # finished: holds nothing
        (5, "3", JobState.DISPATCHED, "c2", None),  # counted
        (6, "8", JobState.RUNNING, "c3", after),  # a cluster not asked about
        (7, "250m", JobState.LOST, "c2", None),  # never started: counted
        (8, "2", JobState.CREATED, "c2", before),  # restarted? created whenever: counted
    ]
    for n, cpu, state, cluster, at in placed:
        store.create_job(
            asking(
                n, cpu, "1Gi", 1, state=state, cluster_id=cluster, dispatched_at=before,
                started_at=at,
            )
        )  # fmt: skip
    store.create_job(asking(9, "16", "1Gi", 1))  # pending
    states = (JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING, JobState.LOST)
    unbound = (JobState.DISPATCHED, JobState.CREATED)
    found = store.started_since({"c1": NOW, "c2": NOW}, states, unbound)
    assert found == {"c1": (2, 1500, 2 * 1024**3), "c2": (3, 5250, 3 * 1024**3)}
    assert store.started_since({}, states, unbound) == {}
    assert store.started_since({"c1": NOW}, states) == {"c1": (2, 1500, 2 * 1024**3)}


def test_due_pages_read_the_first_page_of_each_key_asked(store: Store) -> None:
    def routed(n: int, cluster: str) -> JobRecord:
        job = make_job(n)
        return msgspec.structs.replace(job, spec=msgspec.structs.replace(job.spec, cluster=cluster))

    c1 = [store.create_job(routed(n, "c1")) for n in range(3)]
    c2 = [store.create_job(routed(10 + n, "c2")) for n in range(2)]
    key1, key2 = placement_key_of(c1[0].spec), placement_key_of(c2[0].spec)
    later = NOW + dt.timedelta(days=1)
    pages = store.due_pages(later, [(key2, 5), (key1, 2), ("no|such|0|key", 5)])
    assert [[j.id for j in page] for page in pages] == [
        [j.id for j in c2],
        [j.id for j in c1[:2]],
        [],
    ]
    assert pages[1] == store.due_jobs(later, 2, placement_key=key1)


def test_due_jobs_page_on_from_a_created_at_and_id_cursor(store: Store) -> None:
    """Jobs created at the same moment are told apart by id: none is missed nor read twice."""
    same = NOW + dt.timedelta(seconds=30)  # four jobs share it: a page ends among them
    jobs = [store.create_job(make_job(n)) for n in range(2)]
    jobs += [store.create_job(make_job(n, created_at=same)) for n in range(2, 6)]
    order = sorted(jobs, key=lambda j: (j.created_at, j.id))
    seen: list[str] = []
    cursor: tuple[dt.datetime, str] | None = None
    while page := store.due_jobs(NOW + dt.timedelta(hours=1), 2, after=cursor):
        seen += [j.id for j in page]
        cursor = (page[-1].created_at, page[-1].id)
    assert seen == [j.id for j in order]


# The suite itself: what `from kjs.testing.contracts.store import *` brings into a test module.
__all__ = [name for name in list(globals()) if name.startswith("test_")] + [
    "log_store",
    "lease_store",
]
