"""The leader's work as isolated, supervised tasks.

Placement, the outbox relay, webhook delivery, cron ticks, native crons, liveness, reconciling
and retention each run in a loop of their own, with their own cadence: a slow webhook receiver
never delays placement, and a pass that fails is logged, counted and tried again with backoff
without stopping any other task. Inside a pass, `ItemFailures` keeps one item's fault to that
item: it is retried with backoff, then parked, while the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from kjs.core import aio, metrics
from kjs.core.protocols import Election

log = logging.getLogger(__name__)
# A burst of wake-ups (some arrive while a pass runs) becomes one pass: the next starts this
# long after the last began. A wake-up that finds the task idle runs at once (no fixed delay on
# every job's way, nor behind a timer's pass that found nothing).
COALESCE_S = 0.02
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0

# The tasks' names (the `task` label of kjs_leader_task_errors_total, and what `wake` takes).
PLACEMENT = "placement"
RELAY = "relay"
WEBHOOKS = "webhooks"
CRON_TICKS = "cron-ticks"
NATIVE_CRONS = "native-crons"
LIVENESS = "liveness"
RECONCILE = "reconcile"
RETENTION = "retention"
GAUGES = "gauges"

# One pass of a task; returns how soon it wants to run again (None: at its cadence).
Work = Callable[[], Awaitable[float | None]]


@dataclass
class _Task:
    name: str
    work: Work
    every_s: float
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class LeaderTasks:
    """Runs each registered task while this replica leads."""

    def __init__(self, election: Election, replica: str | None = None) -> None:
        self.election = election
        self._tasks: dict[str, _Task] = {}
        self._running: list[asyncio.Task[None]] = []
        # kjs_leader's label: the host name, which in Kubernetes is the pod's name.
        self._leading = metrics.LEADER.labels(replica=replica or socket.gethostname())
        self._on_lost: list[Callable[[], None]] = []

    def add(self, name: str, work: Work, every_s: float) -> None:
        self._tasks[name] = _Task(name, work, every_s)

    def wake(self, *names: str) -> None:
        """Run these tasks (all, when none is named) now rather than at their next time."""
        for name in names or tuple(self._tasks):
            task = self._tasks.get(name)
            if task is not None:
                task.woken.set()

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call this whenever leadership is lost (and on close): e.g. clear leader-only gauges."""
        self._on_lost.append(callback)

    async def start(self) -> None:
        self._running = [
            asyncio.create_task(self._loop(task), name=f"leader task {task.name}")
            for task in self._tasks.values()
        ]
        self._running.append(asyncio.create_task(self._follow(), name="leadership gauge"))

    async def close(self) -> None:
        await aio.stop_tasks(self._running)
        self._running = []
        self._lost()

    async def _follow(self) -> None:
        self._leading.set(0)
        while True:
            await self.election.wait_leader()
            self._leading.set(1)
            await self.election.wait_lost()
            self._lost()

    def _lost(self) -> None:
        self._leading.set(0)
        for callback in self._on_lost:
            callback()

    async def _loop(self, task: _Task) -> None:
        failures = 0
        while True:
            await self.election.wait_leader()
            # Cleared before the pass, not after: a wake-up during the pass means another pass.
            task.woken.clear()
            started = time.monotonic()
            try:
                delay = await task.work()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the store or queue is down, or a bug: never stop the loop
                failures += 1
                metrics.LEADER_TASK_ERRORS.labels(task=task.name).inc()
                log.error(
                    "leader task %s failed (%d in a row): %s",
                    task.name,
                    failures,
                    e,
                    exc_info=failures == 1,
                )
                # Backoff, which wake-ups do not cut short: a failing store is not hammered.
                await asyncio.sleep(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (failures - 1)))
                continue
            delay = task.every_s if delay is None else max(0.0, min(delay, task.every_s))
            if task.woken.is_set():  # woken during the pass: a burst, let it gather
                await asyncio.sleep(max(0.0, COALESCE_S - (time.monotonic() - started)))
            else:
                await aio.wait_event(task.woken, delay)


@dataclass
class _Failure:
    count: int
    retry_at: float


class ItemFailures:
    """What failed for one task, item by item: each failed item waits (exponential backoff from
    `first_s`) before it is tried again, and after `park_after` failures in a row the task parks
    it (for good, in whatever way fits the item: a final state, a dropped message)."""

    def __init__(
        self, task: str, *, park_after: int = 5, first_s: float = 1.0, cap_s: float = 300.0
    ) -> None:
        self.task = task
        self.park_after = park_after
        self.first_s = first_s
        self.cap_s = cap_s
        self._failures: dict[Hashable, _Failure] = {}

    def ready(self, key: Hashable) -> bool:
        """Whether the item may be tried now (it has not failed, or its backoff has passed)."""
        failure = self._failures.get(key)
        return failure is None or time.monotonic() >= failure.retry_at

    def waiting(self) -> set[Hashable]:
        """The items in backoff now."""
        at = time.monotonic()
        return {key for key, f in self._failures.items() if at < f.retry_at}

    def failed(self, key: Hashable, error: BaseException, what: str = "") -> bool:
        """Record a failure of item `key`; True when it failed `park_after` times: park it."""
        failure = self._failures.get(key)
        count = failure.count + 1 if failure else 1
        metrics.LEADER_TASK_ERRORS.labels(task=self.task).inc()
        park = count >= self.park_after
        log.error(
            "leader task %s: %s failed (%d of %d%s): %s: %s",
            self.task,
            what or key,
            count,
            self.park_after,
            ", parked" if park else "",
            error.__class__.__name__,
            error,
            exc_info=count == 1,
        )
        if park:
            self._failures.pop(key, None)
        else:
            delay = min(self.cap_s, self.first_s * 2 ** (count - 1))
            self._failures[key] = _Failure(count, time.monotonic() + delay)
        return park

    def succeeded(self, key: Hashable) -> None:
        self._failures.pop(key, None)
