"""The server's status subscription asks the queue for as many messages in flight as its store
says it writes well in one group (`status_writes_in_flight`), 16 when the store says nothing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from kjs.core import messages
from kjs.scheduler.consumer import DEFAULT_STATUS_IN_FLIGHT, StatusConsumer
from kjs.sqlstore.store import SqlStore


class RecordingQueue:
    def __init__(self) -> None:
        self.in_flight: dict[str, int | None] = {}

    async def subscribe(
        self, topic: str, channel: str, handler: Any, *, max_in_flight: int | None = None
    ) -> None:
        self.in_flight[topic] = max_in_flight


def status_in_flight(store: Any) -> int | None:
    queue = RecordingQueue()
    consumer = StatusConsumer(SimpleNamespace(store=store, queue=queue))  # type: ignore[arg-type]
    asyncio.run(consumer.start())
    return queue.in_flight[messages.STATUS_TOPIC]


class SilentStore:
    """A third-party store that says nothing of its writes."""

    def update_jobs(self, updates: Any) -> Any: ...
    def get_jobs(self, ids: Any) -> Any: ...


class GroupingStore(SilentStore):
    status_writes_in_flight = 40


def test_the_store_says_how_many() -> None:
    assert status_in_flight(GroupingStore()) == 40


def test_a_store_that_says_nothing_gets_the_default() -> None:
    assert status_in_flight(SilentStore()) == DEFAULT_STATUS_IN_FLIGHT == 16


@pytest.mark.parametrize(("url", "expected"), [("sqlite://", 128), ("mysql+pymysql://h/db", 16)])
def test_the_sql_store_groups_more_on_sqlite(url: str, expected: int) -> None:
    # SQLite's one writer gains from large groups; MariaDB's placement writes were held back.
    store = SqlStore(sa.create_engine(url), describe=url)
    assert status_in_flight(store) == expected
