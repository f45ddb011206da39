"""Leader work that moves accepted jobs to clusters, and the tasks that run it.

* Placement (`kjs.scheduler.placement`) writes a job's dispatch into the outbox with its new state.
* The outbox relay publishes what the outbox holds; a dispatch stays there until the agent
  acknowledges it and is re-published every `ack_timeout_s` until then.
* Every kind of leader work is a task of its own (`kjs.scheduler.leader`): timers, not polling; a
  task sleeps until its next due time or until woken (a submission, a heartbeat, an ack).
  A follower replica that sees such news tells the leader on `kjs.wake` (coalesced); each
  task's slow safety sweep covers a lost wake-up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

import msgspec

from kjs.core import aio, messages, metrics
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.scheduler import gauges
from kjs.scheduler.fairshare import FairShare
from kjs.scheduler.gauges import LeaderGauges
from kjs.scheduler.leader import GAUGES, PLACEMENT, RELAY, ItemFailures, LeaderTasks, Work
from kjs.scheduler.placement import Placement

log = logging.getLogger(__name__)
WAKE_EVERY_S = 0.1  # a follower's burst of news becomes one wake-up message
BATCH = 200


def _seconds_until(at: dt.datetime | None) -> float | None:
    return None if at is None else (at - now()).total_seconds()


class Dispatcher:
    def __init__(self, components: Components) -> None:
        self.c = components
        self.tasks = LeaderTasks(components.election)
        self.placement = Placement(components)
        self.relay_failures = ItemFailures(RELAY, park_after=5)
        self._wake_leader = asyncio.Event()
        self._teller: asyncio.Task[None] | None = None
        self.replica = uuid.uuid4().hex[:12]
        sweep = components.settings.dispatch.sweep_s
        self.add_task(PLACEMENT, self._place, sweep)
        self.add_task(RELAY, self._relay, sweep)
        self.gauges = LeaderGauges(components.store, components.election, FairShare.of(components))
        self.add_task(GAUGES, self.gauges.refresh, gauges.EVERY_S)
        self.tasks.on_lost(self.gauges.clear)
        self.tasks.on_lost(self.placement.forget)

    def add_task(self, name: str, work: Work, every_s: float | None = None) -> None:
        """More leader work, in a task of its own (cron ticks, webhooks, liveness, …)."""
        self.tasks.add(name, work, self.c.settings.dispatch.sweep_s if every_s is None else every_s)

    def wake(self, *tasks: str) -> None:
        """There may be work to place (or `tasks` to run): now if this replica leads, else
        tell the leader."""
        self.tasks.wake(*(tasks or (PLACEMENT, RELAY)))
        if not self.c.election.is_leader:
            self._wake_leader.set()

    async def start(self) -> None:
        # A channel per replica, gone with it: every replica hears every wake-up.
        channel = f"server-{self.replica}#ephemeral"
        await self.c.queue.subscribe(messages.WAKE_TOPIC, channel, self._on_wake)
        self._teller = asyncio.create_task(self._tell_leader(), name="dispatcher wake-ups")
        await self.tasks.start()

    async def close(self) -> None:
        await self.tasks.close()
        await self.placement.close()  # the last pass's reasons: written, not dropped
        if self._teller is not None:
            await aio.stop_tasks([self._teller])

    async def _on_wake(self, delivery: Any) -> bool:
        self.tasks.wake()  # a follower's news: it does not say which work, so all of it
        return True

    async def _tell_leader(self) -> None:
        body = messages.encode(messages.Wake(by=self.replica))
        while True:
            await self._wake_leader.wait()
            self._wake_leader.clear()
            try:
                await self.c.queue.publish(messages.WAKE_TOPIC, body)
            except Exception as e:  # the leader's safety sweep finds the work anyway
                log.debug("wake-up not sent: %s", e)
            await asyncio.sleep(WAKE_EVERY_S)

    async def _place(self) -> float | None:
        # Placed jobs' dispatches and preempted jobs' cancels are in the outbox: out at once.
        if await self.placement.place_due() or self.placement.preempted:
            self.tasks.wake(RELAY)
        if self.placement.unfinished:
            return 0.0  # a key's page budget ran out with jobs still placed: go on at once
        return await self.placement.next_due_in()

    async def _relay(self) -> float | None:
        published = await self.relay_outbox()
        wait = _seconds_until(await asyncio.to_thread(self.c.store.outbox_next_at))
        if not published and wait is not None and wait <= 0:
            return None  # what is due waits for a silent cluster: look again at the cadence
        return wait

    async def dispatch_due(self) -> int:
        """Place every due pending job that has a cluster with room; returns how many (once
        what the pass says of the others is written)."""
        placed = await self.placement.place_due()
        await self.placement.settled()
        return placed

    async def relay_outbox(self) -> int:
        """Publish what is due in the outbox; returns how many messages went out."""
        store, ack_timeout = self.c.store, self.c.settings.dispatch.ack_timeout_s
        items = await asyncio.to_thread(store.outbox_due, now(), BATCH)
        silent = await self._silent_dispatch_topics() if any(i.job_id for i in items) else set()
        # A dispatch stays until acknowledged, re-published when this copy expires; anything
        # else is done once published.
        expires_at = now() + dt.timedelta(seconds=ack_timeout)
        sent: list[tuple[int, dt.datetime | None]] = []
        try:
            for item in items:
                if item.job_id and item.topic in silent:
                    continue  # let its copies expire: then the sweeper moves it elsewhere
                try:
                    if item.job_id:
                        body = _with_expiry(item.body, expires_at)
                    else:
                        body = item.body
                        messages.decode(body)  # what no agent could read is not worth sending
                except Exception as e:  # this row's fault: the others go on
                    await self._failed(item, e)
                    continue
                try:
                    await self.c.queue.publish(item.topic, body)  # an outage fails the pass
                except Exception:
                    metrics.QUEUE_PUBLISH_ERRORS.inc()
                    raise
                sent.append((item.id, expires_at if item.job_id else None))
                self.relay_failures.succeeded(item.id)
                metrics.OUTBOX_PUBLISHED.inc()
        finally:  # what went out is written down in one transaction, even if the rest failed
            if sent:
                await asyncio.to_thread(store.outbox_sent_many, sent)
        return len(sent)

    async def _failed(self, item: Any, error: Exception) -> None:
        """An outbox row that cannot be sent: retried with backoff, then dropped (it stays in
        the log, with its job id)."""
        what = f"outbox row {item.id} ({item.topic}, job {item.job_id})"
        if self.relay_failures.failed(item.id, error, what):
            log.error("%s dropped; its body began %r", what, bytes(item.body[:200]))
            await asyncio.to_thread(self.c.store.outbox_sent, item.id, retry_at=None)
            return
        delay = self.relay_failures.first_s * 2**item.attempts
        retry_at = now() + dt.timedelta(seconds=min(delay, self.relay_failures.cap_s))
        await asyncio.to_thread(self.c.store.outbox_sent, item.id, retry_at=retry_at)

    async def _silent_dispatch_topics(self) -> set[str]:
        at = now()
        return {
            messages.dispatch_topic(c.id)
            for c in await asyncio.to_thread(self.c.store.list_clusters)
            if self.c.cluster_state(c, at) == "unreachable"
        }


def _with_expiry(body: bytes, expires_at: dt.datetime) -> bytes:
    """A dispatch's body stamped with the moment after which no agent may act on this copy."""
    message = messages.decode(body)
    if not isinstance(message, messages.Dispatch):
        return body
    return messages.encode(msgspec.structs.replace(message, expires_at=expires_at))
