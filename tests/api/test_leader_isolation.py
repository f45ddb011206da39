"""One item's fault stays with that item: poisoned outbox rows, a webhook URL that cannot be
called, a plugin that raises on one job — the leader's other work goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from kjs.core import messages
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.core.protocols import DeliveryResult
from kjs.scheduler.webhooks import WebhookDeliverer, WebhookOrder
from kjs.sqlstore import tables as t
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state
from tests.api.test_webhooks import Receiver, receiver  # noqa: F401  (fixture)

SWEEP_S = 2.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhooks": {"allow_private": True}, "dispatch": {"sweep_s": SWEEP_S}}


def task_errors(task: str) -> float:
    return REGISTRY.get_sample_value("kjs_leader_task_errors_total", {"task": task}) or 0.0


def write_outbox(client: TestClient[Any], topic: str, body: bytes, job_id: str | None) -> None:
    """An outbox row written straight into the store, as a bug or a bad hand would."""
    engine = client.app.state.components.store.engine
    with engine.begin() as conn:
        conn.execute(
            t.outbox.insert(),
            {
                "topic": topic,
                "body": body,
                "job_id": job_id,
                "available_at": dt.datetime.now(dt.UTC),
                "attempts": 0,
            },
        )


class Counting:
    """A notifier that delivers everything, noting each event id it was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def deliver(self, url: str, event_id: str, body: bytes) -> DeliveryResult:
        self.calls.append(event_id)
        return DeliveryResult(delivered=True, status_code=204)


def lone_deliverer(client: TestClient[Any], notifier: Any) -> WebhookDeliverer:
    """A deliverer of one due order (job j1, event e1), with the app's own webhook task
    stopped: it must not deliver the order first."""
    client.blocking_portal.call(client.app.state.dispatcher.tasks.close)
    order = WebhookOrder(
        job_id="j1",
        event_id="e1",
        url="https://hooks.example.com/x",
        body=b"{}",
        created_at=dt.datetime.now(dt.UTC),
    )
    write_outbox(client, messages.WEBHOOK_TOPIC, msgspec.json.encode(order), None)
    return WebhookDeliverer(client.app.state.components, notifier)


def submit(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    body = {"name": "j", "namespace": "ops", "image": "busybox", **fields}
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def test_poisoned_outbox_rows_do_not_stop_dispatch_or_delivery(
    client: TestClient[Any],
    agent: FakeAgent,
    receiver: Receiver,  # noqa: F811
) -> None:
    # A job whose stored spec no longer reads (written by hand, or by a bug)…
    unreadable = submit(client)
    with client.app.state.components.store.engine.begin() as conn:
        conn.execute(t.jobs.update().where(t.jobs.c.id == unreadable["id"]).values(spec=b"{"))
    agent.heartbeat()
    errors_before = task_errors("webhooks") + task_errors("relay")
    # A delivery order to a URL nothing can call (the port is out of range: httpx raises an
    # ExceptionGroup), one that is not an order at all, and dispatches no agent could read.
    order = WebhookOrder(
        job_id="poisoned",
        event_id="e-poisoned",
        url="http://8.8.8.8:99999/h",
        body=b"{}",
        created_at=dt.datetime.now(dt.UTC),
    )
    write_outbox(client, messages.WEBHOOK_TOPIC, msgspec.json.encode(order), None)
    write_outbox(client, messages.WEBHOOK_TOPIC, b"\xff not an order", None)
    write_outbox(client, messages.dispatch_topic("c1"), b"{not a dispatch", "ghost")
    write_outbox(client, messages.control_topic("c1"), b"[]", None)

    job = submit(client, callback_url=receiver.url)
    wait_state(client, job["id"], "dispatched", timeout=SWEEP_S + 2)
    agent.status(job, "succeeded")
    wait_state(client, job["id"], "succeeded")
    wait_until(lambda: receiver.received, timeout=SWEEP_S + 2, what="the later job's webhook")
    # The order nobody can call is a recorded failed attempt, retried later, not a crash.
    attempts = client.get("/api/v1/jobs/poisoned/callbacks")
    assert attempts.status_code == 404  # not a job: the attempt is recorded under its id below
    rows = client.app.state.components.store.list_callbacks("poisoned")
    assert rows and not rows[0]["delivered"] and "not attempted" not in (rows[0]["error"] or "")
    assert "99999" in (rows[0]["error"] or "") or "port" in (rows[0]["error"] or "").lower()
    assert task_errors("webhooks") + task_errors("relay") > errors_before
    assert [d.job_id for d in agent.dispatches()] == [job["id"]]  # the garbage never went out


def test_a_notifier_that_raises_is_a_recorded_failed_attempt(
    client: TestClient[Any],
) -> None:
    class Raising:
        async def deliver(self, url: str, event_id: str, body: bytes) -> DeliveryResult:
            raise ExceptionGroup("boom", [ValueError("no")])

    c = client.app.state.components
    deliverer = lone_deliverer(client, Raising())
    assert client.blocking_portal.call(deliverer.deliver_due) == 0
    (attempt,) = c.store.list_callbacks("j1")
    assert not attempt["delivered"] and attempt["error"] == "not attempted: ValueError: no"
    with c.store.engine.connect() as conn:
        (row,) = conn.execute(sa.select(t.outbox.c.attempts)).all()
    assert row.attempts == 1  # kept, to be tried again later


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://8.8.8.8:99999/h", "port"),
        ("http://8.8.8.8:0/h", "port"),
        ("http://:80/h", "host"),
        ("http://exa mple.com/h", "spaces"),
        ("ftp://example.com/h", "http"),
    ],
)
def test_a_callback_url_that_cannot_be_called_is_refused_at_submit(
    client: TestClient[Any], url: str, why: str
) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={"name": "j", "namespace": "ops", "image": "busybox", "callback_url": url},
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "callback_url" and why in error["message"]


class PicksBadly:
    """A `select_cluster` plugin that raises for jobs named `poison`."""

    @hookimpl
    def select_cluster(self, job: Any, clusters: Any) -> str | None:
        if job.spec.name == "poison":
            raise RuntimeError("this plugin cannot place poison")
        return None


@pytest.fixture
def client_with_plugin(tmp_path: Any) -> Any:
    from kjs.core.config import load
    from kjs.server import create_app

    plugins = Plugins(autoload=False, extra=[PicksBadly()])
    settings = load(
        environ={}, overrides={"data_dir": str(tmp_path), "dispatch": {"sweep_s": SWEEP_S}}
    )
    with TestClient(create_app(settings, plugins=plugins)) as test_client:
        yield test_client


def test_a_job_a_plugin_cannot_place_waits_alone_then_fails_with_the_reason(
    client_with_plugin: TestClient[Any],
) -> None:
    client = client_with_plugin
    agent = FakeAgent(client, "c1")
    agent.heartbeat()
    failures = client.app.state.dispatcher.placement.failures
    failures.first_s = 0.05  # its backoff, short for the test
    before = task_errors("placement")
    poison = submit(client, name="poison")
    later = submit(client, name="fine")
    wait_state(client, later["id"], "dispatched", timeout=SWEEP_S + 2)
    failed = wait_state(client, poison["id"], "failed", timeout=30)
    assert failed["reason"] == "DispatchError"
    assert "this plugin cannot place poison" in failed["message"]
    assert task_errors("placement") - before == failures.park_after
    assert [d.job_id for d in agent.dispatches()] == [later["id"]]


def test_a_delivery_that_ends_while_due_orders_are_read_is_not_started_again(
    client: TestClient[Any],
) -> None:
    c, notifier = client.app.state.components, Counting()
    deliverer = lone_deliverer(client, notifier)
    stale = c.store.outbox_due(dt.datetime.now(dt.UTC), 10, True)  # what a slow read returns

    async def race() -> int:
        (first,) = await deliverer.start_due()
        delivered = asyncio.Event()
        first.add_done_callback(lambda _t: delivered.set())

        def slow_read(*args: Any) -> list[Any]:  # the first delivery ends during this read
            asyncio.run_coroutine_threadsafe(delivered.wait(), client.app.state.loop).result(5)
            return stale  # read before the delivery ended: its row is still there

        original, c.store.outbox_due = c.store.outbox_due, slow_read
        try:
            again = await deliverer.start_due()
        finally:
            c.store.outbox_due = original
        return len(again)

    assert client.blocking_portal.call(race) == 0
    assert notifier.calls == ["e1"]


def test_an_outcome_the_store_cannot_take_makes_the_order_wait_not_repeat_at_once(
    client: TestClient[Any],
) -> None:
    c, notifier = client.app.state.components, Counting()
    deliverer = lone_deliverer(client, notifier)

    def refused(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    original, c.store.record_callback = c.store.record_callback, refused
    errors_before = task_errors("webhooks")
    try:
        assert client.blocking_portal.call(deliverer.deliver_due) == 0  # no traceback
        assert client.blocking_portal.call(deliverer.deliver_due) == 0  # waits: not tried
    finally:
        c.store.record_callback = original
    assert notifier.calls == ["e1"]
    assert task_errors("webhooks") > errors_before
