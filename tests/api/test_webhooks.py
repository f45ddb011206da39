"""Webhooks: signed, at least once with a stable event id, every attempt recorded, guarded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

SECRET = "s3cret"


class Receiver:
    """A webhook receiver on 127.0.0.1 that can be told to fail its first N requests."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhooks": {"secret": SECRET, "allow_private": True}}


def verify(headers: dict[str, str], body: bytes) -> None:
    fields = dict(part.split("=", 1) for part in headers["X-Kjs-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())


def finished_job(client: TestClient[Any], agent: FakeAgent, url: str) -> dict[str, Any]:
    agent.heartbeat()
    job = client.post(
        "/api/v1/jobs",
        json={"name": "hook", "namespace": "ops", "image": "busybox", "callback_url": url},
    ).json()
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "succeeded")
    wait_state(client, job["id"], "succeeded")
    return job


def test_a_final_state_is_announced_signed(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    job = finished_job(client, agent, receiver.url)
    ((headers, body),) = wait_until(lambda: receiver.received, timeout=10, what="the webhook")
    payload = json.loads(body)
    assert payload["event"] == "job.succeeded" and payload["job"]["id"] == job["id"]
    assert payload["job"]["state"] == "succeeded"
    assert payload["logs_url"] == f"/api/v1/jobs/{job['id']}/logs?attempt=1"
    assert headers["X-Kjs-Event-Id"] == payload["event_id"]
    assert headers["Content-Type"] == "application/json"
    verify(headers, body)


def test_a_failing_receiver_gets_it_again_with_the_same_event_id(
    client: TestClient[Any],
    agent: FakeAgent,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    job = finished_job(client, agent, receiver.url)
    ((headers, _),) = wait_until(lambda: receiver.received, timeout=20, what="a delivery")
    attempts = client.get(f"/api/v1/jobs/{job['id']}/callbacks").json()["items"]
    assert [(a["status_code"], a["delivered"]) for a in attempts] == [
        (500, False),
        (500, False),
        (204, True),
    ]
    assert {a["event_id"] for a in attempts} == {headers["X-Kjs-Event-Id"]}
    assert all(a["url"] == receiver.url and a["duration_ms"] >= 0 for a in attempts)
    # Asked for again: the same event, delivered once more.
    assert client.post(f"/api/v1/jobs/{job['id']}/callbacks/redeliver").status_code == 202
    wait_until(lambda: len(receiver.received) == 2, timeout=10, what="the redelivery")
    assert receiver.received[1][0]["X-Kjs-Event-Id"] == headers["X-Kjs-Event-Id"]


def test_cancelling_a_pending_job_announces_it(client: TestClient[Any], receiver: Receiver) -> None:
    job = client.post(
        "/api/v1/jobs",
        json={"name": "hook", "namespace": "ops", "image": "busybox", "callback_url": receiver.url},
    )
    client.delete(f"/api/v1/jobs/{job.json()['id']}")
    ((_, body),) = wait_until(lambda: receiver.received, timeout=10, what="the webhook")
    assert json.loads(body)["event"] == "job.cancelled"


def test_only_final_jobs_can_have_their_webhook_redelivered(
    client: TestClient[Any], receiver: Receiver
) -> None:
    job = client.post(
        "/api/v1/jobs",
        json={"name": "hook", "namespace": "ops", "image": "busybox", "callback_url": receiver.url},
    )
    assert client.post(f"/api/v1/jobs/{job.json()['id']}/callbacks/redeliver").status_code == 409


def test_a_receiver_that_hangs_does_not_hold_back_another_delivery(
    client: TestClient[Any], agent: FakeAgent, receiver: Receiver
) -> None:
    # A receiver that accepts the connection and never answers (until the test ends).
    hang, arrived = threading.Event(), threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived.set()
            hang.wait(30)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    stuck = HTTPServer(("127.0.0.1", 0), Hanging)
    threading.Thread(target=stuck.serve_forever, daemon=True).start()
    try:
        finished_job(client, agent, f"http://127.0.0.1:{stuck.server_port}/hook")
        # The hanging delivery is under way (webhooks time out after 10 s)…
        wait_until(arrived.is_set, timeout=5, what="the delivery to the hanging receiver")
        job = finished_job(client, agent, receiver.url)
        # …and the next job's webhook arrives long before that.
        ((_, body),) = wait_until(lambda: receiver.received, timeout=5, what="the webhook")
        assert json.loads(body)["job"]["id"] == job["id"]
    finally:
        hang.set()
        stuck.shutdown()
