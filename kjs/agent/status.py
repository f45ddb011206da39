"""What a Kubernetes Job and its pods say about a kjs job: a pure function, no I/O.

Final states come from the Job's terminal conditions (Complete / Failed), not from its first
condition; since Kubernetes 1.31 those are set only once the pods are terminal, which is also
when their logs are complete. The job controller adds them about a second after the pod ended,
so where the Job as created leaves the outcome to its pods alone (`pods_decide`), the pods'
terminal phases give the final state at once; a condition that later disagrees is reported as
it is, and the server keeps the first final state (a `ConditionMismatch` event). A pod that
cannot start says why (Unschedulable, a missing Secret, an image that cannot be pulled) in the
reason and message of a non-final state.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from kjs.core import manifest as labels

# Waiting reasons that mean "this pod is not going to start by itself".
STUCK_REASONS = frozenset(
    {
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "RunContainerError",
        "StartError",
    }
)
_RUN_NAMESPACE = uuid.UUID("7b0e2c52-5a3e-4f3b-9d8a-6c1f4a0e2b19")


@dataclass(frozen=True)
class Observed:
    """A kjs job as the cluster shows it now."""

    job_id: str
    attempt: int
    state: str
    reason: str | None = None
    message: str | None = None
    pod: str | None = None
    exit_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    cron_id: str | None = None
    k8s_name: str | None = None


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, _snake(key), None)
    return obj


@functools.cache  # a handful of names, read for every record of every pass
def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def identity(job: Any) -> tuple[str, int, str | None] | None:
    """(job id, attempt, cron id) of a kjs-managed Kubernetes Job; None if it is not one.

    A run started by a native CronJob has no job id of its own in its labels: its id is derived
    from the Kubernetes Job's uid, the same every time it is seen."""
    meta_labels = _get(job, "metadata", "labels") or {}
    if meta_labels.get(labels.MANAGED_BY) != "kjs":
        return None
    cron_id = meta_labels.get(labels.CRON_ID)
    job_id = meta_labels.get(labels.JOB_ID)
    if job_id is None:
        uid = _get(job, "metadata", "uid")
        if cron_id is None or uid is None:
            return None
        job_id = str(uuid.uuid5(_RUN_NAMESPACE, str(uid)))
    try:
        attempt = int(meta_labels.get(labels.ATTEMPT, "1"))
    except ValueError:
        attempt = 1
    return job_id, attempt, cron_id


def _conditions(job: Any) -> dict[str, Any]:
    return {
        _get(c, "type"): c
        for c in _get(job, "status", "conditions") or []
        if _get(c, "status") == "True"
    }


def exit_codes(pods: list[Any]) -> dict[str, dict[str, int]]:
    codes: dict[str, dict[str, int]] = {}
    for pod in pods:
        for status in _get(pod, "status", "containerStatuses") or []:
            terminated = _get(status, "state", "terminated")
            if terminated is not None and _get(terminated, "exitCode") is not None:
                codes.setdefault(_get(pod, "metadata", "name"), {})[_get(status, "name")] = int(
                    _get(terminated, "exitCode")
                )
    return codes


def _stuck(pods: list[Any]) -> tuple[str, str, str] | None:
    """(pod, reason, message) of the first pod that cannot start, if any."""
    for pod in pods:
        name = _get(pod, "metadata", "name")
        for condition in _get(pod, "status", "conditions") or []:
            if _get(condition, "type") == "PodScheduled" and _get(condition, "status") == "False":
                return (
                    name,
                    _get(condition, "reason") or "Unschedulable",
                    _get(condition, "message") or "",
                )
        statuses = (_get(pod, "status", "initContainerStatuses") or []) + (
            _get(pod, "status", "containerStatuses") or []
        )
        for status in statuses:
            waiting = _get(status, "state", "waiting")
            if waiting is not None and _get(waiting, "reason") in STUCK_REASONS:
                return name, _get(waiting, "reason"), _get(waiting, "message") or ""
    return None


# What Kubernetes' job controller says when it decides the same from the same pods.
_POD_OUTCOMES = {
    "succeeded": ("CompletionsReached", "Reached expected number of succeeded pods"),
    "failed": ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
}
# A Job with any of these can end otherwise than its pods say (or later): wait for its condition.
_ENDS_OTHERWISE = (
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "successPolicy",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "managedBy",
)


def pods_decide(job: Any) -> bool:
    """Whether the Job as created (after `prepare_manifest`) ends exactly when its pods say:
    one pod to succeed, failures counted against `backoffLimit` and nothing else — no deadline,
    no pod failure or success policy, not indexed, one completion and one pod at a time, and pods
    that do not restart in place."""
    spec = _get(job, "spec") or {}
    if (_get(spec, "completions") or 1) != 1 or (_get(spec, "parallelism") or 1) != 1:
        return False
    if _get(spec, "completionMode") == "Indexed" or _get(spec, "suspend"):
        return False
    if any(_get(spec, key) is not None for key in _ENDS_OTHERWISE):
        return False
    return bool(_get(spec, "template", "spec", "restartPolicy") == "Never")


def _pods_outcome(job: Any, pods: list[Any]) -> str | None:
    """`succeeded` or `failed` as the pods have decided it (for a Job whose pods decide), once
    every pod is terminal and none is being deleted: the job controller counts a pod deleted
    before it ended (a drain, a `kubectl delete`) as failed, whatever its phase turns out to be,
    and starts a replacement — there, only its condition tells."""
    phases = [_get(p, "status", "phase") for p in pods]
    if any(phase not in ("Succeeded", "Failed") for phase in phases):
        return None
    if any(_get(p, "metadata", "deletionTimestamp") for p in pods):
        return None
    if "Succeeded" in phases:
        return "succeeded"
    backoff_limit = _get(job, "spec", "backoffLimit")
    if phases.count("Failed") > (6 if backoff_limit is None else backoff_limit):
        return "failed"
    return None


def observe(job: Any, pods: list[Any]) -> Observed | None:
    """The kjs state of `job` given its pods, or None if `job` is not managed by kjs."""
    ident = identity(job)
    if ident is None:
        return None
    job_id, attempt, cron_id = ident
    name = _get(job, "metadata", "name")
    conditions = _conditions(job)
    codes = exit_codes(pods)
    last_pod = _get(pods[-1], "metadata", "name") if pods else None
    common = {
        "job_id": job_id,
        "attempt": attempt,
        "cron_id": cron_id,
        "k8s_name": name,
        "exit_codes": codes,
    }
    for kind, state in (("Complete", "succeeded"), ("Failed", "failed")):
        if kind in conditions:
            condition = conditions[kind]
            return Observed(
                state=state,
                reason=_get(condition, "reason"),
                message=_get(condition, "message"),
                pod=last_pod,
                **common,
            )
    outcome = _pods_outcome(job, pods) if pods and pods_decide(job) else None
    if outcome is not None:
        reason, message = _POD_OUTCOMES[outcome]
        return Observed(state=outcome, reason=reason, message=message, pod=last_pod, **common)
    stuck = _stuck(pods)
    if stuck is not None:
        pod, reason, message = stuck
        return Observed(state="created", reason=reason, message=message, pod=pod, **common)
    phases = [_get(p, "status", "phase") for p in pods]
    if any(phase in ("Running", "Succeeded", "Failed") for phase in phases):
        running = next((p for p in pods if _get(p, "status", "phase") == "Running"), None)
        shown = _get(running, "metadata", "name") if running is not None else last_pod
        return Observed(state="running", pod=shown, **common)
    return Observed(state="created", **common)
