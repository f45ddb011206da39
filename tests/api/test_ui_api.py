"""The API the web UI needs (issue 17), for every client: whoami, the job list's namespace,
name-prefix and sort, each attempt's dispatched manifest, and a cron job's next runs."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core.config import load
from kjs.server import create_app
from tests.api.conftest import FakeAgent, wait_state

JOBS = "/api/v1/jobs"
TOKENS = [
    {"name": "reader", "sha256": hash_token("r-secret"), "scopes": ["read"]},
    {
        "name": "ops-team",
        "sha256": hash_token("s-secret"),
        "scopes": ["submit"],
        "namespaces": ["ops", "dev"],
    },
    {"name": "root", "sha256": hash_token("a-secret"), "scopes": ["admin"]},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def with_tokens(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "auth": {"tokens": TOKENS}})
    with TestClient(create_app(settings)) as client:
        yield client


def submit(
    client: TestClient[Any],
    name: str,
    namespace: str = "ops",
    headers: dict[str, str] | None = None,
) -> Any:
    job = {"name": name, "namespace": namespace, "image": "busybox"}
    response = client.post(JOBS, json=job, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def names(client: TestClient[Any], **params: Any) -> list[str]:
    response = client.get(JOBS, params=params)
    assert response.status_code == 200, response.text
    return [job["name"] for job in response.json()["items"]]


# -- whoami ----------------------------------------------------------------------------------


def test_whoami_names_the_token_its_scopes_and_namespaces(with_tokens: TestClient[Any]) -> None:
    me = with_tokens.get("/api/v1/whoami", headers=bearer("s-secret"))
    assert me.status_code == 200
    assert me.json() == {
        "name": "ops-team",
        "scopes": ["read", "submit"],
        "namespaces": ["dev", "ops"],
        "queues": [],
        "open": False,
    }
    root = with_tokens.get("/api/v1/whoami", headers=bearer("a-secret")).json()
    assert root["scopes"] == ["read", "submit", "admin"] and root["namespaces"] == []
    assert with_tokens.get("/api/v1/whoami").status_code == 401
    assert with_tokens.get("/api/v1/whoami", headers=bearer("nope")).status_code == 401


def test_whoami_in_open_mode_is_the_anonymous_principal(client: TestClient[Any]) -> None:
    me = client.get("/api/v1/whoami").json()
    assert me["open"] is True and me["namespaces"] == []
    assert me["scopes"] == ["read", "submit", "admin"]


# -- the job list: namespace, name prefix, sort ------------------------------------------------


def test_jobs_are_listed_by_namespace_and_name_prefix(client: TestClient[Any]) -> None:
    for name, namespace in (("web-1", "ops"), ("web-2", "dev"), ("api-1", "ops"), ("webx", "ops")):
        submit(client, name, namespace)
    assert names(client, namespace="dev") == ["web-2"]
    assert names(client, namespace="ops", sort="created_at") == ["web-1", "api-1", "webx"]
    assert names(client, name_prefix="web-", sort="name") == ["web-1", "web-2"]
    assert names(client, name_prefix="web", namespace="ops", sort="-name") == ["webx", "web-1"]
    assert names(client, name_prefix="zzz", sort="name") == []


def test_a_sort_takes_only_the_filters_it_serves_fast(client: TestClient[Any]) -> None:
    def refusal(**params: Any) -> str:
        response = client.get(JOBS, params=params)
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["field"] == "sort"
        return str(error["message"])

    assert "sort=name" in refusal(name_prefix="web")  # the default sort, by creation
    assert "state" in refusal(sort="-updated_at", state="running")
    assert "label" in refusal(sort="name", label="team=a")
    for sort in ("-updated_at", "name"):
        assert client.get(JOBS, params={"sort": sort, "namespace": "ops"}).status_code == 200


def test_a_namespace_outside_the_token_s_lists_nothing(with_tokens: TestClient[Any]) -> None:
    submit(with_tokens, "mine", "ops", headers=bearer("a-secret"))
    submit(with_tokens, "theirs", "prod", headers=bearer("a-secret"))
    page = with_tokens.get(JOBS, params={"namespace": "prod"}, headers=bearer("s-secret"))
    assert page.status_code == 200 and page.json()["items"] == []
    page = with_tokens.get(JOBS, params={"namespace": "ops"}, headers=bearer("s-secret"))
    assert [j["name"] for j in page.json()["items"]] == ["mine"]


def test_each_sort_pages_through_every_job_once(client: TestClient[Any]) -> None:
    for name in ("m", "c", "x", "b", "a"):
        submit(client, name)
    expected = {
        "-created_at": ["a", "b", "x", "c", "m"],
        "created_at": ["m", "c", "x", "b", "a"],
        "name": ["a", "b", "c", "m", "x"],
        "-name": ["x", "m", "c", "b", "a"],
        "-updated_at": ["a", "b", "x", "c", "m"],  # never changed: updated when created
        "updated_at": ["m", "c", "x", "b", "a"],
    }
    for sort, order in expected.items():
        seen, cursor = [], None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get(JOBS, params=params).json()
            seen += [job["name"] for job in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == order, sort


def test_bad_sort_prefix_and_cursors_are_400s_naming_the_parameter(
    client: TestClient[Any],
) -> None:
    for name in ("a", "b"):
        submit(client, name)

    def problem(**params: Any) -> dict[str, str]:
        response = client.get(JOBS, params=params)
        assert response.status_code == 400, response.text
        return {e["field"]: e["message"] for e in response.json()["errors"]}

    assert "-created_at, created_at" in problem(sort="size")["sort"]
    assert "name_prefix" in problem(name_prefix="Web_", sort="name")
    cursor = client.get(JOBS, params={"sort": "name", "limit": 1}).json()["next_cursor"]
    assert "sort=name" in problem(cursor=cursor)["cursor"]  # made for another sort
    assert "cursor" in problem(cursor="not-a-cursor", sort="name")
    # The cursor of the sort it was made for goes on.
    assert names(client, sort="name", limit=1, cursor=cursor) == ["b"]


# -- the manifest as dispatched -----------------------------------------------------------------


def test_the_manifest_of_each_attempt_is_the_one_dispatched(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    job = submit(client, "render-me")
    not_yet = client.get(f"{JOBS}/{job['id']}/manifest")
    assert not_yet.status_code == 404 and "not dispatched yet" in not_yet.json()["detail"]
    agent.heartbeat()
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "failed")
    wait_state(client, job["id"], "failed")
    assert client.post(f"{JOBS}/{job['id']}/rerun").status_code == 201
    wait_state(client, job["id"], "dispatched")
    sent = {d.attempt: d.manifest for d in agent.dispatches()}
    first = client.get(f"{JOBS}/{job['id']}/manifest", params={"attempt": 1})
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json() == sent[1]
    current = client.get(f"{JOBS}/{job['id']}/manifest").json()
    assert current == sent[2] and current["metadata"]["name"].endswith("-a2")
    missing = client.get(f"{JOBS}/{job['id']}/manifest", params={"attempt": 3})
    assert missing.status_code == 404 and "no attempt 3" in missing.json()["detail"]
    assert client.get(f"{JOBS}/{job['id']}/manifest", params={"attempt": 0}).status_code == 400


# -- a cron job's next runs ----------------------------------------------------------------------


def test_a_cron_job_lists_its_next_five_runs_and_none_when_suspended(
    client: TestClient[Any],
) -> None:
    cron = {
        "name": "nightly",
        "namespace": "ops",
        "image": "busybox",
        "schedule": "30 3 * * *",
        "time_zone": "Europe/Berlin",
    }
    created = client.post("/api/v1/cronjobs", json=cron).json()
    runs = [dt.datetime.fromisoformat(r) for r in created["next_runs"]]
    assert len(runs) == 5 and all(r.utcoffset() == dt.timedelta(0) for r in runs)
    # A day apart (23 or 25 hours across a daylight-saving change), at 03:30 Berlin time.
    gaps = {b - a for a, b in itertools.pairwise(runs)}
    assert gaps <= {dt.timedelta(hours=h) for h in (23, 24, 25)}
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert {(r.astimezone(berlin).hour, r.minute) for r in runs} == {(3, 30)}
    assert runs[0] > dt.datetime.now(dt.UTC)
    suspended = client.post(f"/api/v1/cronjobs/{created['id']}/suspend").json()
    assert suspended["next_runs"] == []
    listed = client.get("/api/v1/cronjobs").json()["items"][0]
    assert listed["next_runs"] == []
