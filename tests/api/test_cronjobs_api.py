"""Cron jobs through the API: native (a CronJob on one cluster) and managed (server-fired runs)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from kjs.core import messages
from kjs.core.config import load
from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, occupy, wait_state

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


# -- a native cron job's route changes: attempt n+1 goes where the new spec says -----------------


def cron_of(client: TestClient[Any], cron_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/cronjobs/{cron_id}").json()
    return body


def created_on(client: TestClient[Any], agent: FakeAgent, **fields: Any) -> dict[str, Any]:
    """A native cron job whose CronJob `agent`'s cluster has created."""
    cron = create(client, **fields)
    wait_until(agent.dispatches, timeout=5, what=f"the CronJob dispatch to {agent.cluster_id}")
    agent.status({"id": cron["id"], "attempt": 1}, "created", k8s_name=cron["k8s_name"])
    wait_until(
        lambda: cron_of(client, cron["id"])["state"] == "created",
        timeout=5,
        what="the CronJob to be created",
    )
    return cron


def cancel_of_attempt_1(cron: dict[str, Any]) -> messages.Control:
    return messages.Control(
        action="cancel",
        kind="cronjob",
        job_id=cron["id"],
        attempt=1,
        namespace=cron["namespace"],
        k8s_name=cron["k8s_name"],
    )


def patch(client: TestClient[Any], cron_id: str, **changes: Any) -> dict[str, Any]:
    response = client.patch(f"/api/v1/cronjobs/{cron_id}", json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def settles(client: TestClient[Any], cron_id: str, **expected: Any) -> dict[str, Any]:
    """Waits for the cron job to look like `expected`, then checks it stays so a moment."""

    def matches() -> dict[str, Any] | None:
        cron = cron_of(client, cron_id)
        return cron if all(cron[k] == v for k, v in expected.items()) else None

    wait_until(matches, timeout=5, what=f"cron job {cron_id} to be {expected}")
    time.sleep(0.5)  # later news (an old attempt's) must not move it
    cron = matches()
    assert cron is not None, cron_of(client, cron_id)
    return cron


def test_a_new_route_moves_the_next_attempt_and_fences_the_old_cronjob(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat()
    c2.heartbeat()
    cron = created_on(client, c1, cluster="c1")

    edited = patch(client, cron["id"], cluster="c2")
    assert edited["attempt"] == 2 and edited["cluster"] == "c2"
    (moved,) = wait_until(c2.dispatches, timeout=5, what="attempt 2's CronJob on c2")
    assert (moved.kind, moved.job_id, moved.attempt) == ("cronjob", cron["id"], 2)
    assert moved.manifest["metadata"]["labels"]["kjs.io/attempt"] == "2"
    assert moved.replaces is None  # not on c2: the cancel deletes it from c1
    (fence,) = wait_until(c1.controls, timeout=5, what="the cancel of attempt 1 on c1")
    assert fence == cancel_of_attempt_1(cron)
    assert len(c1.dispatches()) == 1  # attempt 2 was not sent to c1

    c2.status(
        {"id": cron["id"], "attempt": 2}, "created", k8s_name=moved.manifest["metadata"]["name"]
    )
    settles(client, cron["id"], state="created", attempt=2, cluster_id="c2")
    # c1 confirms the old CronJob is gone: news of attempt 1, which changes nothing.
    c1.status({"id": cron["id"], "attempt": 1}, "cancelled", reason="Cancelled")
    after = settles(client, cron["id"], state="created", attempt=2, cluster_id="c2")
    assert after["k8s_name"] == moved.manifest["metadata"]["name"]


def test_without_a_new_route_the_next_attempt_stays_and_the_extra_cancel_is_harmless(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat()
    c2.heartbeat(capacity=1)
    cron = created_on(client, c1)
    occupy(client, "c1")  # full now: a new placement would go to c2

    edited = patch(client, cron["id"], command=["date", "-u"], namespace="ops2")
    assert edited["attempt"] == 2 and edited["cluster_id"] == "c1"
    _, kept = wait_until(
        lambda: len(c1.dispatches()) == 2 and c1.dispatches(),
        timeout=5,
        what="attempt 2's CronJob on c1",
    )
    assert kept.attempt == 2 and kept.replaces is not None and c2.dispatches() == []
    assert kept.manifest["metadata"]["namespace"] == "ops2"
    # Its `replaces` looks in the new namespace: the cancel deletes the old one where it is.
    (fence,) = wait_until(c1.controls, timeout=5, what="the cancel of attempt 1 on c1")
    assert fence == cancel_of_attempt_1(cron) and fence.namespace == "ops"

    # The agent's answers, the cancel's confirmation first: attempt 2 is what counts.
    c1.status({"id": cron["id"], "attempt": 1}, "cancelled", reason="Cancelled")
    c1.status({"id": cron["id"], "attempt": 2}, "created", k8s_name=edited["k8s_name"])
    settles(client, cron["id"], state="created", attempt=2, cluster_id="c1")


def test_a_cluster_no_longer_matching_the_selector_loses_the_next_attempt(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat(labels={"zone": "a"})
    c2.heartbeat(capacity=1, labels={"zone": "a"})
    cron = created_on(client, c1, cluster_selector={"zone": "a"})
    c1.heartbeat(labels={"zone": "b"})  # the spec is the same, the cluster is not

    patch(client, cron["id"], command=["date", "-u"])
    (moved,) = wait_until(c2.dispatches, timeout=5, what="attempt 2's CronJob on c2")
    assert moved.attempt == 2
    (fence,) = wait_until(c1.controls, timeout=5, what="the cancel of attempt 1 on c1")
    assert fence == cancel_of_attempt_1(cron)


def test_an_edit_before_the_cronjob_was_sent_cancels_nothing(client: TestClient[Any]) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat(capacity=0)  # full: the CronJob waits, pending
    c2.heartbeat()
    cron = create(client, cluster="c1")
    time.sleep(0.3)
    patch(client, cron["id"], cluster="c2")
    (moved,) = wait_until(c2.dispatches, timeout=5, what="attempt 2's CronJob on c2")
    assert moved.attempt == 2
    c1.heartbeat()
    time.sleep(0.5)
    assert c1.received == [] and cron_of(client, cron["id"])["cluster_id"] == "c2"


@pytest.mark.parametrize("settings_overrides", [{"dispatch": {"ack_timeout_s": 0.5}}])
def test_the_old_attempts_confirmation_does_not_acknowledge_the_new_dispatch(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat()
    c2.heartbeat()
    cron = created_on(client, c1, cluster="c1")
    patch(client, cron["id"], cluster="c2")
    wait_until(c2.dispatches, timeout=5, what="attempt 2's CronJob on c2")
    c1.status({"id": cron["id"], "attempt": 1}, "cancelled", reason="Cancelled")
    time.sleep(0.3)
    # c2 has not acknowledged: its dispatch is still re-published until it does.
    wait_until(
        lambda: len(c2.dispatches()) >= 3, timeout=5, what="attempt 2's dispatch re-published"
    )


@pytest.mark.parametrize("settings_overrides", [{"dispatch": {"ack_timeout_s": 0.3}}])
def test_an_unacknowledged_old_dispatch_is_not_sent_again_after_an_edit(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat()
    cron = create(client)
    wait_until(
        lambda: len(agent.dispatches()) >= 2, timeout=5, what="attempt 1's dispatch re-published"
    )
    patch(client, cron["id"], command=["date", "-u"])
    wait_until(
        lambda: [d for d in agent.dispatches() if d.attempt == 2],
        timeout=5,
        what="attempt 2's dispatch",
    )
    sent = len([d for d in agent.dispatches() if d.attempt == 1])
    time.sleep(1.5)
    assert len([d for d in agent.dispatches() if d.attempt == 1]) <= sent + 1  # one in flight
    assert len([d for d in agent.dispatches() if d.attempt == 2]) >= 3  # until acknowledged


# -- one cron job's fault stays with it -------------------------------------------------------


class Picky:
    """Raises for cron jobs named `broken`, in every hook the leader's cron work calls."""

    @hookimpl
    def select_cluster(self, job: Any, clusters: list[Any]) -> str | None:
        if job.spec.name == "broken":
            raise RuntimeError("no cluster for you")
        return None

    @hookimpl
    def prepare_manifest(self, job: Any, manifest: dict[str, Any]) -> None:
        if job.spec.name == "broken-manifest":
            raise RuntimeError("cannot edit this")


@pytest.fixture
def picky(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    with TestClient(create_app(settings, plugins=Plugins(autoload=False, extra=[Picky()]))) as c:
        yield c


@pytest.mark.parametrize("name", ["broken", "broken-manifest"])
def test_a_plugin_failing_on_one_native_cron_job_does_not_stop_the_others(
    picky: TestClient[Any], name: str
) -> None:
    agent = FakeAgent(picky, "c1")
    agent.heartbeat()
    broken = create(picky, name=name)  # first in line
    fine = create(picky, name="fine")
    (dispatch,) = wait_until(agent.dispatches, timeout=5, what="the other cron job's CronJob")
    assert dispatch.job_id == fine["id"]
    time.sleep(1.5)  # a retry or two later: still in backoff, never sent, left as it was
    assert [d.job_id for d in agent.dispatches()] == [fine["id"]]
    left = cron_of(picky, broken["id"])
    assert (left["state"], left["name"], left["attempt"]) == ("pending", name, 1)


def test_a_managed_cron_job_that_cannot_fire_does_not_stop_the_others(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat(capacity=50)
    # Far off at first, so that it cannot fire before it is corrupted; then due at once.
    broken = create(client, name="broken", mode="managed", schedule="@every 1h")
    store = client.app.state.components.store

    def corrupt(cron: Any) -> Any:  # what validation would refuse today (an older kjs wrote it)
        return msgspec.structs.replace(
            cron,
            spec=msgspec.structs.replace(cron.spec, schedule="every now and then"),
            next_run_at=dt.datetime.now(dt.UTC),
        )

    store.update_cron(broken["id"], corrupt)
    fine = create(client, name="fine", mode="managed", schedule="@every 1s")
    wait_until(
        lambda: client.get(f"/api/v1/cronjobs/{fine['id']}/runs").json()["items"],
        timeout=10,
        what="the other cron job's first run",
    )
    assert client.get(f"/api/v1/cronjobs/{broken['id']}/runs").json()["items"] == []
    left = store.get_cron(broken["id"])
    assert left is not None and not left.deleted and left.spec.schedule == "every now and then"
