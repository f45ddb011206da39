"""The figures the leader's work counts and the consumer times: queue publish errors, webhook
deliveries by outcome, accepted → created and terminated → stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from prometheus_client import REGISTRY

from kjs.core import components, messages
from kjs.core.clock import now
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.protocols import DeliveryResult
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.scheduler.consumer import _observe_latencies
from kjs.scheduler.dispatcher import Dispatcher
from kjs.scheduler.webhooks import WebhookDeliverer, order_for


class RefusingQueue:
    async def publish(self, topic: str, body: bytes) -> None:
        raise ConnectionError("nsqd is down")


class ScriptedNotifier:
    """Answers each delivery with the next of `results`."""

    def __init__(self, *results: bool) -> None:
        self.results = list(results)

    async def deliver(self, url: str, event_id: str, body: bytes) -> DeliveryResult:
        return DeliveryResult(delivered=self.results.pop(0), status_code=200)

    async def close(self) -> None: ...


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def built(tmp_path: Path, **overrides: object) -> components.Components:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), **overrides})
    c = components.build(settings, queue=RefusingQueue())
    c.store.migrate()
    return c


def a_job(state: JobState = JobState.PENDING, **fields: object) -> JobRecord:
    at = now()
    job = JobRecord(
        id="job-1",
        spec=JobSpec(name="j", namespace="ns", image="busybox", callback_url="http://x/hook"),
        state=state,
        k8s_name="j-1",
        created_at=at,
        updated_at=at,
    )
    return msgspec.structs.replace(job, **fields)


async def test_a_message_the_queue_refuses_is_counted_and_kept(tmp_path: Path) -> None:
    c = built(tmp_path)
    c.store.add_outbox([("kjs.control.c1", messages.encode(messages.Wake(by="test")))])
    before = sample("kjs_queue_publish_errors_total")
    with pytest.raises(ConnectionError):
        await Dispatcher(c).relay_outbox()
    assert sample("kjs_queue_publish_errors_total") == before + 1
    assert c.store.outbox_depth(now()).messages_due == 1  # published later, not lost


async def test_webhook_deliveries_are_counted_by_outcome(tmp_path: Path) -> None:
    c = built(tmp_path, webhooks={"retry_for_s": 3600})
    job = a_job(JobState.SUCCEEDED, cluster_id="c1", finished_at=now())
    c.store.create_job(job, order_for(job, c.plugins))
    deliverer = WebhookDeliverer(c, ScriptedNotifier(False, True))
    before = {o: sample("kjs_webhook_deliveries_total", outcome=o) for o in ("retry", "delivered")}
    assert await deliverer.deliver_due() == 0  # failed: a retry, later
    (item,) = c.store.outbox_due(now() + dt.timedelta(hours=1), 10, webhooks=True)
    c.store.outbox_sent(item.id, retry_at=now())  # due again now
    assert await deliverer.deliver_due() == 1
    after = {o: sample("kjs_webhook_deliveries_total", outcome=o) for o in ("retry", "delivered")}
    assert after == {"retry": before["retry"] + 1, "delivered": before["delivered"] + 1}


def observed(name: str) -> tuple[float, float]:
    return sample(f"{name}_count"), sample(f"{name}_sum")


def test_accepted_to_created_counts_from_when_the_job_was_due() -> None:
    name = "kjs_job_accepted_to_created_seconds"
    accepted = now() - dt.timedelta(seconds=100)
    delayed = a_job(
        JobState.DISPATCHED, created_at=accepted, run_at=accepted + dt.timedelta(seconds=90)
    )
    event = messages.StatusEvent(
        cluster_id="c1",
        job_id="job-1",
        attempt=1,
        state="created",
        at=accepted + dt.timedelta(seconds=92),
    )
    count, total = observed(name)
    _observe_latencies(delayed, msgspec.structs.replace(delayed, state=JobState.CREATED), event)
    new_count, new_total = observed(name)
    assert new_count == count + 1
    assert new_total - total == pytest.approx(2)  # from its run_at, not its acceptance
    # News within the created state, or a cancel before the object existed: nothing more.
    created = msgspec.structs.replace(delayed, state=JobState.CREATED)
    _observe_latencies(created, msgspec.structs.replace(created, state=JobState.RUNNING), event)
    _observe_latencies(delayed, msgspec.structs.replace(delayed, state=JobState.CANCELLED), event)
    assert observed(name)[0] == count + 1


def test_terminated_to_stored_counts_from_the_end_the_agent_saw() -> None:
    name = "kjs_job_terminated_to_stored_seconds"
    running = a_job(JobState.RUNNING)
    ended = now() - dt.timedelta(seconds=3)
    event = messages.StatusEvent(
        cluster_id="c1", job_id="job-1", attempt=1, state="succeeded", at=ended
    )
    count, total = observed(name)
    _observe_latencies(running, msgspec.structs.replace(running, state=JobState.SUCCEEDED), event)
    new_count, new_total = observed(name)
    assert new_count == count + 1 and 3 <= new_total - total < 10
