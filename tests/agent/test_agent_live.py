"""The agent's Kubernetes access and its status stream, against a real test cluster."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from kjs.agent import kube
from kjs.agent.records import JOBS, JobRecord
from kjs.agent.run import running_agent
from kjs.core import manifest, messages
from kjs.core.config import Settings, load
from kjs.core.models import JobSpec
from kjs.plugins.queue_memory import MemoryQueue
from kjs.testing.pytest_plugin import Cluster

pytestmark = pytest.mark.k8s


def agent_settings(data_dir: Path, namespace: str) -> Settings:
    """An agent of its own (single election) watching only the test's namespace."""
    return load(
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "election": "single",
            "agent": {"namespaces": [namespace], "max_concurrent_jobs": 10},
        },
    )


def kjs_job(namespace: str, name: str, script: str = "true", **extra: Any) -> dict[str, Any]:
    spec = JobSpec(name=name, namespace=namespace, image="busybox", command=["sh", "-c", script])
    job = manifest.render_job(spec, job_id=str(uuid.uuid4()))
    job["spec"].update(extra)
    return job


async def test_a_list_longer_than_a_page_comes_whole_and_its_version_watches_on(
    k8s_clusters: list[Cluster], k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = k8s_clusters[0]
    for i in range(5):  # another controller's: nothing makes pods for them
        cluster.batch.create_namespaced_job(
            k8s_namespace, kjs_job(k8s_namespace, f"paged{i}", managedBy="example.com/none")
        )
    monkeypatch.setattr(kube, "PAGE", 2)
    api = await kube.api_client(cluster.kubeconfig)
    try:
        from kubernetes.aio import client

        batch = client.BatchV1Api(api)
        call = batch.list_namespaced_job_without_preload_content
        items, version = await kube.list_objects(
            lambda **kw: call(k8s_namespace, **kw), JOBS, label_selector=kube.MANAGED
        )
        names = sorted(j.metadata.name or "" for j in items)
        assert len(names) == 5 and all(n.startswith(f"paged{i}-") for i, n in enumerate(names))
        cluster.batch.create_namespaced_job(
            k8s_namespace, kjs_job(k8s_namespace, "after", managedBy="example.com/none")
        )
        events = kube.watch_objects(
            lambda **kw: call(k8s_namespace, **kw), JOBS, version, label_selector=kube.MANAGED
        )
        async for kind, job in events:
            if kind == "ADDED":  # the first news after the list is the Job made after it
                assert isinstance(job, JobRecord)
                assert (job.metadata.name or "").startswith("after")
                break
        await events.aclose()
    finally:
        await api.close()


async def test_a_refused_create_raises_what_the_generated_client_raises(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    api = await kube.api_client(k8s_clusters[0].kubeconfig)
    try:
        job = kjs_job(k8s_namespace, "twice", managedBy="example.com/none")
        path = f"/apis/batch/v1/namespaces/{k8s_namespace}/jobs"
        await kube.create(api, path, job)
        with pytest.raises(Exception) as again:
            await kube.create(api, path, job)
        assert kube.api_error(again.value)[:2] == (409, "AlreadyExists")
        lost = {**job, "metadata": {**job["metadata"], "namespace": "no-such-namespace"}}
        with pytest.raises(Exception) as nowhere:
            await kube.create(api, "/apis/batch/v1/namespaces/no-such-namespace/jobs", lost)
        assert kube.api_error(nowhere.value)[0] == 404
        job["spec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
        job["metadata"]["name"] = "invalid"
        with pytest.raises(Exception) as invalid:
            await kube.create(api, path, job)
        status, reason, text = kube.api_error(invalid.value)
        assert (status, reason) == (422, "Invalid") and "restartPolicy" in text
    finally:
        await api.close()


async def test_a_dispatched_job_is_reported_created_once_then_as_it_runs(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    """The dispatch reports `created` (with the object's namespace); the report loop, which
    sees the new Job too, does not send the same news again."""
    cluster = k8s_clusters[0]
    settings = agent_settings(tmp_path, k8s_namespace)
    queue = MemoryQueue()
    job = kjs_job(k8s_namespace, "once")
    job_id = job["metadata"]["labels"][manifest.JOB_ID]
    seen: list[messages.StatusEvent] = []
    done = asyncio.Event()

    async def on_status(delivery: Any) -> bool:
        event = messages.decode(delivery.body)
        if isinstance(event, messages.StatusEvent) and event.job_id == job_id:
            seen.append(event)
            if event.state in ("succeeded", "failed"):
                done.set()
        return True

    leading = asyncio.Event()  # its first heartbeat: it leads, with its caches new

    async def on_heartbeat(delivery: Any) -> bool:
        leading.set()
        return True

    await queue.subscribe(messages.STATUS_TOPIC, "test", on_status)
    await queue.subscribe(messages.HEARTBEAT_TOPIC, "test", on_heartbeat)
    async with running_agent(settings, cluster.id, kubeconfig=cluster.kubeconfig, queue=queue):
        await asyncio.wait_for(leading.wait(), 30)
        dispatch = messages.Dispatch(job_id=job_id, attempt=1, manifest=job)
        await queue.publish(messages.dispatch_topic(cluster.id), messages.encode(dispatch))
        await asyncio.wait_for(done.wait(), 90)
    states = [e.state for e in seen]
    assert states.count("created") == 1 and states[-1] == "succeeded", [
        (e.state, e.reason, e.pod, e.exit_codes, e.namespace) for e in seen
    ]
    (created,) = [e for e in seen if e.state == "created"]
    assert (created.namespace, created.k8s_name) == (k8s_namespace, job["metadata"]["name"])
