"""The SDK and priority classes against a live server (whose configuration defines `high` and
`low`, tests/client/conftest.py): the classes listed, a job's `priority_class` and `priority`, an
unknown class refused naming the field."""

from __future__ import annotations

import pytest

from kjs.client import AsyncClient, Client, InvalidRequest, PriorityClass
from tests.client.conftest import job
from tests.live import LiveServer


def test_classes_and_a_job_s_priority(kjs: Client, tag: str) -> None:
    assert kjs.priority_classes() == [
        PriorityClass(name="high", value=1000, preemptible=False, description=None),
        PriorityClass(name="low", value=-10, preemptible=True, description=None),
    ]
    low = kjs.submit(job("low", tag, priority_class="low"))
    assert (low.priority_class, low.priority) == ("low", -10)
    read = kjs.get(low.id)
    assert (read.priority_class, read.priority) == ("low", -10)
    plain = kjs.submit(job("plain", tag))
    assert (plain.priority_class, plain.priority) == (None, 0)
    with pytest.raises(InvalidRequest) as unknown:
        kjs.submit(job("nope", tag, priority_class="nope"))
    assert [e.field for e in unknown.value.errors] == ["priority_class"]


async def test_the_async_client_lists_the_classes(server: LiveServer) -> None:
    async with AsyncClient(server.url) as kjs:
        assert [c.name for c in await kjs.priority_classes()] == ["high", "low"]
