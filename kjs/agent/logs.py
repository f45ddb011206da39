"""Collecting container logs before Kubernetes deletes the pods.

A container's log is read once it has terminated, cut at the per-container cap (the cut is
marked), and sent in fixed-size chunks numbered from 0. Chunking is deterministic, so a second
collection (after an agent restart or a change of leader) sends the same (seq, bytes) and the
server stores nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from kjs.agent import kube
from kjs.agent.status import Observed
from kjs.core import messages
from kjs.core.protocols import Queue

log = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024


class LogCollector:
    def __init__(self, core: Any, cluster_id: str, queue: Queue, *, cap_bytes: int) -> None:
        self.core = core
        self.cluster_id = cluster_id
        self.queue = queue
        self.cap_bytes = cap_bytes

    async def collect(
        self, seen: Observed, namespace: str, pods: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Send every terminated container's log; returns the last seq per "pod/container"."""
        last_seq: dict[str, int] = {}
        for pod in pods:
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            for container in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []
            ):
                if "terminated" not in (container.get("state") or {}):
                    continue
                data = await self._read(namespace, name, container["name"])
                if not data:
                    continue
                truncated = len(data) > self.cap_bytes
                data = data[: self.cap_bytes]
                chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
                for seq, chunk in enumerate(chunks):
                    await self.queue.publish(
                        messages.LOGS_TOPIC,
                        messages.encode(
                            messages.LogChunk(
                                job_id=seen.job_id,
                                attempt=seen.attempt,
                                pod=name,
                                container=container["name"],
                                seq=seq,
                                data=chunk,
                                truncated=truncated and seq == len(chunks) - 1,
                            )
                        ),
                    )
                last_seq[f"{name}/{container['name']}"] = len(chunks) - 1
        return last_seq

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
