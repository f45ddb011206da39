"""`POST /api/v1/jobs:batch`: many jobs in one request, validated and stored all or none, each
item's fields named `items[i].<field>`, idempotency keys as on the single route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from kjs.api.auth import hash_token
from kjs.core.records import ClusterRecord

BATCH = "/api/v1/jobs:batch"
JOB = {"name": "hello", "namespace": "team-a", "image": "busybox", "command": ["echo", "hi"]}
TOKENS = {
    "root": {"name": "root", "scopes": ["admin"]},
    "team-a": {"name": "team-a", "scopes": ["submit"], "namespaces": ["team-a"]},
    "other": {"name": "other", "scopes": ["submit"], "namespaces": ["team-a"]},
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "auth": {
            "tokens": [{**t, "sha256": hash_token(f"secret-{key}")} for key, t in TOKENS.items()]
        }
    }


def auth(who: str = "root") -> dict[str, str]:
    return {"Authorization": f"Bearer secret-{who}"}


def job(n: int, **fields: Any) -> dict[str, Any]:
    return {**JOB, "name": f"job-{n}", **fields}


def batch(
    client: TestClient[Any], *items: dict[str, Any], who: str = "root", status: int = 201
) -> Any:
    response = client.post(BATCH, json={"items": list(items)}, headers=auth(who))
    assert response.status_code == status, response.text
    return response.json()


def submitted() -> float:
    """kjs_jobs_submitted_total (the process's: other tests count too)."""
    return REGISTRY.get_sample_value("kjs_jobs_submitted_total") or 0.0


def stored(client: TestClient[Any]) -> list[dict[str, Any]]:
    page = client.get("/api/v1/jobs", params={"limit": 500}, headers=auth()).json()
    items: list[dict[str, Any]] = page["items"]
    return items


def test_a_batch_is_accepted_in_order_and_each_job_is_readable(client: TestClient[Any]) -> None:
    before = submitted()
    answer = batch(client, *({"job": job(n)} for n in range(5)))
    items = answer["items"]
    assert [j["name"] for j in items] == [f"job-{n}" for n in range(5)]
    assert len({j["id"] for j in items}) == 5
    assert all(j["state"] == "pending" and j["attempt"] == 1 for j in items)
    for item in items:  # GET /api/v1/jobs/{id} is not shadowed by the batch route
        read = client.get(f"/api/v1/jobs/{item['id']}", headers=auth()).json()
        # A place in the queue is computed when a job is read, not in a submit's answer.
        assert item["queue_position"] is None
        assert read.pop("queue_position") >= 1
        assert read == {k: v for k, v in item.items() if k != "queue_position"}
        events = client.get(f"/api/v1/jobs/{item['id']}/events", headers=auth()).json()
        assert [(e["state"], e["reason"]) for e in events["items"]] == [("pending", "Accepted")]
    assert {j["id"] for j in stored(client)} == {j["id"] for j in items}
    assert submitted() == before + 5
    labelled = batch(client, {"job": job(9, labels={"team": "data"})})["items"][0]
    listed = client.get("/api/v1/jobs", params={"label": "team=data"}, headers=auth()).json()
    assert [j["id"] for j in listed["items"]] == [labelled["id"]]


def test_one_invalid_item_refuses_the_batch_naming_each_field_by_item(
    client: TestClient[Any],
) -> None:
    def refused(*items: dict[str, Any]) -> list[str]:
        response = client.post(BATCH, json={"items": list(items)}, headers=auth())
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return [e["field"] for e in response.json()["errors"]]

    # What does not decode (types, unknown fields, not an object), in every item at once...
    assert refused(
        {"job": job(0)},
        {"job": job(1, env={"A": 1})},
        {"job": job(2, colour="red")},
        {"job": 5},
    ) == ["items[1].env.A", "items[2].colour", "items[3].job"]
    # ...then the rules, in every item at once, as the single route judges one job.
    assert refused(
        {"job": job(0)},
        {"job": job(1)},
        {"job": job(2, image="Not An Image")},
        {"job": job(3, name="Bad_Name")},
        {"job": job(4, cluster="nowhere")},
        {"job": job(5), "idempotency_key": "k" * 256},
    ) == ["items[2].image", "items[3].name", "items[4].cluster", "items[5].idempotency_key"]
    assert stored(client) == []
    # A batch-level fault is named too: unknown fields, a missing job.
    for body, field in (
        ({"items": [{"job": job(0)}], "extra": 1}, "extra"),
        ({"items": [{"job": job(0)}, {"jobs": job(1)}]}, "items[1].jobs"),
        ({"items": [{"idempotency_key": "k"}]}, "items[0].job"),
        ({}, "items"),
    ):
        answer = client.post(BATCH, json=body, headers=auth())
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert stored(client) == []


def test_a_known_cluster_is_a_valid_route(client: TestClient[Any]) -> None:
    client.app.state.components.store.upsert_cluster(ClusterRecord(id="c1", capacity=0))
    items = batch(client, {"job": job(0, cluster="c1")}, {"job": job(1, cluster=["c1"])})
    assert [j["cluster"] for j in items["items"]] == ["c1", ["c1"]]
    refused = client.post(
        BATCH, json={"items": [{"job": job(2, cluster=["c1", "c9"])}]}, headers=auth()
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "items[0].cluster[1]"


def test_one_to_a_thousand_items(client: TestClient[Any]) -> None:
    for count in (0, 1001):
        response = client.post(
            BATCH, json={"items": [{"job": job(n)} for n in range(count)]}, headers=auth()
        )
        assert response.status_code == 400, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["items"]
    assert stored(client) == []
    assert len(batch(client, *({"job": job(n)} for n in range(1000)))["items"]) == 1000


def test_the_batch_route_takes_16_mib_but_each_job_at_most_1_mib(client: TestClient[Any]) -> None:
    # Over the single route's 1 MiB as a whole, each job under it: accepted.
    big = [{"job": job(n, env={"BLOB": "x" * 600_000})} for n in range(3)]
    assert len(batch(client, *big)["items"]) == 3
    too_big = client.post(
        BATCH, json={"items": [{"job": job(0, env={"BLOB": "x" * (1 << 20)})}]}, headers=auth()
    )
    assert too_big.status_code == 400
    assert too_big.json()["errors"][0]["field"] == "items[0].job"
    over = json.dumps({"items": [{"job": job(0, env={"BLOB": "x" * (16 << 20)})}]})
    response = client.post(
        BATCH, content=over, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["status"] == 413
    # The single route keeps its own limit.
    single = client.post("/api/v1/jobs", json=job(9, env={"BLOB": "x" * (1 << 20)}), headers=auth())
    assert single.status_code == 413
    assert len(stored(client)) == 3


def test_a_namespace_the_token_may_not_use_refuses_the_whole_batch(
    client: TestClient[Any],
) -> None:
    items = [{"job": job(0)}, {"job": job(1, namespace="team-b")}]
    response = client.post(BATCH, json={"items": items}, headers=auth("team-a"))
    assert response.status_code == 403, response.text
    assert "team-b" in response.json()["detail"]
    assert stored(client) == []
    assert client.post(BATCH, json={"items": items}).status_code == 401
    assert len(batch(client, items[0], who="team-a")["items"]) == 1


def test_an_idempotency_key_replays_inside_and_across_batches(client: TestClient[Any]) -> None:
    first, again, other = batch(
        client,
        {"job": job(0), "idempotency_key": "k0"},
        {"job": job(0), "idempotency_key": "k0"},  # the same request: the same job
        {"job": job(1), "idempotency_key": "k1"},
    )["items"]
    assert again == first and other["id"] != first["id"]
    assert len(stored(client)) == 2
    before = submitted()
    # The same request written otherwise (key order, a default spelled out) is the same.
    reordered = dict(reversed(list({**job(0), "backoff_limit": 0}.items())))
    replayed, new = batch(client, {"job": reordered, "idempotency_key": "k0"}, {"job": job(2)})[
        "items"
    ]
    assert replayed == first and new["id"] not in (first["id"], other["id"])
    assert submitted() == before + 1
    # Keys are shared with the single route (same principal, namespace and request)...
    single = client.post("/api/v1/jobs", json=job(1), headers={**auth(), "Idempotency-Key": "k1"})
    assert (single.status_code, single.json()) == (200, other)
    via_single = client.post(
        "/api/v1/jobs", json=job(3), headers={**auth(), "Idempotency-Key": "k3"}
    ).json()
    assert batch(client, {"job": job(3), "idempotency_key": "k3"})["items"] == [via_single]
    # ...and scoped by principal: another token's k0 is another job. An empty key is none.
    theirs = batch(client, {"job": job(0), "idempotency_key": "k0"}, who="other")["items"][0]
    assert theirs["id"] != first["id"]
    a, b = batch(
        client, {"job": job(4), "idempotency_key": ""}, {"job": job(4), "idempotency_key": None}
    )["items"]
    assert a["id"] != b["id"]
    assert len(stored(client)) == 7


def test_a_key_reused_with_another_request_is_a_409_and_stores_nothing(
    client: TestClient[Any],
) -> None:
    first = batch(client, {"job": job(0), "idempotency_key": "k"})["items"][0]
    response = client.post(
        BATCH,
        json={"items": [{"job": job(1)}, {"job": job(0, args=["x"]), "idempotency_key": "k"}]},
        headers=auth(),
    )
    assert response.status_code == 409, response.text
    assert "items[1].idempotency_key 'k'" in response.json()["detail"]
    assert first["id"] in response.json()["detail"]
    # Two items of one batch: the same key, different requests.
    inside = client.post(
        BATCH,
        json={
            "items": [
                {"job": job(5), "idempotency_key": "twice"},
                {"job": job(6), "idempotency_key": "twice"},
            ]
        },
        headers=auth(),
    )
    assert inside.status_code == 409, inside.text
    assert "(items[0])" in inside.json()["detail"]
    assert [j["id"] for j in stored(client)] == [first["id"]]
