"""`log_sink = "db"`: collected logs as compressed, sequenced chunks in the store."""

from __future__ import annotations

import asyncio

from kjs.core.backends import Backend, BuildContext
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import Store


class DbLogSink:
    def __init__(self, store: Store) -> None:
        self.store = store

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
        return await asyncio.to_thread(
            self.store.append_log, job_id, attempt, pod, container, seq, data, truncated
        )

    async def read(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        pod: str | None = None,
        container: str | None = None,
        after: dict[tuple[str, str], int] | None = None,
    ) -> list[tuple[str, str, int, bytes]]:
        return await asyncio.to_thread(
            self.store.read_logs,
            job_id,
            attempt=attempt,
            pod=pod,
            container=container,
            after=after,
        )

    async def truncated(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        return await asyncio.to_thread(self.store.truncated_logs, job_id, attempt)


def _make(context: BuildContext) -> DbLogSink:
    return DbLogSink(context.store)


@hookimpl
def register_log_sinks() -> list[Backend]:
    return [Backend("log_sink", "db", _make, "compressed chunks in the store")]
