"""`AsyncClient`: the same behaviour as `Client` for submit, list and iterate, errors, watch
and wait, against the same live server."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest

from kjs.client import (
    AsyncClient,
    Event,
    InvalidRequest,
    Job,
    NotFound,
    ServerUnreachable,
    WatchExpired,
)
from kjs.testing.procs import free_port
from tests.client.conftest import as_submitted, job
from tests.client.proxy import Proxy
from tests.live import LiveServer


async def test_submit_get_list_and_iterate(server: LiveServer, tag: str) -> None:
    async with AsyncClient(server.url) as kjs:
        first = await kjs.submit(job("a0", tag), idempotency_key=f"async-{tag}")
        assert isinstance(first, Job) and first.state == "pending"
        assert (await kjs.submit(job("a0", tag), idempotency_key=f"async-{tag}")).id == first.id
        more = await kjs.submit_many([job(f"a{i}", tag) for i in range(1, 5)])
        assert [j.name for j in more] == ["a1", "a2", "a3", "a4"]
        assert as_submitted(await kjs.get(first.id), first) == first
        page = await kjs.list(labels={"test": tag}, limit=2)
        assert [j.name for j in page.items] == ["a4", "a3"] and page.next_cursor
        every = [j.name async for j in kjs.iter_jobs(labels={"test": tag}, page_size=2)]
        assert every == ["a4", "a3", "a2", "a1", "a0"]
        cancelled = await kjs.cancel(first.id)
        assert cancelled.is_final
        assert [e.state for e in await kjs.events(first.id)] == ["pending", "cancelled"]


async def test_errors(server: LiveServer) -> None:
    async with AsyncClient(server.url) as kjs:
        with pytest.raises(InvalidRequest) as invalid:
            await kjs.submit({"name": "Bad!", "namespace": "sdk", "image": "busybox"})
        assert [e.field for e in invalid.value.errors] == ["name"]
        assert str(invalid.value).startswith("400: name: ")
        with pytest.raises(NotFound):
            await kjs.get("00000000-0000-4000-8000-000000000000")
        with pytest.raises(WatchExpired):
            async with aclosing(kjs.watch(watch_cursor=10**15)) as changes:
                await anext(changes)
    async with AsyncClient(f"http://127.0.0.1:{free_port()}") as away:
        with pytest.raises(ServerUnreachable):
            await away.list()


async def test_watch_sees_changes(server: LiveServer, tag: str) -> None:
    async with AsyncClient(server.url) as kjs:
        cursor = (await kjs.list(labels={"test": tag})).watch_cursor
        async with aclosing(kjs.watch(watch_cursor=cursor, labels={"test": tag})) as changes:
            submitted = await kjs.submit(job("w", tag))
            added = await anext(changes)
            assert added.job is not None and (added.type, added.job.id) == ("ADDED", submitted.id)
            await kjs.cancel(submitted.id)
            cancelled = await anext(changes)
            assert cancelled.job is not None and cancelled.job.state == "cancelled"
        async with aclosing(kjs.watch_events(submitted.id)) as events:
            assert [(await anext(events)).state for _ in range(2)] == ["pending", "cancelled"]


async def test_wait_returns_the_final_job_or_times_out(server: LiveServer, tag: str) -> None:
    async with AsyncClient(server.url) as kjs, AsyncClient(server.url) as other:
        submitted = await kjs.submit(job("waited", tag))
        seen: list[Event] = []
        cancelling: list[asyncio.Task[Job]] = []  # held: a task nobody holds may vanish

        def on_event(event: Event) -> None:
            seen.append(event)
            if event.state == "pending":  # the history is read: end the job now
                cancelling.append(asyncio.ensure_future(other.cancel(submitted.id)))

        done = await kjs.wait(submitted.id, timeout=30, on_event=on_event)
        assert (done.id, done.state) == (submitted.id, "cancelled")
        assert [e.state for e in seen] == ["pending", "cancelled"]

        stuck = await kjs.submit(job("stuck", tag))
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"is not final after 1\.0 s"):
            await kjs.wait(stuck.id, timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 3.0


async def test_a_dropped_watch_resumes_and_a_wait_rides_it_out(
    server: LiveServer, tag: str
) -> None:
    proxy = Proxy(server.port)
    try:
        async with AsyncClient(server.url) as kjs, AsyncClient(proxy.url) as watcher:
            cursor = (await kjs.list(labels={"test": tag})).watch_cursor
            async with aclosing(watcher.watch(watch_cursor=cursor, labels={"test": tag})) as w:
                a = await kjs.submit(job("a", tag))
                first = await anext(w)
                assert first.job is not None and first.job.id == a.id
                proxy.cut()
                b = await kjs.submit(job("b", tag))
                await kjs.cancel(a.id)
                rest = [await anext(w) for _ in range(2)]
            assert [(c.type, c.job.id) for c in rest if c.job] == [
                ("ADDED", b.id),
                ("MODIFIED", a.id),
            ]
            cancelling: list[asyncio.Task[Job]] = []

            def on_event(event: Event) -> None:
                if event.state == "pending":
                    proxy.cut()
                    cancelling.append(asyncio.ensure_future(kjs.cancel(b.id)))

            done = await watcher.wait(b.id, timeout=30, on_event=on_event)
            assert done.state == "cancelled"
    finally:
        proxy.close()
