"""Without `allow_private`, a callback host resolving to a private address is refused."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "hook",
            "namespace": "ops",
            "image": "busybox",
            "callback_url": "http://localhost:9/hook",
        },
    ).json()
    assert "id" in job  # a name is accepted at submit; it is checked where it resolves
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "failed")
    attempts = wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}/callbacks").json()["items"],
        timeout=10,
        what="the refused attempt",
    )
    attempt = attempts[0]  # retries (with jitter) may follow; each is refused the same way
    assert attempt["delivered"] is False and attempt["status_code"] is None
    assert attempt["error"].startswith("refused: localhost resolves to the non-public address")
