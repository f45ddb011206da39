"""The original system's routes (seed-system §2 to §3), in both forms, over kjs: envelope, codes,
validation messages, states and counters, labels, delete with confirmation, logs, callbacks."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core import messages
from kjs.core.config import ConfigError, load
from kjs.plugins.compat.settings import check_compat_open
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state
from tests.compat_plugin import needs_compat

pytestmark = needs_compat

ONCE = {
    "job_name": "backup-db",
    "namespace": "ops",
    "image": "busybox",
    "command": "echo,k8s jobs !!!",
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"compat": {"delete_wait_s": 3.0}, "webhooks": {"allow_private": True}}


def envelope(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text  # the original always answered 200
    body: dict[str, Any] = response.json()
    assert list(body) == ["code", "cause", "error_msg", "data"]
    return body


def create(client: TestClient[Any], **fields: Any) -> str:
    body = envelope(client.post("/api/once_job/create", json={**ONCE, **fields}))
    assert body["code"] == 200, body
    return str(body["data"]["job_id"])


def dispatched(
    client: TestClient[Any], agent: FakeAgent, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """A compat job created and dispatched to the fake agent's cluster."""
    agent.heartbeat()
    job_id = create(client, **fields)
    wait_until(agent.dispatches, timeout=5, what="the dispatch")
    return job_id, {"id": job_id, "attempt": 1}


def describe(client: TestClient[Any], job_id: str) -> dict[str, Any]:
    body = envelope(client.get(f"/api/once_job/describe/{job_id}"))
    assert body["code"] == 200, body
    data: dict[str, Any] = body["data"]
    return data


def test_create_runs_the_job_and_describe_shows_states_and_counters(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    agent.heartbeat()
    job_id = create(client, metadata={"envs": '{"A": "1"}', "args": "x,y"})
    assert describe(client, job_id)["job_state"] == -1  # submitted, not yet created
    (dispatch,) = wait_until(agent.dispatches, timeout=5, what="the dispatch")
    job = {"id": job_id, "attempt": 1}
    manifest = dispatch.manifest
    labels = manifest["metadata"]["labels"]
    assert {k: labels[k] for k in ("job_id", "job_from", "job_name", "job_type")} == {
        "job_id": job_id,
        "job_from": "k8s_job_scheduler",
        "job_name": "backup-db",
        "job_type": "once",
    }
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["echo", "k8s jobs !!!"]  # split on commas, as before
    assert container["args"] == ["x", "y"]  # args become args (the original made a label)
    assert manifest["spec"]["activeDeadlineSeconds"] == 300  # the documented 5 minutes
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 300
    agent.status(job, "running")
    wait_until(lambda: describe(client, job_id)["job_state"] == 0, timeout=5, what="created")
    agent.status(job, "succeeded")
    wait_state(client, job_id, "succeeded")
    record = describe(client, job_id)
    assert record["job_state"] == 2
    assert (record["job_times"], record["job_success_times"]) == (1, 1)
    assert record["job_name"] == "backup-db" and record["command"] == "echo,k8s jobs !!!"
    assert json.loads(record["metadata"]) == {"envs": '{"A": "1"}', "args": "x,y"}


@pytest.mark.parametrize(
    ("fields", "cause"),
    [
        ({"job_name": ""}, "job_name is empty."),
        ({"namespace": ""}, "namespace is empty."),
        ({"image": ""}, "image is empty."),
        ({"command": ""}, "command is empty."),
        (
            {"namespace": "Bad_NS"},
            "Invalid value Bad_NS e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?'",
        ),
        ({"metadata": {"colour": "red"}}, "metadata value colour does not exist in map["),
        (
            {"metadata": {"labels": "not json"}},
            "metadata.(labels|annotations) is not map[sting]string cause: ",
        ),
        (
            {"metadata": {"parallelism": "0"}},
            "metadata.(parallelism|completions|backoffLimit) is 0",
        ),
        ({"metadata": {"restart_policy": "Always"}}, "metadata.restart_policy is 'Always'"),
        ({"route": "mars"}, "route: unknown cluster 'mars'"),
    ],
)
def test_each_validation_message(
    client: TestClient[Any], agent: FakeAgent, fields: dict[str, Any], cause: str
) -> None:
    agent.heartbeat()
    body = envelope(client.post("/api/once_job/create", json={**ONCE, **fields}))
    assert body["code"] == 104 and body["data"] is None
    assert body["cause"].startswith(cause), body["cause"]


def test_decode_failures_and_case_insensitive_keys(client: TestClient[Any]) -> None:
    wrong = envelope(client.post("/api/once_job/create", json={**ONCE, "job_exec_time": "soon"}))
    assert wrong["code"] == 103 and "job_exec_time" in wrong["cause"]
    broken = envelope(client.post("/api/once_job/create", content=b"{not json"))
    assert broken["code"] == 103
    upper = {k.upper(): v for k, v in ONCE.items()}
    assert envelope(client.post("/api/once_job/create", json=upper))["code"] == 200


def test_a_name_is_unique_among_live_once_jobs_and_free_again_once_deleted(
    client: TestClient[Any],
) -> None:
    first = create(client)
    again = envelope(client.post("/api/once_job/create", json=ONCE))
    assert (again["code"], again["cause"]) == (105, "job_name=backup-db already exists")
    cron = {**ONCE, "schedule": "0 3 * * *"}
    assert envelope(client.post("/api/cron_job/create", json=cron))["code"] == 200  # apart
    deleted = envelope(client.delete(f"/api/once_job/delete/{first}"))  # pending: at once
    assert deleted == {
        "code": 0,
        "cause": "",
        "error_msg": "",
        "data": f"delete once_job success job_id: {first}",
    }
    assert describe(client, first)["job_state"] == 3
    assert envelope(client.delete(f"/api/once_job/delete/{first}"))["data"] == (
        "job_status is delete"
    )
    assert create(client) != first


def test_delete_waits_for_the_cluster_and_times_out_without_it(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    job_id, job = dispatched(client, agent)
    agent.status(job, "running")
    wait_state(client, job_id, "running")
    started = time.monotonic()
    late = envelope(client.delete(f"/api/once_job/delete/{job_id}"))  # nobody confirms
    assert (late["code"], late["cause"]) == (253, "delete job timeout.")
    assert time.monotonic() - started >= 3.0
    assert describe(client, job_id)["job_state"] == 0
    (cancel,) = wait_until(agent.controls, timeout=5, what="the cancel")
    assert cancel.action == "cancel"

    def confirm_soon() -> None:
        time.sleep(0.5)
        agent.status(job, "cancelled", reason="Cancelled")

    import threading

    threading.Thread(target=confirm_soon).start()
    # The documented form: POST with the id in the body.
    done = envelope(client.post("/api/once_job/delete/job_id", json={"job_id": job_id}))
    assert done["code"] == 0, done
    assert describe(client, job_id)["job_state"] == 3


def test_update_replaces_the_job_and_keeps_counters(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    job_id, job = dispatched(client, agent)
    agent.status(job, "succeeded")
    wait_state(client, job_id, "succeeded")
    later = int(time.time()) + 3600
    body = {
        "job_id": job_id,
        "namespace": "ops",
        "image": "busybox:1.36",
        "command": "sh,-c,echo again",
        "job_exec_time": later,
        "metadata": {"log_collect": "true"},
    }
    updated = envelope(client.post("/api/once_job/update", json=body))
    assert (updated["code"], updated["data"]) == (0, "update success.")
    record = describe(client, job_id)
    assert record["job_state"] == -1 and record["job_exec_time"] == later  # kept (D10 fixed)
    assert (record["job_times"], record["job_success_times"]) == (1, 1)
    kjs_job = client.get(f"/api/v1/jobs/{job_id}").json()
    assert kjs_job["attempt"] == 2 and kjs_job["image"] == "busybox:1.36"
    assert dt.datetime.fromisoformat(kjs_job["run_at"]).timestamp() == later
    missing = envelope(client.post("/api/once_job/update", json={**body, "job_id": "nope"}))
    assert (missing["code"], missing["cause"]) == (100, "sql: no rows in result set")
    empty = envelope(client.post("/api/once_job/update", json={**body, "job_id": ""}))
    assert (empty["code"], empty["cause"]) == (104, "job_id is empty.")


def test_lists_page_in_creation_order_in_both_forms(client: TestClient[Any]) -> None:
    ids = [create(client, job_name=f"job-{i}") for i in range(5)]
    page = envelope(client.get("/api/once_job/lists?page_num=2&page_size=2"))["data"]
    assert (page["total"], page["page_num"], page["page_size"]) == (5, 2, 2)
    assert [r["job_id"] for r in page["data"]] == ids[2:4]
    posted = envelope(client.post("/api/once_job/lists", json={"page_num": 3, "page_size": 2}))
    assert [r["job_id"] for r in posted["data"]["data"]] == ids[4:]
    lenient = envelope(client.get("/api/once_job/lists?page_num=x&page_size=-4"))["data"]
    assert (lenient["page_num"], lenient["page_size"]) == (1, 10)
    beyond = envelope(client.get("/api/once_job/lists?page_num=9"))["data"]
    assert beyond["data"] is None and beyond["total"] == 5
    by_post = envelope(client.post("/api/once_job/describe", json={"job_id": ids[0]}))
    assert by_post["data"]["job_name"] == "job-0"


def test_logs_in_both_forms(client: TestClient[Any], agent: FakeAgent) -> None:
    job_id, job = dispatched(client, agent, metadata={"log_collect": "true"})
    for seq, text in enumerate([b"hello\n", b"world\n"]):
        agent.send(
            messages.LogChunk(
                job_id=job_id, attempt=1, pod="backup-db-x1", container="main", seq=seq, data=text
            )
        )
    agent.status(job, "succeeded", last_log_seq={"backup-db-x1/main": 1})
    wait_state(client, job_id, "succeeded")

    def logs() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] | None = envelope(client.get(f"/api/job_logs/{job_id}"))["data"]
        return rows if rows and rows[0]["logs"] == "hello\nworld\n" else None

    (row,) = wait_until(logs, timeout=5, what="the logs")
    assert (row["job_id"], row["pod_name"]) == (job_id, "backup-db-x1")
    posted = envelope(client.post("/api/job_logs", json={"job_id": job_id}))["data"]
    assert posted == [row]
    assert envelope(client.get("/api/job_logs/unknown"))["data"] is None


def test_cron_jobs_create_list_describe_update_delete(client: TestClient[Any]) -> None:
    cron = {**ONCE, "job_name": "nightly", "schedule": "0 3 * * *"}
    missing = envelope(client.post("/api/cron_job/create", json={**cron, "schedule": ""}))
    assert (missing["code"], missing["cause"]) == (104, "schedule is empty")
    created = envelope(client.post("/api/cron_job/create", json=cron))
    cron_id = created["data"]["job_id"]
    record = envelope(client.get(f"/api/cron_job/describe/{cron_id}"))["data"]
    assert (record["schedule"], record["job_state"], record["job_times"]) == ("0 3 * * *", -1, 0)
    updated = envelope(
        client.post(
            "/api/cron_job/update",
            json={**cron, "job_id": cron_id, "schedule": "30 4 * * *"},
        )
    )
    assert updated["data"] == "update success."  # a real update, not the original's stub
    assert client.get(f"/api/v1/cronjobs/{cron_id}").json()["schedule"] == "30 4 * * *"
    listed = envelope(client.get("/api/cron_job/lists"))["data"]
    assert [r["job_id"] for r in listed["data"]] == [cron_id]
    deleted = envelope(client.delete(f"/api/cron_job/delete/{cron_id}"))
    assert deleted["data"] == f"delete cron_job success job_id: {cron_id}"
    assert envelope(client.get(f"/api/cron_job/describe/{cron_id}"))["data"]["job_state"] == 3


def test_the_original_callback_body_for_compat_jobs(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    from tests.api.test_webhooks import Receiver

    receiver = Receiver()
    try:
        job_id, job = dispatched(client, agent, metadata={"callback_url": receiver.url})
        agent.status(job, "failed", reason="BackoffLimitExceeded", message="too many tries")
        ((_, body),) = wait_until(lambda: receiver.received, timeout=10, what="the callback")
        assert json.loads(body) == {
            "job_id": job_id,
            "success": False,
            "message": "type=Failed stauts=True cause=BackoffLimitExceeded,too many tries",
        }
    finally:
        receiver.server.shutdown()


TOKENS = [
    {
        "name": "team-a",
        "sha256": hash_token("a-secret"),
        "scopes": ["submit"],
        "namespaces": ["team-a"],
    },
    {"name": "root", "sha256": hash_token("root-secret"), "scopes": ["admin"]},
]
TEAM_A, ROOT = {"Authorization": "Bearer a-secret"}, {"Authorization": "Bearer root-secret"}


@contextlib.contextmanager
def secured(tmp_path: Path, **auth: Any) -> Iterator[TestClient[Any]]:
    """A server with tokens (and `auth`'s other keys, `open_namespaces` for [compat])."""
    compat = {"delete_wait_s": 3.0}
    if "open_namespaces" in auth:
        compat["open_namespaces"] = auth.pop("open_namespaces")
    settings = load(
        environ={},
        overrides={"data_dir": str(tmp_path), "auth": {"tokens": TOKENS, **auth}, "compat": compat},
    )
    with TestClient(create_app(settings)) as client:
        yield client


def created(client: TestClient[Any], kind: str, headers: dict[str, str], **fields: Any) -> str:
    extra = {"schedule": "0 3 * * *"} if kind == "cron" else {}
    body = {**ONCE, "job_name": f"j-{uuid.uuid4().hex[:8]}", **extra, **fields}
    answer = envelope(client.post(f"/api/{kind}_job/create", json=body, headers=headers))
    assert answer["code"] == 200, answer
    return str(answer["data"]["job_id"])


def native(client: TestClient[Any], namespace: str) -> str:
    job = {"name": "native", "namespace": namespace, "image": "busybox"}
    response = client.post("/api/v1/jobs", json=job, headers=ROOT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_with_tokens_the_routes_need_one(tmp_path: Path) -> None:
    with secured(tmp_path) as client:
        refused = client.get("/api/once_job/lists")
        assert (
            refused.status_code == 401 and refused.json()["detail"] == "a bearer token is required"
        )
        assert client.get("/api/once_job/lists", headers=TEAM_A).status_code == 200


def test_a_token_reads_and_changes_only_its_namespaces_through_the_compat_routes(
    tmp_path: Path,
) -> None:
    with secured(tmp_path) as client:
        mine = created(client, "once", TEAM_A, namespace="team-a")
        theirs = created(client, "once", ROOT, namespace="team-b")
        their_cron = created(client, "cron", ROOT, namespace="team-b")
        their_native, my_native = native(client, "team-b"), native(client, "team-a")
        refused = "token 'team-a' may not use namespace 'team-b'"
        for method, path, body in [
            ("GET", f"/api/once_job/describe/{theirs}", None),
            ("POST", "/api/once_job/describe", {"job_id": theirs}),
            ("GET", f"/api/cron_job/describe/{their_cron}", None),
            ("GET", f"/api/job_logs/{theirs}", None),
            ("POST", "/api/job_logs", {"job_id": their_cron}),
            ("GET", f"/api/job_logs/{their_native}", None),  # a native job: checked too
            # an update checks where the job is, not only where it would go
            ("POST", "/api/once_job/update", {**ONCE, "job_id": theirs, "namespace": "team-a"}),
            (
                "POST",
                "/api/cron_job/update",
                {**ONCE, "job_id": their_cron, "namespace": "team-a", "schedule": "1 * * * *"},
            ),
            ("DELETE", f"/api/once_job/delete/{theirs}", None),
            ("POST", "/api/cron_job/delete", {"job_id": their_cron}),
        ]:
            response = client.request(method, path, json=body, headers=TEAM_A)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["detail"] == refused, (method, path)
        # Nothing of theirs changed.
        record = envelope(client.get(f"/api/once_job/describe/{theirs}", headers=ROOT))["data"]
        assert (record["namespace"], record["job_state"]) == ("team-b", -1)
        cron = envelope(client.get(f"/api/cron_job/describe/{their_cron}", headers=ROOT))["data"]
        assert (cron["namespace"], cron["schedule"], cron["job_state"]) == (
            "team-b",
            "0 3 * * *",
            -1,
        )
        # Moving one's own job into their namespace is refused too.
        moved = client.post(
            "/api/once_job/update",
            json={**ONCE, "job_id": mine, "namespace": "team-b"},
            headers=TEAM_A,
        )
        assert moved.status_code == 403 and moved.json()["detail"] == refused
        # Lists count and show only one's own namespaces.
        listed = envelope(client.get("/api/once_job/lists", headers=TEAM_A))["data"]
        assert (listed["total"], [r["job_id"] for r in listed["data"]]) == (1, [mine])
        assert envelope(client.get("/api/cron_job/lists", headers=TEAM_A))["data"]["total"] == 0
        assert envelope(client.get("/api/once_job/lists", headers=ROOT))["data"]["total"] == 2
        assert envelope(client.get(f"/api/job_logs/{my_native}", headers=TEAM_A))["code"] == 200


def test_compat_open_is_an_anonymous_client_of_compat_jobs_in_its_namespaces(
    tmp_path: Path,
) -> None:
    with secured(tmp_path, compat_open=True, open_namespaces=["legacy"]) as client:
        anonymous = created(client, "once", {}, namespace="legacy")
        anonymous_cron = created(client, "cron", {}, namespace="legacy")
        elsewhere = created(client, "once", ROOT, namespace="team-b")
        native_in_legacy = native(client, "legacy")
        label = "the anonymous compatibility client ([auth] compat_open)"
        for method, path, body, detail in [
            ("POST", "/api/once_job/create", {**ONCE, "namespace": "kube-system"}, "kube-system"),
            ("POST", "/api/once_job/create", {**ONCE, "namespace": "team-b"}, "team-b"),
            ("GET", f"/api/once_job/describe/{elsewhere}", None, "team-b"),
            ("GET", f"/api/job_logs/{elsewhere}", None, "team-b"),
            (
                "POST",
                "/api/once_job/update",
                {**ONCE, "job_id": anonymous, "namespace": "kube-system"},
                "kube-system",
            ),
            ("DELETE", f"/api/once_job/delete/{elsewhere}", None, "team-b"),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["detail"] == f"{label} may not use namespace {detail!r}"
        # A native job's logs, even in an open namespace: not a compat job.
        native_logs = client.get(f"/api/job_logs/{native_in_legacy}")
        assert native_logs.status_code == 403
        assert native_logs.json()["detail"] == (
            f"{label} may only use jobs created through the compatibility routes"
        )
        assert envelope(client.get(f"/api/job_logs/{anonymous}"))["code"] == 200
        assert envelope(client.get(f"/api/job_logs/{anonymous_cron}"))["code"] == 200
        listed = envelope(client.get("/api/once_job/lists"))["data"]
        assert (listed["total"], [r["job_id"] for r in listed["data"]]) == (1, [anonymous])
        assert envelope(client.get(f"/api/once_job/describe/{anonymous}"))["code"] == 200
        assert envelope(client.delete(f"/api/once_job/delete/{anonymous}"))["code"] == 0
        # The rest of the API stays closed; a token presented is the token's, checked as such.
        assert client.get("/api/v1/jobs").status_code == 401
        assert client.get(f"/api/v1/jobs/{native_in_legacy}").status_code == 401
        assert (
            client.get("/api/once_job/lists", headers={"Authorization": "Bearer x"}).status_code
            == 401
        )
        root = envelope(client.get("/api/once_job/lists", headers=ROOT))["data"]
        assert root["total"] == 2


def test_compat_open_needs_open_namespaces(tmp_path: Path) -> None:
    settings = load(environ={}, overrides={"auth": {"compat_open": True}})
    with pytest.raises(ConfigError, match=r"^compat\.open_namespaces: must name the namespaces"):
        check_compat_open(settings)
    bad = load(
        environ={},
        overrides={"auth": {"compat_open": True}, "compat": {"open_namespaces": ["Bad!"]}},
    )
    with pytest.raises(ConfigError, match=r"^compat\.open_namespaces\[0\]: 'Bad!' is not"):
        check_compat_open(bad)
    check_compat_open(load(environ={}, overrides={"compat": {"open_namespaces": []}}))
    # Started anyway (without the check): no anonymous access at all, never every namespace.
    with secured(tmp_path, compat_open=True) as client:
        refused = client.get("/api/once_job/lists")
        assert refused.status_code == 401, refused.text
        assert client.post("/api/once_job/create", json=ONCE).status_code == 401


def test_numbers_out_of_range_are_refused_naming_the_field(client: TestClient[Any]) -> None:
    create(client)
    beyond = envelope(client.get("/api/once_job/lists?page_num=99999999999999999999"))
    assert (beyond["code"], beyond["cause"]) == (
        100,
        "page_num: 99999999999999999999 is out of range (at most 9223372036854775807)",
    )
    size = envelope(client.get("/api/cron_job/lists?page_size=-99999999999999999999"))
    assert size["code"] == 100 and size["cause"].startswith("page_size: ")
    # As the original's JSON decoder (Go int64) said it.
    posted = envelope(client.post("/api/once_job/lists", json={"page_num": 99999999999999999999}))
    assert (posted["code"], posted["cause"]) == (
        103,
        "json: cannot unmarshal number 99999999999999999999 into Go struct field .page_num of "
        "type int64",
    )
    # The last page an int64 can name is simply empty.
    last = envelope(client.get(f"/api/once_job/lists?page_num={2**63 - 1}&page_size=500"))
    assert (last["data"]["total"], last["data"]["data"]) == (1, None)
    for fields, cause in [
        ({"job_exec_time": 10**15}, "job_exec_time: must be at most 366 days ahead"),
        ({"metadata": {"parallelism": "9" * 20}}, "metadata.parallelism: Expected `int` <= "),
        ({"metadata": {"backoff_limit": "9" * 20}}, "metadata.backoff_limit: Expected `int` <= "),
    ]:
        body = envelope(
            client.post("/api/once_job/create", json={**ONCE, "job_name": "x", **fields})
        )
        assert body["code"] == 104 and body["cause"].startswith(cause), body


def test_a_cron_delete_waits_for_its_cluster_and_the_posted_forms(
    client: TestClient[Any], agent: FakeAgent
) -> None:
    import threading

    agent.heartbeat()
    cron = {**ONCE, "job_name": "hourly", "schedule": "0 * * * *"}
    cron_id = envelope(client.post("/api/cron_job/create", json=cron))["data"]["job_id"]
    (dispatch,) = wait_until(agent.dispatches, timeout=5, what="the CronJob's dispatch")
    assert dispatch.kind == "cronjob"
    assert dispatch.manifest["metadata"]["labels"]["job_id"] == cron_id  # the original's label
    agent.status({"id": cron_id, "attempt": 1}, "created")
    wait_until(
        lambda: (
            envelope(client.post("/api/cron_job/describe", json={"job_id": cron_id}))["data"][
                "job_state"
            ]
            == 0
        ),
        timeout=5,
        what="the CronJob created",
    )
    assert envelope(client.post("/api/cron_job/lists", json={"page_size": 5}))["data"]["total"] == 1
    late = envelope(client.delete(f"/api/cron_job/delete/{cron_id}"))  # nobody confirms
    assert (late["code"], late["cause"]) == (253, "delete job timeout.")
    (cancel,) = wait_until(agent.controls, timeout=5, what="the delete")
    assert (cancel.action, cancel.kind) == ("cancel", "cronjob")

    def confirm_soon() -> None:
        time.sleep(0.5)
        agent.status({"id": cron_id, "attempt": 1}, "cancelled", reason="Cancelled")

    threading.Thread(target=confirm_soon).start()
    done = envelope(client.post("/api/cron_job/delete", json={"job_id": cron_id}))
    assert done["data"] == f"delete cron_job success job_id: {cron_id}"
    assert envelope(client.get(f"/api/cron_job/describe/{cron_id}"))["data"]["job_state"] == 3
