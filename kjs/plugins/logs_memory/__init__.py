"""`log_sink = "memory"`: collected logs in this process's memory, gone when it stops.

For tests and throwaway embedded runs; a server with replicas needs a sink they share (`db`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kjs.core.backends import Backend, BuildContext
from kjs.core.hookspecs import hookimpl

Log = tuple[int, str, str]  # (attempt, pod, container) of one job


@dataclass
class _Chunk:
    data: bytes
    truncated: bool
    stored_at: dt.datetime  # when first kept: retention goes by it, as the db sink's does


class MemoryLogSink:
    """Chunks in dictionaries. Each method runs without awaiting, so none sees another's half
    work."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[Log, dict[int, _Chunk]]] = {}

    async def append(
        self,
        job_id: str,
        attempt: int,
        pod: str,
        container: str,
        seq: int,
        data: bytes,
        truncated: bool,
    ) -> bool:
        logs = self._jobs.setdefault(job_id, {})
        chunks = logs.setdefault((attempt, pod, container), {})
        kept = chunks.get(seq)
        if kept is None:
            chunks[seq] = _Chunk(bytes(data), truncated, dt.datetime.now(dt.UTC))
            return True
        changed = False
        if len(data) > len(kept.data):  # a longer version of a chunk sent early
            kept.data, changed = bytes(data), True
        if truncated and not kept.truncated:  # the mark stays once set
            kept.truncated, changed = True, True
        return changed

    async def read(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        pod: str | None = None,
        container: str | None = None,
        after: dict[tuple[str, str], int] | None = None,
    ) -> list[tuple[str, str, int, bytes]]:
        after = after or {}
        rows = []
        for (run, pod_name, container_name), chunks in sorted(self._jobs.get(job_id, {}).items()):
            if (
                attempt not in (None, run)
                or pod not in (None, pod_name)
                or container not in (None, container_name)
            ):
                continue
            last = after.get((pod_name, container_name), -1)
            rows += [
                (pod_name, container_name, seq, chunks[seq].data)
                for seq in sorted(chunks)
                if seq > last
            ]
        return rows

    async def truncated(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        return {
            (pod, container)
            for (run, pod, container), chunks in self._jobs.get(job_id, {}).items()
            if run == attempt and any(c.truncated for c in chunks.values())
        }

    async def chunk_counts(
        self, job_id: str, attempt: int
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return {
            (pod, container): (len(chunks), sum(len(c.data) for c in chunks.values()))
            for (run, pod, container), chunks in self._jobs.get(job_id, {}).items()
            if run == attempt
        }

    async def delete_older_than(self, before: dt.datetime) -> int:
        removed = 0
        for job_id, logs in list(self._jobs.items()):
            for key, chunks in list(logs.items()):
                old = [seq for seq, chunk in chunks.items() if chunk.stored_at < before]
                for seq in old:
                    del chunks[seq]
                removed += len(old)
                if not chunks:
                    del logs[key]
            if not logs:
                del self._jobs[job_id]
        return removed


def _make(context: BuildContext) -> MemoryLogSink:
    return MemoryLogSink()


@hookimpl
def register_log_sinks() -> list[Backend]:
    return [Backend("log_sink", "memory", _make, "in this process's memory (tests, trials)")]
