"""Webhooks (CONTRACT §7): ordered with the final state, delivered at least once by the leader.

The delivery order is written into the outbox in the same transaction as the final state, so
it cannot be lost between the two; the leader delivers due orders through the notifier,
records every attempt, and retries with exponential backoff and jitter for `retry_for_s`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from kjs.core import aio, clock, messages, metrics
from kjs.core.components import Components
from kjs.core.errors import error_text
from kjs.core.plugins import Plugins
from kjs.core.protocols import DeliveryResult
from kjs.core.records import JobRecord, job_json
from kjs.scheduler.leader import WEBHOOKS, ItemFailures

log = logging.getLogger(__name__)
_EVENT_NAMESPACE = uuid.UUID("3f0c8a6e-9a8e-4b0f-8d43-1c2f5e7a9b10")
CONCURRENCY = 10  # deliveries talking to receivers at once
MAX_IN_FLIGHT = 200  # deliveries started (the others wait for the CONCURRENCY slots)
FIRST_RETRY_S = 2.0


class WebhookOrder(msgspec.Struct, kw_only=True):
    """One event to deliver to one URL (an outbox row on the `kjs.webhook` topic)."""

    job_id: str
    event_id: str
    url: str
    body: bytes
    created_at: dt.datetime


def event_id(job: JobRecord) -> str:
    """Stable per job, attempt and final state: receivers dedupe on it."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{job.id}/{job.attempt}/{job.state}"))


def order_for(job: JobRecord, plugins: Plugins) -> list[tuple[str, bytes]]:
    """The outbox row announcing a final state, if the job asked for a callback: kjs's body,
    or a plugin's (`webhook_payload`)."""
    if job.spec.callback_url is None or not job.state.is_final:
        return []
    ident = event_id(job)
    payload = plugins.webhook_payload(job)
    if payload is None:
        payload = {
            "event_id": ident,
            "event": f"job.{job.state}",
            "job": job_json(job),
            "logs_url": f"/api/v1/jobs/{job.id}/logs?attempt={job.attempt}",
        }
    order = WebhookOrder(
        job_id=job.id,
        event_id=ident,
        url=job.spec.callback_url,
        body=msgspec.json.encode(payload),
        created_at=clock.now(),
    )
    return [(messages.WEBHOOK_TOPIC, msgspec.json.encode(order))]


def backoff_s(attempts: int, cap_s: float) -> float:
    """Exponential, capped, with full jitter: retries of many receivers do not line up."""
    return random.uniform(0, min(cap_s, FIRST_RETRY_S * 2 ** max(attempts - 1, 0)))


class WebhookDeliverer:
    """Leader work (a task of its own): deliver due orders, each on its own, so that a receiver
    that hangs or a URL that cannot even be called never holds back another delivery. A pass
    starts the deliveries of what is due and returns; each ends on its own time (recording its
    attempt) and wakes the task (`wake`) for what became due meanwhile."""

    def __init__(
        self, components: Components, notifier: Any, wake: Callable[[], None] = lambda: None
    ) -> None:
        self.c = components
        self.notifier = notifier
        self.wake = wake
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._in_flight: dict[int, asyncio.Task[int]] = {}  # by outbox row
        # Orders whose outcome the store could not take: each waits before it is tried again.
        self.write_failures = ItemFailures(WEBHOOKS, park_after=2**31, first_s=1.0, cap_s=60.0)
        # Per read of the due orders under way: the deliveries that ended meanwhile (the read
        # may still see their rows: they must not be started again from it).
        self._reading: list[set[int]] = []

    async def run(self) -> float | None:
        """One pass of the task; returns how soon the next order not in flight is due."""
        await self.start_due()
        at = await asyncio.to_thread(self.c.store.outbox_next_at, True)
        if at is None:
            return None
        wait = (at - clock.now()).total_seconds()
        # Due now yet not started: in flight (or beyond MAX_IN_FLIGHT); each end wakes the task.
        return None if wait <= 0 else wait

    async def start_due(self) -> list[asyncio.Task[int]]:
        """Start the delivery of every due order not in flight already (up to MAX_IN_FLIGHT
        at once); returns their tasks (each gives 1 if delivered)."""
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return []
        ended: set[int] = set()
        self._reading.append(ended)
        try:
            items = await asyncio.to_thread(
                self.c.store.outbox_due, clock.now(), room + len(self._in_flight), True
            )
        finally:
            self._reading.remove(ended)
        started: list[asyncio.Task[int]] = []
        for item in items:
            if (
                item.id in self._in_flight
                or item.id in ended
                or not self.write_failures.ready(item.id)
                or len(started) >= room
            ):
                continue  # under way, or just done (its end wakes the task for a new read)
            task = asyncio.create_task(self._one(item), name=f"webhook {item.id}")
            self._in_flight[item.id] = task
            task.add_done_callback(functools.partial(self._ended, item.id))
            started.append(task)
        return started

    def _ended(self, item_id: int, _task: asyncio.Task[int]) -> None:
        self._in_flight.pop(item_id, None)
        for ended in self._reading:
            ended.add(item_id)
        self.wake()

    async def deliver_due(self) -> int:
        """Try every due order once and wait for the outcome; returns how many were delivered."""
        return sum(await asyncio.gather(*await self.start_due()))

    async def close(self) -> None:
        """Stop the deliveries under way (an order not recorded as sent is tried again)."""
        await aio.stop_tasks(list(self._in_flight.values()))

    async def _one(self, item: Any) -> int:
        """Deliver one order and write down how it went; 1 if delivered. If the store cannot
        take the outcome, the order waits (backoff) before it is read and tried again."""
        try:
            delivered = await self._deliver(item)
        except Exception as e:
            self.write_failures.failed(item.id, e, f"webhook order {item.id}")
            return 0
        self.write_failures.succeeded(item.id)
        return delivered

    async def _deliver(self, item: Any) -> int:
        store = self.c.store
        try:
            order = msgspec.json.decode(item.body, type=WebhookOrder)
        except msgspec.DecodeError as e:
            # Nothing can ever deliver it: dropped, with what it was, rather than retried.
            metrics.LEADER_TASK_ERRORS.labels(task="webhooks").inc()
            log.error(
                "webhook order %s unreadable, dropped: %s; it began %r",
                item.id,
                e,
                bytes(item.body[:200]),
            )
            metrics.WEBHOOK_DELIVERIES.labels(outcome="unreadable").inc()
            await asyncio.to_thread(store.outbox_sent, item.id, retry_at=None)
            return 0
        give_up_at = order.created_at + dt.timedelta(seconds=self.c.settings.webhooks.retry_for_s)
        async with self._limit:
            now = clock.now()  # when it is tried (it may have waited for a slot)
            result = await self._attempt(order)
        await asyncio.to_thread(
            store.record_callback, order.job_id, order.event_id, order.url, now, result
        )
        done = result.delivered or now >= give_up_at
        outcome = "delivered" if result.delivered else "gave_up" if done else "retry"
        metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
        if done:
            if not result.delivered:
                log.warning(
                    "webhook %s of job %s to %s given up after %s s",
                    order.event_id,
                    order.job_id,
                    order.url,
                    self.c.settings.webhooks.retry_for_s,
                )
            await asyncio.to_thread(store.outbox_sent, item.id, retry_at=None)
            return int(result.delivered)
        delay = backoff_s(item.attempts + 1, self.c.settings.webhooks.max_backoff_s)
        retry_at = now + dt.timedelta(seconds=delay)
        await asyncio.to_thread(store.outbox_sent, item.id, retry_at=min(retry_at, give_up_at))
        return 0

    async def _attempt(self, order: WebhookOrder) -> DeliveryResult:
        """One delivery through the notifier; whatever it raises is a failed attempt."""
        try:
            result: DeliveryResult = await self.notifier.deliver(
                order.url, order.event_id, order.body
            )
            return result
        except Exception as e:
            metrics.LEADER_TASK_ERRORS.labels(task="webhooks").inc()
            error = f"not attempted: {error_text(e)}"
            log.warning(
                "webhook %s of job %s to %s: %s", order.event_id, order.job_id, order.url, error
            )
            return DeliveryResult(delivered=False, error=error)
