"""`log_sink = "db"`: collected logs as compressed, sequenced chunks in the store."""

from __future__ import annotations

import asyncio
import datetime as dt

from kjs.core.backends import Backend, BuildContext
from kjs.core.config import ConfigError
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import LogStore


class DbLogSink:
    """The store's log table behind the LogSink protocol (its calls run in the thread pool)."""

    def __init__(self, store: LogStore) -> None:
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

    async def chunk_counts(
        self, job_id: str, attempt: int
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return await asyncio.to_thread(self.store.log_chunk_counts, job_id, attempt)

    async def delete_older_than(self, before: dt.datetime) -> int:
        return await asyncio.to_thread(self.store.delete_logs_older_than, before)


def _make(context: BuildContext) -> DbLogSink:
    if not isinstance(context.store, LogStore):
        raise ConfigError(
            f'log_sink: "db" keeps logs in the store, and this store '
            f"({type(context.store).__name__}) has no log table: choose another log sink"
        )
    return DbLogSink(context.store)


@hookimpl
def register_log_sinks() -> list[Backend]:
    return [Backend("log_sink", "db", _make, "compressed chunks in the store")]
