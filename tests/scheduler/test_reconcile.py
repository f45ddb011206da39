"""The leader's reconcile: which jobs each cluster's agent is asked about, and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kjs.core import components, messages
from kjs.core.config import load
from kjs.core.models import JobSpec
from kjs.core.records import ClusterRecord, JobRecord
from kjs.core.states import JobState
from kjs.scheduler import reconcile
from kjs.scheduler.reconcile import Reconciler

NOW = dt.datetime.now(dt.UTC)
SETTLED = NOW - dt.timedelta(seconds=60)


class RecordingQueue:
    """Only what the reconciler uses of a queue: publish, recorded."""

    def __init__(self) -> None:
        self.published: list[tuple[str, messages.Message]] = []

    async def publish(self, topic: str, body: bytes) -> None:
        self.published.append((topic, messages.decode(body)))

    def reconciles(self) -> list[tuple[str, messages.Reconcile]]:
        return [(t, m) for t, m in self.published if isinstance(m, messages.Reconcile)]


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def c(tmp_path: Path, queue: RecordingQueue) -> components.Components:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    built = components.build(settings, queue=queue)
    built.store.migrate()
    return built


def cluster(c: components.Components, cluster_id: str, *, silent_s: float = 0) -> None:
    beat = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=silent_s)
    c.store.upsert_cluster(ClusterRecord(id=cluster_id, capacity=10, last_heartbeat=beat))


def job(
    c: components.Components,
    name: str,
    state: JobState,
    cluster_id: str = "c1",
    updated_at: dt.datetime = SETTLED,
) -> JobRecord:
    record = JobRecord(
        id=f"{name}-{cluster_id}-id",
        spec=JobSpec(name=name, namespace="ns", image="busybox"),
        state=state,
        attempt=2,
        cluster_id=cluster_id,
        k8s_name=f"{name}-a2",
        created_at=SETTLED,
        updated_at=updated_at,
    )
    return c.store.create_job(record)


def refs(queue: RecordingQueue, cluster_id: str) -> set[tuple[str, int, str, str, str]]:
    return {
        (r.job_id, r.attempt, r.namespace, r.k8s_name, r.state)
        for topic, message in queue.reconciles()
        if topic == messages.control_topic(cluster_id)
        for r in message.jobs
    }


async def test_a_ready_cluster_is_asked_about_its_settled_active_jobs_only(
    c: components.Components, queue: RecordingQueue
) -> None:
    cluster(c, "c1")
    for state in JobState:
        job(c, state.value, state)
    job(c, "fresh", JobState.RUNNING, updated_at=dt.datetime.now(dt.UTC))  # may be racing
    job(c, "elsewhere", JobState.RUNNING, cluster_id="c2")

    assert await Reconciler(c).reconcile() == 1
    assert refs(queue, "c1") == {
        (f"{s}-c1-id", 2, "ns", f"{s}-a2", s) for s in ("created", "running", "cancelling", "lost")
    }
    ((_, message),) = queue.reconciles()
    assert message.cluster_id == "c1"


async def test_unreachable_clusters_are_not_asked_cordoned_ones_are(
    c: components.Components, queue: RecordingQueue
) -> None:
    cluster(c, "silent", silent_s=3600)
    cluster(c, "silent-cordoned", silent_s=3600)
    cluster(c, "cordoned")  # takes no new work, but its agent still reports
    for cluster_id in ("silent-cordoned", "cordoned"):
        c.store.set_cordoned(cluster_id, True)
    for cluster_id in ("silent", "silent-cordoned", "cordoned"):
        job(c, "sleeper", JobState.RUNNING, cluster_id=cluster_id)
    assert await Reconciler(c).reconcile() == 1
    assert [m.cluster_id for _, m in queue.reconciles()] == ["cordoned"]


async def test_a_long_list_is_sent_in_chunks(
    c: components.Components, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "CHUNK", 2)
    cluster(c, "c1")
    for i in range(5):
        job(c, f"job{i}", JobState.RUNNING)
    assert await Reconciler(c).reconcile() == 3
    assert [len(m.jobs) for _, m in queue.reconciles()] == [2, 2, 1]
    assert len(refs(queue, "c1")) == 5


async def test_a_cluster_is_asked_again_after_reconcile_s_or_soon_while_it_has_lost_jobs(
    c: components.Components, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster(c, "calm")
    cluster(c, "back")
    job(c, "sleeper", JobState.RUNNING, cluster_id="calm")
    job(c, "sleeper", JobState.LOST, cluster_id="back")
    reconciler = Reconciler(c)
    assert await reconciler.reconcile() == 2  # both at once: never asked before

    assert await reconciler.reconcile() == 0  # `reconcile_s` (30) has not passed
    monkeypatch.setattr(reconcile, "LOST_EVERY_S", 0.0)
    assert await reconciler.reconcile() == 1  # the cluster with lost jobs is not kept waiting
    assert queue.reconciles()[-1][0] == messages.control_topic("back")

    c.settings.dispatch.reconcile_s = 0.0
    assert await reconciler.reconcile() == 2


async def test_the_reconcile_message_round_trips() -> None:
    body = messages.Reconcile(
        cluster_id="c1",
        jobs=[messages.JobRef(job_id="j", attempt=3, namespace="ns", k8s_name="n", state="lost")],
    )
    assert messages.decode(messages.encode(body)) == body
    assert b'"type":"reconcile"' in messages.encode(body)
