"""Cron jobs through the API: native (a CronJob on one cluster) and managed (server-fired runs)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

CRON = {
    "name": "nightly",
    "namespace": "ops",
    "image": "busybox",
    "command": ["date"],
    "schedule": "0 3 * * *",
}


def create(client: TestClient[Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/cronjobs", json={**CRON, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_cron_job_is_created_with_its_next_run(client: TestClient[Any]) -> None:
    cron = create(client, time_zone="Europe/Berlin")
    assert cron["mode"] == "native" and cron["state"] == "pending"
    assert cron["next_run_at"] is not None and cron["runs_total"] == 0
    assert client.get(f"/api/v1/cronjobs/{cron['id']}").json()["id"] == cron["id"]
    assert [c["id"] for c in client.get("/api/v1/cronjobs").json()["items"]] == [cron["id"]]


def test_a_bad_schedule_is_a_400_with_kubernetes_words(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/cronjobs", json={**CRON, "schedule": "0 25 * * *"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "schedule", "message": "end of range (25) above maximum (23): 25"}
    ]
    tz = client.post("/api/v1/cronjobs", json={**CRON, "schedule": "CRON_TZ=UTC 0 3 * * *"})
    assert tz.json()["errors"][0]["message"].startswith("cannot use TZ or CRON_TZ in schedule")


def test_a_native_cron_job_becomes_a_cronjob_on_one_cluster(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    cron = create(client)
    (dispatch,) = wait_until(agent.dispatches, timeout=5, what="the CronJob dispatch")
    assert dispatch.kind == "cronjob" and dispatch.job_id == cron["id"]
    assert dispatch.manifest["kind"] == "CronJob"
    assert dispatch.manifest["spec"]["schedule"] == "0 3 * * *"
    assert client.get(f"/api/v1/cronjobs/{cron['id']}").json()["cluster_id"] == "c1"
    agent.status({"id": cron["id"], "attempt": 1}, "created")
    wait_until(
        lambda: client.get(f"/api/v1/cronjobs/{cron['id']}").json()["state"] == "created",
        timeout=5,
        what="the CronJob to be created",
    )
    # A run its CronJob started, reported by the agent under an id of its own:
    run = {"id": "9d5b5a1e-0000-4000-8000-000000000001", "attempt": 1}
    agent.status(run, "running", cron_id=cron["id"], k8s_name="nightly-x-29012345")
    agent.status(run, "succeeded", cron_id=cron["id"])
    wait_state(client, run["id"], "succeeded")
    runs = client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"]
    assert [r["id"] for r in runs] == [run["id"]] and runs[0]["cron_id"] == cron["id"]
    counted = client.get(f"/api/v1/cronjobs/{cron['id']}").json()
    assert (counted["runs_total"], counted["runs_succeeded"]) == (1, 1)

    assert client.post(f"/api/v1/cronjobs/{cron['id']}/suspend").json()["suspend"] is True
    client.post(f"/api/v1/cronjobs/{cron['id']}/resume")
    assert client.delete(f"/api/v1/cronjobs/{cron['id']}").status_code == 200
    actions = wait_until(
        lambda: (
            [c.action for c in agent.controls()] == ["suspend", "resume", "cancel"]
            and agent.controls()
        ),
        timeout=5,
        what="control messages",
    )
    assert all(c.kind == "cronjob" and c.k8s_name == cron["k8s_name"] for c in actions)
    assert client.get(f"/api/v1/cronjobs/{cron['id']}").status_code == 404


def test_a_managed_cron_job_fires_each_tick_once_as_a_job(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat(capacity=50)
    cron = create(client, mode="managed", schedule="@every 1s")
    assert cron["state"] == "active"
    runs = wait_until(
        lambda: (
            len(items := client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"]) >= 3
            and items
        ),
        timeout=15,
        what="three runs",
    )
    assert all(r["cron_id"] == cron["id"] for r in runs)
    dispatched = wait_until(
        lambda: (
            {d.job_id for d in agent.dispatches()} >= {r["id"] for r in runs} and agent.dispatches()
        ),
        timeout=10,
        what="runs dispatched",
    )
    assert all(d.manifest["metadata"]["labels"]["kjs.io/cron-id"] == cron["id"] for d in dispatched)
    assert client.post(f"/api/v1/cronjobs/{cron['id']}/suspend").status_code == 200
    total = client.get(f"/api/v1/cronjobs/{cron['id']}").json()["runs_total"]
    assert client.get(f"/api/v1/cronjobs/{cron['id']}").json()["next_run_at"] is None
    triggered = client.post(f"/api/v1/cronjobs/{cron['id']}/trigger")
    assert triggered.status_code == 201 and triggered.json()["cron_id"] == cron["id"]
    assert client.get(f"/api/v1/cronjobs/{cron['id']}").json()["runs_total"] == total + 1


def test_forbid_skips_ticks_while_a_run_is_active(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat(capacity=50)
    cron = create(client, mode="managed", schedule="@every 1s", concurrency_policy="Forbid")
    (first,) = wait_until(
        lambda: client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"],
        timeout=10,
        what="the first run",
    )
    wait_until(
        lambda: client.get("/api/v1/cronjobs/" + cron["id"]).json()["last_run_at"],
        timeout=5,
        what="the first tick",
    )
    # Two more ticks pass while the first run is still going: neither starts a run.
    ticks = wait_until(
        lambda: (c := client.get(f"/api/v1/cronjobs/{cron['id']}").json())["next_run_at"] and c,
        timeout=5,
        what="next tick",
    )
    wait_until(
        lambda: (
            client.get(f"/api/v1/cronjobs/{cron['id']}").json()["next_run_at"]
            > ticks["next_run_at"]
        ),
        timeout=10,
        what="a skipped tick",
    )
    assert len(client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"]) == 1
    agent.status(first, "succeeded")
    wait_until(
        lambda: len(client.get(f"/api/v1/cronjobs/{cron['id']}/runs").json()["items"]) == 2,
        timeout=10,
        what="the next run once the first has finished",
    )
