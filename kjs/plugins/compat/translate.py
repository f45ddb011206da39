"""The original system's requests and records, and how they map onto kjs's (seed-system §2 to §3).

Kept: field names, comma-split `command`, `job_exec_time` in epoch seconds, the metadata keys
and the validation messages. Fixed (docs/compat.md lists each): the documented defaults (5-minute
deadline and TTL), `args` as container args, `restart_policy` and `completion_mode` applied, user
labels never overriding the tracking ones, names and namespaces checked by Kubernetes' rules.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, TypeVar

import msgspec

from kjs.core.models import CronSpec, JobSpec
from kjs.core.protocols import JobView
from kjs.core.records import CronRecord, JobRecord
from kjs.core.states import JobState
from kjs.plugins.compat.envelope import BODY_DECODE, VERIFY_JOB, CompatError
from kjs.plugins.compat.store import CompatRecord

METADATA_KEYS = (
    "active_deadline_seconds",
    "annotations",
    "args",
    "backoff_limit",
    "callback_url",
    "completion_mode",
    "completions",
    "envs",
    "labels",
    "log_collect",
    "parallelism",
    "restart_policy",
    "ttl_seconds_after_finished",
)
DEFAULT_DEADLINE_S = 300  # documented; the original used the request's timeout, 0 (D14)
DEFAULT_TTL_S = 300
ORIGINAL_LABELS = ("job_id", "job_from", "job_name", "job_type")
JOB_FROM = "k8s_job_scheduler"  # the label that marks a job as the original's
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_FIELDS: dict[str, tuple[type, ...]] = {
    "job_id": (str,),
    "job_name": (str,),
    "job_exec_time": (int,),
    "namespace": (str,),
    "image": (str,),
    "command": (str,),
    "timeout": (int,),
    "metadata": (dict,),
    "route": (str,),
    "schedule": (str,),
    "page_num": (int,),
    "page_size": (int,),
}
S = TypeVar("S", bound=msgspec.Struct)
_GO_TYPES = {str: "string", int: "int64", dict: "map[string]string"}
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "bool", list: "array"}


def decode(body: bytes) -> dict[str, Any]:
    """The request body as the original read it: JSON, keys matched case-insensitively,
    unknown keys ignored, a value of the wrong JSON type a decode failure."""
    if not body.strip():
        return {}
    try:
        raw = json.loads(body)
    except ValueError as e:
        raise CompatError(BODY_DECODE, f"invalid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise CompatError(BODY_DECODE, "json: cannot unmarshal a non-object into the request")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.lower()
        if name not in _FIELDS or value is None:
            continue
        wanted = _FIELDS[name]
        if isinstance(value, bool) or not isinstance(value, wanted):
            got = _JSON_TYPES.get(type(value), "object")
            raise CompatError(
                BODY_DECODE,
                f"json: cannot unmarshal {got} into Go struct field .{name} of type "
                f"{_GO_TYPES[wanted[0]]}",
            )
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise CompatError(
                BODY_DECODE,
                f"json: cannot unmarshal number {value} into Go struct field .{name} of type int64",
            )
        if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            raise CompatError(
                BODY_DECODE,
                "json: cannot unmarshal non-string into Go struct field .metadata of type string",
            )
        fields[name] = value
    return fields


def _required(fields: dict[str, Any], names: list[str], period: str) -> None:
    for name in names:
        if not fields.get(name):
            raise CompatError(VERIFY_JOB, f"{name} is empty{period}")


def _integer(metadata: dict[str, str], key: str, *, positive: bool) -> int | None:
    if key not in metadata:
        return None
    text = metadata[key]
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CompatError(
            VERIFY_JOB,
            f"metadata.(parallelism|completions|backoffLimit) is not map[sting]string cause: "
            f'strconv.Atoi: parsing "{text}": invalid syntax'
            if key in ("parallelism", "completions", "backoff_limit")
            else f"metadata.{key} is not an integer: {text!r}",
        )
    value = int(text)
    if value < 0 or (positive and value == 0):
        raise CompatError(
            VERIFY_JOB,
            f"metadata.(parallelism|completions|backoffLimit) is {value}"
            if key in ("parallelism", "completions", "backoff_limit")
            else f"metadata.{key} is {value}",
        )
    return value


def _string_map(metadata: dict[str, str], key: str) -> dict[str, str]:
    if key not in metadata:
        return {}
    try:
        value = json.loads(metadata[key])
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError("want a JSON object of strings")
    except ValueError as e:
        which = "(labels|annotations)" if key in ("labels", "annotations") else key
        raise CompatError(
            VERIFY_JOB, f"metadata.{which} is not map[sting]string cause: {e}"
        ) from None
    return value


def check_metadata(metadata: dict[str, str]) -> None:
    for key in metadata:
        if key not in METADATA_KEYS:
            allowed = " ".join(f"{k}:{{}}" for k in METADATA_KEYS)
            raise CompatError(VERIFY_JOB, f"metadata value {key} does not exist in map[{allowed}]")


def job_spec(
    fields: dict[str, Any], *, kind: str, job_name: str, now: dt.datetime, queue: str = "default"
) -> JobSpec:
    """The kjs job a create or update asks for (validated by kjs afterwards), in `queue` (the
    original has none: `[compat] queue`)."""
    metadata: dict[str, str] = fields.get("metadata") or {}
    namespace = fields["namespace"]
    if not _NAMESPACE.fullmatch(namespace):  # anchored, unlike the original (D12)
        raise CompatError(
            VERIFY_JOB,
            f"Invalid value {namespace} e.g. 'my-name',  or '123-abc', regex used for validation"
            " is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'",
        )
    labels = _string_map(metadata, "labels")
    annotations = _string_map(metadata, "annotations")
    envs = _string_map(metadata, "envs")
    timeout = fields.get("timeout") or 0
    deadline = _integer(metadata, "active_deadline_seconds", positive=True)
    ttl = _integer(metadata, "ttl_seconds_after_finished", positive=False)
    backoff = _integer(metadata, "backoff_limit", positive=False)
    collect = metadata.get("log_collect")
    if collect not in (None, "true", "false"):
        raise CompatError(VERIFY_JOB, f"metadata.log_collect is {collect!r}: want true or false")
    restart = metadata.get("restart_policy", "Never")
    if restart not in ("Never", "OnFailure"):
        raise CompatError(
            VERIFY_JOB, f"metadata.restart_policy is {restart!r}: want Never or OnFailure"
        )
    mode = metadata.get("completion_mode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        raise CompatError(
            VERIFY_JOB, f"metadata.completion_mode is {mode!r}: want NonIndexed or Indexed"
        )
    exec_time = fields.get("job_exec_time") or 0
    try:
        run_at = (
            dt.datetime.fromtimestamp(exec_time, dt.UTC) if exec_time > now.timestamp() else None
        )
    except (OverflowError, ValueError, OSError):  # past year 9999: far beyond kjs's limit
        raise CompatError(VERIFY_JOB, "job_exec_time: must be at most 366 days ahead") from None
    # The original's own labels last: a user label cannot overwrite them (D15).
    labels = {
        **{k: v for k, v in labels.items() if k not in ORIGINAL_LABELS},
        "job_from": JOB_FROM,
        "job_name": job_name,
        "job_type": kind,
    }
    spec: dict[str, Any] = {
        "name": job_name,
        "namespace": namespace,
        "image": fields["image"],
        "command": fields["command"].split(","),
        "args": metadata["args"].split(",") if metadata.get("args") else [],
        "env": envs,
        "labels": labels,
        "annotations": annotations,
        "parallelism": _integer(metadata, "parallelism", positive=True) or 1,
        "completions": _integer(metadata, "completions", positive=True) or 1,
        "completion_mode": mode,
        "backoff_limit": 1 if backoff is None else backoff,  # 1: the documented default
        "active_deadline_seconds": deadline or timeout or DEFAULT_DEADLINE_S,
        "ttl_seconds_after_finished": DEFAULT_TTL_S if ttl is None else ttl,
        "restart_policy": restart,
        "log_collect": "always" if collect == "true" else "on_failure",
        "callback_url": metadata.get("callback_url") or None,
        "run_at": run_at,
        "cluster": fields.get("route") or None,
        "queue": queue,
    }
    return _convert(spec, JobSpec)


def _convert(fields: dict[str, Any], kind: type[S]) -> S:
    """kjs's spec from the translated fields; a value out of kjs's range (a parallelism of
    10^20) is a validation failure naming the original's field."""
    try:
        return msgspec.convert(fields, kind)
    except msgspec.ValidationError as e:
        reason, _, path = str(e).partition(" - at `$.")
        where = field_name(path.rstrip("`")) if path else ""
        raise CompatError(VERIFY_JOB, f"{where}: {reason}" if where else reason) from None


def cron_spec(
    fields: dict[str, Any], job_name: str, now: dt.datetime, queue: str = "default"
) -> CronSpec:
    job = job_spec(fields, kind="cron", job_name=job_name, now=now, queue=queue)
    out: dict[str, Any] = msgspec.to_builtins(job)
    del out["run_at"]
    out["schedule"] = fields["schedule"]
    out["mode"] = "native"  # the original delegated schedules to the CronJob controller
    if job.run_at is not None:
        out["start_at"] = job.run_at
    return _convert(out, CronSpec)


# kjs's field names, as the original's requests name them (for validation messages)
FIELD_NAMES = {"name": "job_name", "cluster": "route", "run_at": "job_exec_time"}


def field_name(kjs_field: str) -> str:
    head, _, rest = kjs_field.partition(".")
    if head in FIELD_NAMES:
        return FIELD_NAMES[head] + (f".{rest}" if rest else "")
    if head in ("namespace", "image", "command", "schedule"):
        return kjs_field
    return f"metadata.{kjs_field}"


def job_state(state: JobState, deleted: bool) -> int:
    """-1 submitted, 0 created/running, 1 failed, 2 succeeded, 3 deleted."""
    if deleted or state == JobState.CANCELLED:
        return 3
    if state in (JobState.PENDING, JobState.DISPATCHED):
        return -1
    if state == JobState.FAILED:
        return 1
    if state == JobState.SUCCEEDED:
        return 2
    return 0


def _epoch(at: dt.datetime) -> int:
    return int(at.timestamp())


def exec_information(reason: str | None, message: str | None) -> str:
    if not reason and not message:
        return ""
    return json.dumps({"failure": ": ".join(p for p in (reason, message) if p)})


def once_json(compat: CompatRecord, job: JobRecord, times: int, successes: int) -> dict[str, Any]:
    return {
        "id": compat.id,
        "job_id": compat.job_id,
        "job_name": compat.job_name,
        "namespace": job.spec.namespace,
        "job_exec_time": compat.job_exec_time,
        "metadata": compat.meta,
        "image": job.spec.image,
        "command": compat.command,
        "job_times": times,
        "job_state": job_state(job.state, compat.deleted),
        "job_success_times": successes,
        "job_exec_information": (
            exec_information(job.reason, job.message) if job.state == JobState.FAILED else ""
        ),
        "create_time": _epoch(compat.created_at),
        "update_time": _epoch(compat.updated_at),
    }


def cron_json(
    compat: CompatRecord, cron: CronRecord, counts: tuple[int, int, int]
) -> dict[str, Any]:
    state = {"pending": -1, "dispatched": -1, "failed": 1, "deleted": 3}.get(cron.state, 0)
    return {
        "id": compat.id,
        "job_id": compat.job_id,
        "job_name": compat.job_name,
        "job_exec_time": compat.job_exec_time,
        "namespace": cron.spec.namespace,
        "schedule": cron.spec.schedule,
        "metadata": compat.meta,
        "image": cron.spec.image,
        "command": compat.command,
        "job_state": 3 if compat.deleted else state,
        "job_times": counts[0],
        "job_success_times": counts[1],
        "job_exec_information": "",
        "create_time": _epoch(compat.created_at),
        "update_time": _epoch(compat.updated_at),
    }


def callback_body(job: JobView) -> dict[str, Any]:
    """The original system's callback body, for jobs created through its routes (§7)."""
    succeeded = job.state == "succeeded"
    kind = {"succeeded": "Complete", "cancelled": "Deleted"}.get(str(job.state), "Failed")
    reason, message = getattr(job, "reason", None), getattr(job, "message", None)
    cause = f"{reason or ''},{message or ''}" if not succeeded else ","
    return {
        "job_id": getattr(job, "cron_id", None) or job.id,
        "success": succeeded,
        "message": f"type={kind} stauts=True cause={cause}",
    }
