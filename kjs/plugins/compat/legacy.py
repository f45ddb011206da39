"""`kjs import-legacy`: copy an original installation (its MySQL database, seed-system §6.5) into
kjs, so a team can switch over: once jobs, cron jobs, their statuses and counters, their logs.

Idempotent: what is imported already is left as it is, so the command can run again (e.g. once
more just before the original is switched off). Nothing imported is run or created again:

* a finished job keeps its final state; one still running on the original (state 0) becomes
  `lost` (kjs does not track objects the original created); one not started yet (state -1)
  becomes `cancelled` (`NotStartedBeforeImport`), or `pending` with `--run-pending`, which kjs
  then runs — only once the original is stopped;
* a cron job is recorded as created on no cluster: kjs does not place it, and its CronJob keeps
  running where the original put it until deleted there (or through kjs, then re-created by an
  update).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa

from kjs.core import manifest as manifests
from kjs.core.protocols import LogSink, NameTaken, Store
from kjs.core.records import CronRecord, JobRecord
from kjs.core.states import JobState
from kjs.plugins.compat import translate as tr
from kjs.plugins.compat.envelope import CompatError
from kjs.plugins.compat.store import CompatRecord, records_of

log = logging.getLogger(__name__)


@dataclass
class Report:
    imported: dict[str, int] = field(default_factory=lambda: {"once": 0, "cron": 0, "logs": 0})
    already: dict[str, int] = field(default_factory=lambda: {"once": 0, "cron": 0})
    skipped: list[str] = field(default_factory=list)  # "<job_id>: why"


def _at(epoch: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch or 0, dt.UTC)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    """A legacy row as the fields of a create request."""
    text = row.get("metadata") or ""
    metadata = json.loads(text) if text.strip() not in ("", "null") else {}
    fields = {
        "job_name": row["job_name"],
        "namespace": row["namespace"],
        "image": row["image"],
        "command": row["command"],
        "job_exec_time": row.get("job_exec_time") or 0,
        "metadata": {k: str(v) for k, v in (metadata or {}).items()},
    }
    if row.get("schedule"):
        fields["schedule"] = row["schedule"]
    return fields


def _final_state(row: dict[str, Any], run_pending: bool) -> tuple[JobState, str | None]:
    state = row["job_state"]
    if state == -1:
        return (
            (JobState.PENDING, None)
            if run_pending
            else (JobState.CANCELLED, "NotStartedBeforeImport")
        )
    if state == 0:
        return JobState.LOST, "ImportedWhileRunning"
    if state == 1:
        return JobState.FAILED, "FailedBeforeImport"
    if state == 2 or (state == 3 and row["job_success_times"] > 0):
        return JobState.SUCCEEDED, None
    return JobState.CANCELLED, "DeletedBeforeImport"


def _record(row: dict[str, Any], kind: str, fields: dict[str, Any]) -> CompatRecord:
    return CompatRecord(
        job_id=row["job_id"],
        kind=kind,
        job_name=row["job_name"],
        job_exec_time=fields["job_exec_time"],
        meta=row.get("metadata") or "",
        command=row["command"],
        schedule=row.get("schedule"),
        deleted=row["job_state"] == 3,
        imported_times=row["job_times"],
        imported_successes=row["job_success_times"],
        created_at=_at(row["create_time"]),
        updated_at=_at(row["update_time"]),
    )


def _rows(conn: sa.Connection, definition: str, job_type: int) -> Iterator[dict[str, Any]]:
    query = sa.text(
        f"SELECT d.*, s.job_state, s.job_times, s.job_success_times, s.job_exec_information "
        f"FROM {definition} d JOIN job_status s ON s.job_id = d.job_id AND s.job_type = :t "
        f"ORDER BY d.id"
    )
    for row in conn.execute(query, {"t": job_type}):
        yield dict(row._mapping)


def _failure(info: str) -> str | None:
    try:
        parsed = json.loads(info)
    except ValueError:
        return info or None
    return str(parsed.get("failure")) if isinstance(parsed, dict) else info or None


def _once(store: Store, row: dict[str, Any], run_pending: bool) -> None:
    fields = _fields(row)
    spec = tr.job_spec(fields, kind="once", job_name=row["job_name"], now=_at(row["create_time"]))
    state, reason = _final_state(row, run_pending)
    message = _failure(row.get("job_exec_information") or "")
    created, updated = _at(row["create_time"]), _at(row["update_time"])
    job = JobRecord(
        id=row["job_id"],
        spec=spec,
        state=state,
        k8s_name=manifests.k8s_name(spec.name, row["job_id"]),
        created_at=created,
        updated_at=updated,
        finished_at=updated if state.is_final else None,
        reason=reason,
        message=message,
        run_at=spec.run_at,
    )
    _add(store, _record(row, "once", fields), lambda: store.create_job(job))


def _add(store: Store, record: CompatRecord, create: Any) -> None:
    """The record first (it holds the name), then the job; a failed create leaves neither."""
    records = records_of(store)
    records.add(record)
    try:
        create()
    except BaseException:
        records.forget(record.job_id)
        raise


def _cron(store: Store, row: dict[str, Any]) -> None:
    fields = _fields(row)
    spec = tr.cron_spec(fields, row["job_name"], _at(row["create_time"]))
    cron = CronRecord(
        id=row["job_id"],
        spec=spec,
        k8s_name=manifests.k8s_name(spec.name, row["job_id"], cron=True),
        state="deleted" if row["job_state"] == 3 else "created",
        created_at=_at(row["create_time"]),
        updated_at=_at(row["update_time"]),
        deleted=row["job_state"] == 3,
    )
    _add(store, _record(row, "cron", fields), lambda: store.create_cron(cron))


def _legacy_logs(
    conn: sa.Connection, names: dict[str, str]
) -> Iterator[tuple[str, str, str, int, bytes]]:
    """Every legacy log row of an imported job, in id order, as (job_id, pod, container, seq,
    data): chunks of attempt 1, on the original's pod and its one container, named after the
    job."""
    seqs: dict[tuple[str, str], int] = {}
    query = sa.text("SELECT id, job_id, pod_name, run_logs FROM job_logs ORDER BY id")
    for row in conn.execute(query):
        job_id, pod = row.job_id, row.pod_name
        if job_id not in names:
            continue  # logs of a job that was not imported
        try:
            text = gzip.decompress(row.run_logs)
        except (OSError, EOFError, zlib.error):
            text = bytes(row.run_logs)  # not compressed after all: keep it as it is
        seq = seqs.get((job_id, pod), 0)
        seqs[(job_id, pod)] = seq + 1
        yield job_id, pod, names[job_id], seq, text


def _logs(conn: sa.Connection, log_sink: LogSink, names: dict[str, str]) -> int:
    """Hand the legacy logs to the log sink; how many chunks it did not have yet (the same
    rows give the same seqs, so a second import adds nothing)."""

    async def append_all() -> int:
        added = 0
        for job_id, pod, container, seq, text in _legacy_logs(conn, names):
            added += await log_sink.append(job_id, 1, pod, container, seq, text, False)
        return added

    return asyncio.run(append_all())


def _present(store: Store, job_id: str, kind: str) -> bool:
    """Imported before: its record and its job are both there (a half import is redone)."""
    records = records_of(store)
    if records.get(job_id) is None:
        return False
    found = store.get_job(job_id) if kind == "once" else store.get_cron(job_id)
    if found is None:
        records.forget(job_id)
        return False
    return True


def import_legacy(
    store: Store, dsn: str, *, log_sink: LogSink, run_pending: bool = False
) -> Report:
    """Import jobs and cron jobs into `store`, their logs into `log_sink` (synchronous: for
    the command line, outside any event loop)."""
    report = Report()
    engine = sa.create_engine(dsn)
    names: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            for kind, table, job_type in (("once", "once_job", 0), ("cron", "cron_job", 1)):
                for row in _rows(conn, table, job_type):
                    job_id = row["job_id"]
                    names[job_id] = row["job_name"]
                    if _present(store, job_id, kind):
                        report.already[kind] += 1
                        continue
                    try:
                        if kind == "once":
                            _once(store, row, run_pending)
                        else:
                            _cron(store, row)
                        report.imported[kind] += 1
                    except (CompatError, NameTaken, msgspec.ValidationError, ValueError) as e:
                        names.pop(job_id)
                        report.skipped.append(f"{job_id} ({row['job_name']}): {e}")
            report.imported["logs"] = _logs(conn, log_sink, names)
    finally:
        engine.dispose()
    return report
