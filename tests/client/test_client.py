"""`Client` against a live `kjs server` (no agent: jobs stay pending): jobs, cron jobs and
clusters, as typed results."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import msgspec
import pytest

from kjs.client import Client, Cluster, Conflict, CronJob, Event, InvalidRequest, Job, NotFound
from kjs.core.models import JobSpec
from tests.client.conftest import NAMESPACE, as_submitted, heartbeat, job
from tests.live import LiveServer


def test_submit_answers_a_typed_job_with_aware_datetimes(kjs: Client, tag: str) -> None:
    submitted = kjs.submit(job("hello", tag, command=["echo", "hi"], env={"A": "1"}))
    assert isinstance(submitted, Job)
    assert (submitted.name, submitted.namespace, submitted.state) == ("hello", NAMESPACE, "pending")
    assert submitted.command == ["echo", "hi"] and submitted.env == {"A": "1"}
    assert submitted.labels == {"test": tag} and submitted.attempt == 1
    assert submitted.created_at.tzinfo is not None and not submitted.is_final
    assert as_submitted(kjs.get(submitted.id), submitted) == submitted


def test_submit_takes_a_jobspec_too(kjs: Client) -> None:
    spec = JobSpec(name="typed", namespace=NAMESPACE, image="busybox", args=["-c", "true"])
    assert kjs.submit(spec).args == ["-c", "true"]


def test_an_idempotency_key_makes_a_retry_answer_the_first_job(kjs: Client, tag: str) -> None:
    first = kjs.submit(job("once", tag), idempotency_key=f"key-{tag}")
    again = kjs.submit(job("once", tag), idempotency_key=f"key-{tag}")
    assert again.id == first.id
    assert [j.id for j in kjs.iter_jobs(labels={"test": tag})] == [first.id]


def test_submit_many_answers_the_jobs_in_order(kjs: Client, tag: str) -> None:
    jobs = kjs.submit_many(
        [job(f"b{i}", tag) for i in range(3)], idempotency_keys=[f"{tag}-0", None, f"{tag}-2"]
    )
    assert [j.name for j in jobs] == ["b0", "b1", "b2"]
    replayed = kjs.submit_many([job("b0", tag)], idempotency_keys=[f"{tag}-0"])
    assert replayed[0].id == jobs[0].id
    assert kjs.submit_many([]) == []
    with pytest.raises(ValueError, match="2 idempotency keys for 1 jobs"):
        kjs.submit_many([job("x", tag)], idempotency_keys=["a", "b"])


class Counting(httpx.BaseTransport):
    """The real transport, counting the requests per path; `no_batch` plays a server from
    before `POST /jobs:batch` (404 for it)."""

    def __init__(self, no_batch: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.no_batch = no_batch
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.no_batch and request.url.path.endswith("/jobs:batch"):
            return httpx.Response(404, json={"status": 404, "title": "Not found", "detail": "x"})
        return self.inner.handle_request(request)


def test_submit_many_sends_chunks_of_1000_and_names_items_over_the_whole_list(
    server: LiveServer, tag: str
) -> None:
    transport = Counting()
    with Client(server.url, transport=transport) as kjs:
        jobs = kjs.submit_many([job(f"n{i}", tag) for i in range(1001)])
        assert len(jobs) == 1001 and jobs[1000].name == "n1000"
        assert transport.paths.count("/api/v1/jobs:batch") == 2
        with pytest.raises(InvalidRequest) as refused:
            kjs.submit_many([job(f"m{i}", tag) for i in range(1001)] + [job("Bad!", tag)])
    assert [e.field for e in refused.value.errors] == ["items[1001].name"]
    assert str(refused.value).startswith("400: items[1001].name: a lowercase RFC 1123 label")


def test_submit_many_falls_back_to_one_post_each_without_the_batch_route(
    server: LiveServer, tag: str
) -> None:
    transport = Counting(no_batch=True)
    with Client(server.url, transport=transport) as kjs:
        jobs = kjs.submit_many([job("f0", tag), job("f1", tag)], idempotency_keys=["k0", "k1"])
        assert [j.name for j in jobs] == ["f0", "f1"]
        assert kjs.submit_many([job("f0", tag)], idempotency_keys=["k0"])[0].id == jobs[0].id
        with pytest.raises(InvalidRequest) as refused:
            kjs.submit_many([job("f2", tag), job("f3", tag, image="")])
    assert [e.field for e in refused.value.errors] == ["items[1].image"]
    # the batch route was tried once, then remembered as missing
    assert transport.paths.count("/api/v1/jobs:batch") == 1
    assert transport.paths.count("/api/v1/jobs") == 5


def test_dry_run_answers_the_manifest_and_stores_nothing(kjs: Client, tag: str) -> None:
    manifest = kjs.dry_run(job("dry", tag))
    assert manifest["kind"] == "Job" and manifest["metadata"]["namespace"] == NAMESPACE
    assert list(kjs.iter_jobs(labels={"test": tag})) == []


def test_list_filters_and_iter_jobs_follows_every_page(kjs: Client, tag: str) -> None:
    before = dt.datetime.now(dt.UTC)
    submitted = kjs.submit_many([job(f"p{i}", tag) for i in range(7)])
    page = kjs.list(labels={"test": tag}, limit=3)
    assert [j.name for j in page.items] == ["p6", "p5", "p4"]  # newest first
    assert page.next_cursor is not None and page.watch_cursor is not None
    second = kjs.list(labels={"test": tag}, limit=3, cursor=page.next_cursor)
    assert [j.name for j in second.items] == ["p3", "p2", "p1"]
    every = list(kjs.iter_jobs(labels={"test": tag}, page_size=2))
    assert [j.id for j in every] == [j.id for j in reversed(submitted)]
    assert [j.name for j in kjs.iter_jobs(labels={"test": tag}, name="p3")] == ["p3"]
    kjs.cancel(submitted[0].id)
    assert [j.name for j in kjs.iter_jobs(labels={"test": tag}, state="cancelled")] == ["p0"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert len(list(kjs.iter_jobs(labels={"test": tag}, created_after=before))) == 7
    assert list(kjs.iter_jobs(labels={"test": tag}, created_after=later)) == []
    assert len(list(kjs.iter_jobs(labels={"test": tag}, created_before=later))) == 7


def test_cancel_rerun_update_and_the_events_they_leave(kjs: Client, tag: str) -> None:
    submitted = kjs.submit(job("life", tag))
    edited = kjs.update(submitted.id, {"image": "alpine:3", "env": {"X": "y"}})
    assert (edited.image, edited.env, edited.attempt) == ("alpine:3", {"X": "y"}, 1)
    cancelled = kjs.cancel(submitted.id)
    assert cancelled.state == "cancelled" and cancelled.is_final
    assert kjs.cancel(submitted.id).state == "cancelled"  # already final: as it is
    with pytest.raises(Conflict):
        kjs.update(submitted.id, {"image": "busybox"})
    rerun = kjs.rerun(submitted.id)
    assert (rerun.attempt, rerun.state) == (2, "pending")
    events = kjs.events(submitted.id)
    assert all(isinstance(e, Event) and e.job_id == submitted.id for e in events)
    assert [(e.attempt, e.state, e.reason) for e in events] == [
        (1, "pending", "Accepted"),
        (1, "pending", "Updated"),
        (1, "cancelled", "CancelRequested"),
        (2, "pending", "Rerun"),
    ]
    assert events[0].at.tzinfo is not None


def test_callbacks_and_redeliver(kjs: Client, tag: str) -> None:
    hooked = kjs.submit(job("hooked", tag, callback_url="https://hooks.example.com/kjs"))
    assert kjs.callbacks(hooked.id) == []
    with pytest.raises(Conflict, match="409: "):
        kjs.redeliver(hooked.id)  # not final yet


def test_logs_of_a_job_that_never_ran_are_empty(kjs: Client, tag: str) -> None:
    submitted = kjs.submit(job("quiet", tag))
    assert kjs.logs(submitted.id) == ""
    with pytest.raises(NotFound):
        kjs.logs("00000000-0000-4000-8000-000000000000")


def test_cron_jobs(kjs: Client, tag: str) -> None:
    cron = kjs.create_cron(
        job(f"cron-{tag}", tag, schedule="0 3 * * *", time_zone="Europe/Berlin", mode="managed")
    )
    assert isinstance(cron, CronJob)
    assert (cron.schedule, cron.time_zone, cron.state, cron.suspend) == (
        "0 3 * * *",
        "Europe/Berlin",
        "active",
        False,
    )
    assert cron.next_run_at is not None and cron.next_run_at.tzinfo is not None
    assert kjs.get_cron(cron.id) == cron
    assert [c.id for c in kjs.list_crons(name=f"cron-{tag}").items] == [cron.id]
    assert cron.id in {c.id for c in kjs.iter_crons(page_size=1)}
    assert kjs.update_cron(cron.id, {"schedule": "30 4 * * *"}).schedule == "30 4 * * *"
    assert kjs.suspend_cron(cron.id).suspend is True
    assert kjs.resume_cron(cron.id).suspend is False
    run = kjs.trigger_cron(cron.id)
    assert isinstance(run, Job) and run.cron_id == cron.id
    assert [j.id for j in kjs.cron_runs(cron.id).items] == [run.id]
    assert [j.id for j in kjs.iter_jobs(cron_id=cron.id)] == [run.id]
    assert kjs.delete_cron(cron.id).id == cron.id
    with pytest.raises(NotFound):
        kjs.get_cron(cron.id)


def test_clusters_cordon_and_uncordon(server: LiveServer, kjs: Client, tag: str) -> None:
    heartbeat(server, f"c-{tag}")
    cluster = kjs.cluster(f"c-{tag}")
    assert isinstance(cluster, Cluster)
    assert (cluster.state, cluster.capacity, cluster.version, cluster.cordoned) == (
        "ready",
        0,
        "v1.36.3",
        False,
    )
    assert (cluster.load, cluster.running, cluster.dispatched) == (None, 0, 0)
    assert cluster.last_heartbeat is not None and cluster.last_heartbeat.tzinfo is not None
    assert f"c-{tag}" in {c.id for c in kjs.clusters()}
    cordoned = kjs.cordon(f"c-{tag}")
    assert (cordoned.state, cordoned.cordoned) == ("cordoned", True)
    assert kjs.uncordon(f"c-{tag}").cordoned is False
    with pytest.raises(NotFound):
        kjs.cordon("no-such-cluster")


def test_a_newer_servers_unknown_fields_are_ignored(server: LiveServer, kjs: Client) -> None:
    answer = server.post("/api/v1/jobs", json=job("newer"))
    body: dict[str, Any] = answer.json()
    body["a_field_from_the_future"] = {"x": 1}
    decoded = msgspec.json.decode(msgspec.json.encode(body), type=Job)
    assert decoded == as_submitted(kjs.get(body["id"]), decoded)


def test_models_give_back_the_apis_json(server: LiveServer, kjs: Client, tag: str) -> None:
    """`msgspec.to_builtins` of a result is the server's JSON, field for field (the CLI
    prints it so)."""
    submitted = kjs.submit(job("shape", tag))
    heartbeat(server, f"shape-{tag}")
    cron = kjs.create_cron(job(f"shape-{tag}", tag, schedule="@daily", mode="managed"))
    for path, model in (
        (f"/api/v1/jobs/{submitted.id}", kjs.get(submitted.id)),
        (f"/api/v1/jobs/{submitted.id}/events", {"items": kjs.events(submitted.id)}),
        (f"/api/v1/cronjobs/{cron.id}", kjs.get_cron(cron.id)),
        (f"/api/v1/clusters/shape-{tag}", kjs.cluster(f"shape-{tag}")),
    ):
        raw = server.get(path).json()
        assert msgspec.to_builtins(model) == raw, path
        assert list(msgspec.to_builtins(model)) == list(raw)  # in the same order
