"""Collecting container logs before Kubernetes deletes the pods.

Chunk `seq` of a container's log is always its bytes [seq * C, (seq + 1) * C) (C =
`LOG_CHUNK_BYTES`), so whoever sends it again (a restarted agent, a new leader) sends the same
bytes and the server stores nothing twice. While a container runs with `log_collect: always`, or
while someone follows its attempt (`Control` `stream_logs`), its log is followed and the chunk
being written is sent early, growing, about once a second, so users can follow it live; once the
container has terminated the whole log is read and sent. Logs are cut at the per-container cap,
and the cut is marked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from kjs.agent import kube
from kjs.agent.records import PodRecord, PodStatus
from kjs.agent.status import Observed
from kjs.core import aio, messages, metrics
from kjs.core.protocols import Queue

log = logging.getLogger(__name__)
CHUNK = messages.LOG_CHUNK_BYTES
FLUSH_S = 1.0
REQUESTS_KEPT = 10_000

Key = tuple[str, int, str, str, str]  # job id, attempt, namespace, pod, container


class LogCollector:
    def __init__(self, core: Any, cluster_id: str, queue: Queue, *, cap_bytes: int) -> None:
        self.core = core
        self.cluster_id = cluster_id
        self.queue = queue
        self.cap_bytes = cap_bytes
        self.followers: dict[Key, asyncio.Task[None]] = {}
        # Attempts someone follows (`Control` `stream_logs`): streamed while they run and kept
        # whole at their end, whatever their `log_collect` (but `never`). Bounded: an old
        # request is of no use once its attempt is over.
        self.requested: OrderedDict[tuple[str, int], None] = OrderedDict()

    def request(self, job_id: str, attempt: int) -> None:
        """A follow wants this attempt's log now (idempotent)."""
        self.requested[(job_id, attempt)] = None
        self.requested.move_to_end((job_id, attempt))
        while len(self.requested) > REQUESTS_KEPT:
            self.requested.popitem(last=False)

    def is_requested(self, job_id: str, attempt: int) -> bool:
        return (job_id, attempt) in self.requested

    async def _send(
        self, key: Key, data: bytes | bytearray, start_seq: int, truncated: bool
    ) -> None:
        """Send chunks start_seq.. of `data` (a container's log from byte 0)."""
        job_id, attempt, _, pod, container = key
        last = (len(data) - 1) // CHUNK
        metrics.AGENT_LOG_BYTES.labels(cluster=self.cluster_id).inc(len(data) - start_seq * CHUNK)
        for seq in range(start_seq, last + 1):
            await self.queue.publish(
                messages.LOGS_TOPIC,
                messages.encode(
                    messages.LogChunk(
                        job_id=job_id,
                        attempt=attempt,
                        pod=pod,
                        container=container,
                        seq=seq,
                        data=bytes(data[seq * CHUNK : (seq + 1) * CHUNK]),
                        truncated=truncated and seq == last,
                    )
                ),
            )

    def follow(self, job_id: str, attempt: int, namespace: str, pod: str, container: str) -> None:
        """Stream a running container's log to the server until the container ends."""
        key = (job_id, attempt, namespace, pod, container)
        task = self.followers.get(key)
        if task is None or task.done():
            self.followers[key] = asyncio.create_task(
                self._follow(key), name=f"log {pod}/{container}"
            )

    async def _follow(self, key: Key) -> None:
        _, _, namespace, pod, container = key
        try:
            response = await self.core.read_namespaced_pod_log_without_preload_content(
                pod, namespace, container=container, follow=True, limit_bytes=self.cap_bytes
            )
        except Exception as e:
            log.info("cannot follow %s/%s: %s", pod, container, kube.api_error(e)[2])
            return
        data, sent, last_flush = bytearray(), 0, time.monotonic()
        try:
            while True:
                try:
                    piece = await asyncio.wait_for(response.content.readany(), FLUSH_S)
                except TimeoutError:
                    piece = None
                if piece:
                    data += piece
                ended = piece == b""
                due = time.monotonic() - last_flush >= FLUSH_S or len(data) - sent >= CHUNK
                if len(data) > sent and (due or ended):
                    await self._send(key, data, sent // CHUNK, truncated=False)
                    sent, last_flush = len(data), time.monotonic()
                if ended:
                    return
        finally:
            response.release()

    async def collect(
        self, seen: Observed, namespace: str, pods: list[PodRecord]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Send every terminated container's whole log; returns the last seq and the bytes sent
        per "pod/container", for the final status event."""
        last_seq: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for pod in pods:
            name = pod.metadata.name or ""
            status = pod.status or PodStatus()
            for container in [
                *(status.init_container_statuses or ()),
                *(status.container_statuses or ()),
            ]:
                if container.state is None or container.state.terminated is None:
                    continue
                key = (seen.job_id, seen.attempt, namespace, name, container.name)
                follower = self.followers.pop(key, None)
                if follower is not None:
                    await aio.stop_tasks([follower])
                data = await self._read(namespace, name, container.name)
                if not data:
                    continue
                truncated = len(data) > self.cap_bytes
                data = data[: self.cap_bytes]
                await self._send(key, data, 0, truncated)
                last_seq[f"{name}/{container.name}"] = (len(data) - 1) // CHUNK
                sizes[f"{name}/{container.name}"] = len(data)
        return last_seq, sizes

    async def _read(self, namespace: str, pod: str, container: str) -> bytes:
        try:
            response = await self.core.read_namespaced_pod_log_without_preload_content(
                pod, namespace, container=container, limit_bytes=self.cap_bytes + 1
            )
            return bytes(await response.read())
        except Exception as e:
            _, reason, message = kube.api_error(e)
            log.warning(
                "log of %s/%s/%s not collected: %s %s", namespace, pod, container, reason, message
            )
            return b""

    async def close(self) -> None:
        await aio.stop_tasks(self.followers.values())
        self.followers.clear()
