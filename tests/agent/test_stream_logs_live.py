"""`Control` `stream_logs`: the agent streams a followed default (`on_failure`) job's log while
it runs, and keeps it whole at its end — against a real test cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kjs.agent.run import running_agent
from kjs.core import manifest, messages
from kjs.plugins.queue_memory import MemoryQueue
from kjs.testing.pytest_plugin import Cluster
from tests.agent.test_agent_live import agent_settings, kjs_job

pytestmark = pytest.mark.k8s


async def test_a_followed_default_job_is_streamed_live_then_kept_whole(
    k8s_clusters: list[Cluster],
    k8s_namespace: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = k8s_clusters[0]
    settings = agent_settings(tmp_path, k8s_namespace)
    queue = MemoryQueue()
    go_on = tmp_path / "go-on"  # the test kubelet runs the container as a local process
    job = kjs_job(
        k8s_namespace, "chatty", f"echo one; while [ ! -e {go_on} ]; do sleep 0.1; done; echo two"
    )
    assert job["metadata"]["annotations"][manifest.LOG_COLLECT] == "on_failure"
    job_id = job["metadata"]["labels"][manifest.JOB_ID]
    chunks: asyncio.Queue[messages.LogChunk] = asyncio.Queue()
    states: asyncio.Queue[messages.StatusEvent] = asyncio.Queue()
    leading = asyncio.Event()

    async def on_message(delivery: Any) -> bool:
        message = messages.decode(delivery.body)
        if isinstance(message, messages.LogChunk) and message.job_id == job_id:
            chunks.put_nowait(message)
        elif isinstance(message, messages.StatusEvent) and message.job_id == job_id:
            states.put_nowait(message)
        elif isinstance(message, messages.Heartbeat):
            leading.set()
        return True

    for topic in (messages.LOGS_TOPIC, messages.STATUS_TOPIC, messages.HEARTBEAT_TOPIC):
        await queue.subscribe(topic, "test", on_message)
    control = messages.control_topic(cluster.id)
    async with running_agent(settings, cluster.id, kubeconfig=cluster.kubeconfig, queue=queue):
        await asyncio.wait_for(leading.wait(), 30)
        # An action from a newer server: dropped, and the agent goes on.
        future = msgspec.json.encode(
            {"type": "control", "v": 1, "action": "from_the_future", "job_id": job_id,
             "attempt": 1, "namespace": k8s_namespace, "k8s_name": "x"}
        )  # fmt: skip
        await queue.publish(control, future)
        dispatch = messages.Dispatch(job_id=job_id, attempt=1, manifest=job)
        await queue.publish(messages.dispatch_topic(cluster.id), messages.encode(dispatch))
        while (await asyncio.wait_for(states.get(), 60)).state != "running":
            pass
        ask = messages.Control(
            action="stream_logs",
            job_id=job_id,
            attempt=1,
            namespace=k8s_namespace,
            k8s_name=job["metadata"]["name"],
        )
        for _ in range(2):  # twice: one stream all the same
            await queue.publish(control, messages.encode(ask))
        first = await asyncio.wait_for(chunks.get(), 30)
        assert (first.seq, first.data) == (0, b"one\n")  # while it still runs
        assert states.empty()
        go_on.touch()
        final = await asyncio.wait_for(states.get(), 60)
        while final.state not in ("succeeded", "failed"):
            final = await asyncio.wait_for(states.get(), 60)
        assert final.state == "succeeded"
        # Kept whole at its end, as `always` would be: the final state names the last chunk.
        ((key, last_seq),) = final.last_log_seq.items()
        assert last_seq == 0 and final.log_bytes == {key: len(b"one\ntwo\n")}
        received = [first]
        while not chunks.empty():
            received.append(chunks.get_nowait())
    assert "dropping a message this agent cannot read" in caplog.text
    assert received[-1].data == b"one\ntwo\n"
    assert {c.seq for c in received} == {0}  # the same chunk growing: nothing to duplicate
