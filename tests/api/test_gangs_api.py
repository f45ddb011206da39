"""Gangs over the API (docs/queues.md "Gangs"): only the batch route takes `gang` and
`gang_size`, each rule broken is a 400 naming the item's field, a gang id held by unfinished jobs
is a 409, and an accepted gang is dispatched whole to one cluster."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

BATCH = "/api/v1/jobs:batch"


def member(n: int, gang: str = "g1", size: int = 3, **fields: Any) -> dict[str, Any]:
    spec = {"name": f"m{n}", "namespace": "ns", "image": "busybox", **fields}
    return {"job": {"gang": gang, "gang_size": size, **spec}}


def refused(client: TestClient[Any], *items: dict[str, Any]) -> list[str]:
    response = client.post(BATCH, json={"items": list(items)})
    assert response.status_code == 400, response.text
    return [e["field"] for e in response.json()["errors"]]


def test_a_gang_is_accepted_shown_and_dispatched_whole_to_one_cluster(
    client: TestClient[Any],
) -> None:
    c1, c2 = FakeAgent(client, "c1"), FakeAgent(client, "c2")
    c1.heartbeat(capacity=3)
    c2.heartbeat(capacity=3)
    response = client.post(BATCH, json={"items": [member(n) for n in range(3)]})
    assert response.status_code == 201, response.text
    jobs = response.json()["items"]
    assert [(j["gang"], j["gang_size"]) for j in jobs] == [("g1", 3)] * 3
    placed = [wait_state(client, j["id"], "dispatched") for j in jobs]
    assert len({j["cluster_id"] for j in placed}) == 1


def test_a_gang_too_big_for_any_one_cluster_waits_whole_saying_so(
    client: TestClient[Any],
) -> None:
    for cid in ("c1", "c2"):
        FakeAgent(client, cid).heartbeat(capacity=2)
    response = client.post(BATCH, json={"items": [member(n) for n in range(3)]})
    assert response.status_code == 201, response.text

    def told() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{response.json()['items'][0]['id']}").json()
        return job if job["reason"] == "NoCapacity" else None

    job = wait_until(told, timeout=10, what="the gang to be told why it waits")
    assert job["state"] == "pending"
    assert job["message"].startswith("gang g1 (3 jobs) needs")
    for item in response.json()["items"]:
        assert client.get(f"/api/v1/jobs/{item['id']}").json()["state"] == "pending"


def test_gang_and_gang_size_go_together(client: TestClient[Any]) -> None:
    only_id = {"job": {**member(0)["job"], "gang_size": None}}
    only_size = {"job": {**member(0)["job"], "gang": None}}
    assert refused(client, only_id) == ["items[0].gang_size"]
    assert refused(client, only_size) == ["items[0].gang"]


def test_gang_size_and_gang_id_are_checked(client: TestClient[Any]) -> None:
    assert refused(client, member(0, size=1)) == ["items[0].gang_size"]
    assert refused(client, member(0, size=1001)) == ["items[0].gang_size"]
    assert "items[0].gang" in refused(client, member(0, gang="Not_A_Label"), member(1))


def test_every_member_is_in_the_batch_exactly_gang_size_of_them(client: TestClient[Any]) -> None:
    assert refused(client, member(0), member(1)) == ["items[0].gang_size"]
    assert refused(client, *(member(n) for n in range(4))) == ["items[0].gang_size"]


def test_members_share_namespace_queue_priority_class_and_routing(
    client: TestClient[Any],
) -> None:
    differences: tuple[tuple[str, Any], ...] = (
        ("namespace", "other"),
        ("queue", "other"),
        ("priority_class", "high"),
        ("cluster", "c1"),
        ("cluster_selector", {"zone": "a"}),
    )
    for field, value in differences:
        fields = refused(client, member(0), member(1, **{field: value}), member(2))
        assert f"items[1].{field}" in fields, field
        assert all(f.startswith("items[1].") for f in fields), fields


def test_the_single_route_and_cron_jobs_refuse_gangs(client: TestClient[Any]) -> None:
    one = client.post("/api/v1/jobs", json=member(0)["job"])
    assert one.status_code == 400, one.text
    assert [e["field"] for e in one.json()["errors"]] == ["gang"]
    cron = client.post("/api/v1/cronjobs", json={**member(0)["job"], "schedule": "0 3 * * *"})
    assert cron.status_code == 400, cron.text
    assert [e["field"] for e in cron.json()["errors"]] == ["gang"]


def test_a_gang_id_held_by_unfinished_jobs_is_a_conflict_in_its_namespace(
    client: TestClient[Any],
) -> None:
    first = client.post(BATCH, json={"items": [member(n) for n in range(3)]})
    assert first.status_code == 201, first.text
    again = client.post(BATCH, json={"items": [member(n) for n in range(3)]})
    assert again.status_code == 409, again.text
    assert "items[0].gang g1" in again.json()["detail"]
    elsewhere = client.post(BATCH, json={"items": [member(n, namespace="other") for n in range(3)]})
    assert elsewhere.status_code == 201, elsewhere.text
    for job in first.json()["items"]:
        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code in (200, 202)
    freed = client.post(BATCH, json={"items": [member(n) for n in range(3)]})
    assert freed.status_code == 201, freed.text


def test_an_edit_keeps_a_member_in_its_gang_and_takes_no_job_into_one(
    client: TestClient[Any],
) -> None:
    jobs = client.post(BATCH, json={"items": [member(n) for n in range(3)]}).json()["items"]
    path = f"/api/v1/jobs/{jobs[0]['id']}"
    moved = client.patch(path, json={"queue": "default", "namespace": "other"})
    assert moved.status_code == 400, moved.text
    assert [e["field"] for e in moved.json()["errors"]] == ["namespace"]
    assert client.patch(path, json={"image": "busybox:1.36"}).status_code == 200
    alone = client.post("/api/v1/jobs", json={"name": "a", "namespace": "ns", "image": "busybox"})
    joined = client.patch(f"/api/v1/jobs/{alone.json()['id']}", json={"gang": "g2", "gang_size": 2})
    assert joined.status_code == 400, joined.text
    assert {e["field"] for e in joined.json()["errors"]} == {"gang", "gang_size"}
