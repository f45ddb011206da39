"""`log_sink = "files"`: collected container logs as plain files under one directory.

A log arrives as chunks keyed by `seq` (chunk `seq` is bytes [seq·65536, (seq+1)·65536) of the
container's log), each kept in a file of its own::

    <directory>/<job id>/<attempt>/<pod>/<container>/<seq>.log   the chunk's bytes
    <directory>/<job id>/<attempt>/<pod>/<container>/<seq>.cut   the log was cut after it

so `cat $(ls -v …/<container>/*.log)` is the whole log. A file's modification time is when
the chunk was first kept (set explicitly, and carried over when a longer version replaces it):
retention goes by it. Writes take `<directory>/.lock` (flock) and replace files atomically, so
readers never see half a chunk and two processes on one directory do not undo each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from msgspec import Struct

from kjs.core.backends import Backend, BuildContext, SettingsSection
from kjs.core.config import ConfigError
from kjs.core.hookspecs import hookimpl

SECTION = "filelogs"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FileLogSettings(Struct, forbid_unknown_fields=True):
    """`[filelogs]`: where the logs go."""

    directory: str = "filelogs"  # relative to kjs's data_dir unless absolute


def _part(name: str) -> str:
    """A name as one path component (`/` and `%` escaped; never `.` or `..`)."""
    part = quote(name, safe="")
    if part in ("", ".", ".."):
        raise ValueError(f"{name!r} cannot name a log directory")
    return part


def _names(folder: Path) -> list[str]:
    """The entries of `folder`, none when it is gone (retention may remove it meanwhile)."""
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _seqs(folder: Path) -> list[int]:
    """The seqs of the chunks kept in a container's folder."""
    return [
        int(name[: -len(".log")])
        for name in _names(folder)
        if name.endswith(".log") and name[: -len(".log")].isdigit()
    ]


def _ns(at: dt.datetime) -> int:
    """`at` as nanoseconds since the epoch, exactly (a float would round microseconds)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - _EPOCH) // dt.timedelta(microseconds=1) * 1000


class FileLogSink:
    """`kjs.core.protocols.LogSink` on a directory tree; file work runs in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    # -- the protocol ----------------------------------------------------------------------------

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
            self._append, job_id, attempt, pod, container, seq, data, truncated
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
        return await asyncio.to_thread(self._read, job_id, attempt, pod, container, after or {})

    async def truncated(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        return await asyncio.to_thread(self._truncated, job_id, attempt)

    async def chunk_counts(
        self, job_id: str, attempt: int
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return await asyncio.to_thread(self._chunk_counts, job_id, attempt)

    async def delete_older_than(self, before: dt.datetime) -> int:
        return await asyncio.to_thread(self._delete_older_than, _ns(before))

    # -- files -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _folder(self, job_id: str, attempt: int, pod: str, container: str) -> Path:
        return self.directory / _part(job_id) / str(attempt) / _part(pod) / _part(container)

    def _containers(
        self, job_id: str, attempt: int | None, pod: str | None, container: str | None
    ) -> Iterator[tuple[int, str, str, Path]]:
        """(attempt, pod, container, folder) of a job's logs, filtered (None: any)."""
        job = self.directory / _part(job_id)
        for run in _names(job):
            if not run.isdigit() or attempt not in (None, int(run)):
                continue
            for pod_part in _names(job / run):
                if pod not in (None, unquote(pod_part)):
                    continue
                for container_part in _names(job / run / pod_part):
                    if container not in (None, unquote(container_part)):
                        continue
                    folder = job / run / pod_part / container_part
                    yield int(run), unquote(pod_part), unquote(container_part), folder

    def _append(
        self,
        job_id: str,
        attempt: int,
        pod: str,
        container: str,
        seq: int,
        data: bytes,
        truncated: bool,
    ) -> bool:
        folder = self._folder(job_id, attempt, pod, container)
        chunk, cut = folder / f"{seq}.log", folder / f"{seq}.cut"
        with self._locked():
            try:
                kept: os.stat_result | None = chunk.stat()
            except FileNotFoundError:
                kept = None
            changed = False
            # A chunk sent while the container ran holds a prefix: a longer one replaces it, a
            # shorter one (a late copy) never replaces a longer.
            if kept is None or len(data) > kept.st_size:
                first_kept = kept.st_mtime_ns if kept is not None else time.time_ns()
                folder.mkdir(parents=True, exist_ok=True)
                self._write(chunk, data, first_kept)
                changed = True
            if truncated and not cut.exists():  # the mark stays once set
                cut.touch()
                changed = True
            return changed

    @staticmethod
    def _write(chunk: Path, data: bytes, first_kept_ns: int) -> None:
        temporary = chunk.with_name(f".{chunk.name}.{uuid.uuid4().hex}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # acknowledged chunks are not sent again: keep them
        os.utime(temporary, ns=(first_kept_ns, first_kept_ns))
        os.replace(temporary, chunk)

    def _read(
        self,
        job_id: str,
        attempt: int | None,
        pod: str | None,
        container: str | None,
        after: dict[tuple[str, str], int],
    ) -> list[tuple[str, str, int, bytes]]:
        rows: list[tuple[tuple[int, str, str, int], bytes]] = []
        for run, pod_name, container_name, folder in self._containers(
            job_id, attempt, pod, container
        ):
            last = after.get((pod_name, container_name), -1)
            for seq in _seqs(folder):
                if seq <= last:
                    continue
                with contextlib.suppress(FileNotFoundError):  # retention took it meanwhile
                    data = (folder / f"{seq}.log").read_bytes()
                    rows.append(((run, pod_name, container_name, seq), data))
        rows.sort(key=lambda row: row[0])
        return [(pod_name, name, seq, data) for (_, pod_name, name, seq), data in rows]

    def _truncated(self, job_id: str, attempt: int) -> set[tuple[str, str]]:
        return {
            (pod, container)
            for _, pod, container, folder in self._containers(job_id, attempt, None, None)
            if any(name.endswith(".cut") for name in _names(folder))
        }

    def _chunk_counts(self, job_id: str, attempt: int) -> dict[tuple[str, str], tuple[int, int]]:
        counts = {}
        for _, pod, container, folder in self._containers(job_id, attempt, None, None):
            sizes = []
            for seq in _seqs(folder):
                with contextlib.suppress(FileNotFoundError):
                    sizes.append((folder / f"{seq}.log").stat().st_size)
            if sizes:
                counts[pod, container] = (len(sizes), sum(sizes))
        return counts

    def _delete_older_than(self, before_ns: int) -> int:
        removed = 0
        with self._locked():
            for job_part in _names(self.directory):
                if job_part.startswith("."):  # the lock
                    continue
                job = self.directory / job_part
                for run in _names(job):
                    for pod_part in _names(job / run):
                        for container_part in _names(job / run / pod_part):
                            folder = job / run / pod_part / container_part
                            removed += self._delete_chunks(folder, before_ns)
                            _remove_if_empty(folder)
                        _remove_if_empty(job / run / pod_part)
                    _remove_if_empty(job / run)
                _remove_if_empty(job)
        return removed

    @staticmethod
    def _delete_chunks(folder: Path, before_ns: int) -> int:
        removed = 0
        for name in _names(folder):
            if name.endswith(".tmp"):  # a write cut short by a crash (writes hold the lock)
                (folder / name).unlink(missing_ok=True)
        for seq in _seqs(folder):
            chunk = folder / f"{seq}.log"
            if chunk.stat().st_mtime_ns < before_ns:
                chunk.unlink()
                (folder / f"{seq}.cut").unlink(missing_ok=True)
                removed += 1
        return removed


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _make(context: BuildContext) -> FileLogSink:
    settings = context.settings.section(SECTION, FileLogSettings)
    directory = context.settings.data_path(settings.directory)
    try:
        return FileLogSink(directory)
    except OSError as e:
        raise ConfigError(f"{SECTION}.directory: {directory} cannot be used: {e}") from e


@hookimpl
def register_settings() -> list[SettingsSection]:
    return [SettingsSection(SECTION, FileLogSettings, "where the files log sink keeps logs")]


@hookimpl
def register_log_sinks() -> list[Backend]:
    return [Backend("log_sink", "files", _make, "plain files under [filelogs] directory")]
