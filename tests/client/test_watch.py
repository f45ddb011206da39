"""`watch`, `watch_events` and `wait` against a live server: changes as they are stored,
resuming after a dropped connection (nothing lost or repeated), giving up on a server that
is gone, an expired cursor, and `wait`'s deadline. Jobs change here through the API (edit,
cancel, rerun): no agent is needed."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from kjs.client import Client, Event, NotFound, ServerUnreachable, WatchEvent, WatchExpired
from kjs.testing.procs import free_port
from kjs.testing.waiting import wait_until
from tests.client.conftest import job
from tests.client.proxy import Proxy
from tests.live import LiveServer


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[Proxy]:
    proxy = Proxy(server.port)
    yield proxy
    proxy.close()


def test_watch_from_a_lists_cursor_sees_each_change(kjs: Client, tag: str) -> None:
    cursor = kjs.list(labels={"test": tag}).watch_cursor
    changes = kjs.watch(watch_cursor=cursor, labels={"test": tag})
    first = kjs.submit(job("w1", tag))
    kjs.submit(job("other"))  # not selected by the label
    seen = next(changes)
    assert isinstance(seen, WatchEvent) and seen.job is not None
    assert (seen.type, seen.job.id, seen.job.state) == ("ADDED", first.id, "pending")
    kjs.update(first.id, {"image": "alpine"})
    edited = next(changes)
    assert edited.job is not None
    assert (edited.type, edited.job.image) == ("MODIFIED", "alpine")
    assert edited.seq > seen.seq
    kjs.cancel(first.id)
    cancelled = next(changes)
    assert cancelled.job is not None and cancelled.job.state == "cancelled"
    changes.close()


def test_watch_without_a_cursor_starts_now_and_can_show_bookmarks(kjs: Client, tag: str) -> None:
    earlier = kjs.submit(job("earlier", tag))
    changes = kjs.watch(labels={"test": tag}, bookmarks=True)
    start = next(changes)  # the server's first line, at once
    assert (start.type, start.job) == ("BOOKMARK", None)
    later = kjs.submit(job("later", tag))
    seen = next(changes)
    assert seen.job is not None and seen.job.id == later.id != earlier.id
    assert seen.seq > start.seq
    changes.close()


def test_watch_from_a_seq_resumes_right_after_it(kjs: Client, tag: str) -> None:
    cursor = kjs.list(labels={"test": tag}).watch_cursor
    a, b, c = kjs.submit_many([job(n, tag) for n in "abc"])
    with_a = next(kjs.watch(watch_cursor=cursor, labels={"test": tag}))
    assert with_a.job is not None and with_a.job.id == a.id
    after_a = kjs.watch(watch_cursor=with_a.seq, labels={"test": tag})
    assert [w.job.id for w in itertools.islice(after_a, 2) if w.job] == [b.id, c.id]
    after_a.close()


def test_an_expired_or_unknown_cursor_raises_watch_expired(kjs: Client) -> None:
    with pytest.raises(WatchExpired) as caught:
        next(kjs.watch(watch_cursor=10**15))
    assert caught.value.status == 410 and str(caught.value).startswith("410: ")


def test_a_dropped_watch_resumes_from_the_last_seq(kjs: Client, proxy: Proxy, tag: str) -> None:
    with Client(proxy.url) as watcher:
        cursor = watcher.list(labels={"test": tag}).watch_cursor
        changes = watcher.watch(watch_cursor=cursor, labels={"test": tag})
        a = kjs.submit(job("a", tag))
        first = next(changes)
        assert first.job is not None and first.job.id == a.id
        proxy.cut()  # the connection drops; meanwhile, two more changes
        b = kjs.submit(job("b", tag))
        kjs.cancel(a.id)
        rest = [(w.type, w.job.id, w.job.state) for w in itertools.islice(changes, 2) if w.job]
        changes.close()
    assert rest == [("ADDED", b.id, "pending"), ("MODIFIED", a.id, "cancelled")]
    assert proxy.connections >= 2  # the watch (after the list, on its connection), and again


def test_a_watch_whose_server_stays_away_raises_server_unreachable(
    kjs: Client, proxy: Proxy, tag: str
) -> None:
    with Client(proxy.url, reconnect_for=1.0) as watcher:
        changes = watcher.watch(labels={"test": tag}, bookmarks=True)
        next(changes)
        proxy.close()
        started = time.monotonic()
        with pytest.raises(ServerUnreachable):
            next(changes)
    assert 1.0 <= time.monotonic() - started < 10


def test_a_watch_that_comes_back_in_time_goes_on(kjs: Client, proxy: Proxy, tag: str) -> None:
    with Client(proxy.url, reconnect_for=30.0) as watcher:
        changes = watcher.watch(labels={"test": tag}, bookmarks=True)
        next(changes)
        proxy.refusing = True
        proxy.cut()
        submitted = kjs.submit(job("while-away", tag))

        def back_after_two_refusals() -> None:
            wait_until(lambda: proxy.refused >= 2, timeout=20, what="two reconnect attempts")
            proxy.refusing = False

        helper = threading.Thread(target=back_after_two_refusals)
        helper.start()
        seen = next(w for w in changes if w.job is not None)
        helper.join()
        changes.close()
    assert seen.job is not None and seen.job.id == submitted.id


def test_a_first_connection_that_fails_raises_at_once() -> None:
    with Client(f"http://127.0.0.1:{free_port()}") as kjs:
        started = time.monotonic()
        with pytest.raises(ServerUnreachable):
            next(kjs.watch())
    assert time.monotonic() - started < 5


def test_watch_events_gives_the_history_then_new_events(kjs: Client, tag: str) -> None:
    submitted = kjs.submit(job("ev", tag))
    events = kjs.watch_events(submitted.id)
    pending = next(events)
    assert isinstance(pending, Event)
    assert (pending.state, pending.reason, pending.attempt) == ("pending", "Accepted", 1)
    assert pending.seq is not None
    kjs.cancel(submitted.id)
    cancelled = next(events)
    assert cancelled.state == "cancelled" and cancelled.seq is not None
    assert cancelled.seq > pending.seq
    events.close()
    after_pending = kjs.watch_events(submitted.id, watch_cursor=pending.seq)
    assert next(after_pending) == cancelled
    after_pending.close()
    with pytest.raises(NotFound):
        next(kjs.watch_events("00000000-0000-4000-8000-000000000000"))


def test_wait_returns_the_final_job_and_shows_every_event(
    kjs: Client, server: LiveServer, tag: str
) -> None:
    submitted = kjs.submit(job("waited", tag))
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.state == "pending":  # the history has been read: now end it
            with Client(server.url) as other:
                other.cancel(submitted.id)

    done = kjs.wait(submitted.id, timeout=30, on_event=on_event)
    assert done.id == submitted.id and done.state == "cancelled" and done.is_final
    assert [e.state for e in seen] == ["pending", "cancelled"]
    # a job already final: at once, from its history
    assert kjs.wait(submitted.id, timeout=5).state == "cancelled"


def test_wait_goes_past_an_earlier_attempts_end(kjs: Client, server: LiveServer, tag: str) -> None:
    submitted = kjs.submit(job("again", tag))
    kjs.cancel(submitted.id)
    kjs.rerun(submitted.id)  # attempt 2, pending
    states: list[tuple[int, str]] = []

    def on_event(event: Event) -> None:
        states.append((event.attempt, event.state))
        if (event.attempt, event.state) == (2, "pending"):
            with Client(server.url) as other:
                other.cancel(submitted.id)

    done = kjs.wait(submitted.id, timeout=30, on_event=on_event)
    assert (done.attempt, done.state) == (2, "cancelled")
    assert states == [(1, "pending"), (1, "cancelled"), (2, "pending"), (2, "cancelled")]


def test_wait_raises_timeout_error_at_its_deadline(kjs: Client, tag: str) -> None:
    submitted = kjs.submit(job("stuck", tag))  # no agent: pending for ever
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=rf"job {submitted.id} is not final after 1\.5 s"):
        kjs.wait(submitted.id, timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 3.5


def test_wait_rides_out_a_dropped_connection(
    kjs: Client, proxy: Proxy, server: LiveServer, tag: str
) -> None:
    submitted = kjs.submit(job("bumpy", tag))

    def on_event(event: Event) -> None:
        if event.state == "pending":
            proxy.cut()
            kjs.cancel(submitted.id)

    with Client(proxy.url) as waiter:
        assert waiter.wait(submitted.id, timeout=30, on_event=on_event).state == "cancelled"
