"""The SDK's queue calls (sync and async) against a live server: define, list, read, delete;
a job's `queue`; the server's refusals as the SDK's exceptions."""

from __future__ import annotations

import pytest

from kjs.client import AsyncClient, Client, Conflict, InvalidRequest, NotFound, Queue
from tests.client.conftest import job
from tests.live import LiveServer


def test_define_list_read_and_delete_a_queue(kjs: Client, tag: str) -> None:
    name = f"q-{tag}"
    created = kjs.put_queue(name, {"weight": 2, "limits": {"max_cpu": "4"}, "namespaces": ["sdk"]})
    assert isinstance(created, Queue)
    assert (created.name, created.source, created.weight) == (name, "api", 2.0)
    assert created.limits["max_cpu"] == "4" and created.namespaces == ["sdk"]
    assert (created.share, created.weighted_share) == (0.0, 0.0)  # it holds nothing yet
    assert kjs.queue(name) == created
    listed = {q.name: q for q in kjs.queues()}
    assert listed[name] == created and listed["default"].source == "config"
    submitted = kjs.submit(job("in-queue", tag, queue=name))
    assert submitted.queue == name and kjs.get(submitted.id).queue == name
    assert kjs.submit(job("plain", tag)).queue == "default"
    with pytest.raises(Conflict, match="1 unfinished job"):
        kjs.delete_queue(name)
    kjs.cancel(submitted.id)  # pending: cancelled at once
    assert kjs.delete_queue(name) is None
    with pytest.raises(NotFound):
        kjs.queue(name)


def test_refusals_name_the_field(kjs: Client, tag: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        kjs.put_queue(f"q-{tag}", {"limits": {"max_memory": "lots"}})
    assert [e.field for e in bad.value.errors] == ["limits.max_memory"]
    with pytest.raises(InvalidRequest) as unknown:
        kjs.submit(job("nowhere", tag, queue=f"nope-{tag}"))
    assert [e.field for e in unknown.value.errors] == ["queue"]
    with pytest.raises(Conflict, match="configuration"):
        kjs.put_queue("default", {})


async def test_the_async_client_s_queue_calls(server: LiveServer, tag: str) -> None:
    async with AsyncClient(server.url) as kjs:
        name = f"a-{tag}"
        created = await kjs.put_queue(name, {"priority_class": "high"})
        assert created.priority_class == "high"
        assert (await kjs.queue(name)).created_at == created.created_at
        assert name in [q.name for q in await kjs.queues()]
        await kjs.delete_queue(name)
        with pytest.raises(NotFound):
            await kjs.queue(name)
