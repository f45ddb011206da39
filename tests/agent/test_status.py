"""What a Kubernetes Job and its pods say about a kjs job (pure, no cluster needed)."""

from __future__ import annotations

import uuid
from typing import Any

from kjs.agent.status import identity, observe

JOB_ID = "0f8c2a4e-1b7d-4c39-9a51-6e2f0d3b8c71"


def job(conditions: list[dict[str, str]] | None = None, **label_overrides: str) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/managed-by": "kjs",
        "kjs.io/job-id": JOB_ID,
        "kjs.io/attempt": "2",
        **label_overrides,
    }
    return {
        "metadata": {"name": "j-0f8c2a4e", "uid": "u1", "labels": labels},
        "status": {"conditions": conditions or []},
    }


def pod(name: str, phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": name},
        "status": {"phase": phase, **status},
    }


def terminated(code: int, name: str = "main") -> dict[str, Any]:
    return {"containerStatuses": [{"name": name, "state": {"terminated": {"exitCode": code}}}]}


def test_not_ours_is_ignored() -> None:
    assert observe({"metadata": {"labels": {}}}, []) is None


def test_created_running_and_the_terminal_conditions() -> None:
    assert observe(job(), []).state == "created"  # type: ignore[union-attr]
    running = observe(job(), [pod("p1", "Running")])
    assert running is not None and (running.state, running.pod, running.attempt) == (
        "running",
        "p1",
        2,
    )
    done = observe(
        job(
            [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ]
        ),
        [pod("p1", "Succeeded", **terminated(0))],
    )
    assert done is not None and done.state == "succeeded" and done.exit_codes == {"p1": {"main": 0}}


def test_a_failed_job_is_judged_by_its_failed_condition_not_its_first() -> None:
    seen = observe(
        job(
            [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ]
        ),
        [pod("p1", "Failed", **terminated(3)), pod("p2", "Failed", **terminated(3))],
    )
    assert seen is not None and seen.state == "failed" and seen.reason == "BackoffLimitExceeded"
    assert seen.exit_codes == {"p1": {"main": 3}, "p2": {"main": 3}}
    # FailureTarget alone: decided, but the pods are not terminal yet, nor their logs complete.
    early = observe(job([{"type": "FailureTarget", "status": "True"}]), [pod("p1", "Running")])
    assert early is not None and early.state == "running"


def test_stuck_pods_say_why() -> None:
    unschedulable = pod(
        "p1",
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes",
            }
        ],
    )
    seen = observe(job(), [unschedulable])
    assert seen is not None and (seen.state, seen.reason, seen.message) == (
        "created",
        "Unschedulable",
        "0/1 nodes",
    )
    secret = pod(
        "p1",
        "Pending",
        containerStatuses=[
            {
                "name": "main",
                "state": {
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": 'secret "db" not found',
                    }
                },
            }
        ],
    )
    seen = observe(job(), [secret])
    assert seen is not None and seen.reason == "CreateContainerConfigError"


def test_a_native_cron_run_gets_a_stable_id_from_its_job_uid() -> None:
    cron_id = str(uuid.uuid4())
    run = {
        "metadata": {
            "name": "nightly-29012345",
            "uid": "uid-42",
            "labels": {"app.kubernetes.io/managed-by": "kjs", "kjs.io/cron-id": cron_id},
        }
    }
    first, second = identity(run), identity(run)
    assert first == second and first is not None
    assert first[2] == cron_id and first[0] != cron_id


def decided_by_pods(**spec: Any) -> dict[str, Any]:
    """A Job as kjs renders it by default: its pods decide its outcome."""
    made = job()
    made["spec"] = {
        "backoffLimit": 1,
        "template": {"spec": {"restartPolicy": "Never"}},
        **spec,
    }
    return made


def test_a_job_whose_pods_decide_ends_when_they_do_without_waiting_for_its_condition() -> None:
    done = observe(decided_by_pods(), [pod("p1", "Succeeded", **terminated(0))])
    assert done is not None and (done.state, done.reason) == ("succeeded", "CompletionsReached")
    assert done.exit_codes == {"p1": {"main": 0}}
    once = observe(decided_by_pods(), [pod("p1", "Failed", **terminated(3))])
    assert once is not None and once.state == "running"  # a retry is still allowed (limit 1)
    failed = observe(
        decided_by_pods(),
        [pod("p1", "Failed", **terminated(3)), pod("p2", "Failed", **terminated(3))],
    )
    assert failed is not None and (failed.state, failed.reason) == (
        "failed",
        "BackoffLimitExceeded",
    )


def test_a_pod_deleted_before_it_ended_or_a_pod_still_running_leaves_it_to_the_condition() -> None:
    deleted = pod("p1", "Succeeded", **terminated(0))
    deleted["metadata"]["deletionTimestamp"] = "2026-11-28T12:00:00Z"  # drained: counted failed
    replacement = pod("p2", "Running")
    for pods in ([deleted], [deleted, replacement], [pod("p1", "Failed"), pod("p2", "Pending")]):
        seen = observe(decided_by_pods(backoffLimit=0), pods)
        assert seen is not None and seen.state not in ("succeeded", "failed"), pods


def test_a_job_that_can_end_otherwise_waits_for_its_condition() -> None:
    succeeded = [pod("p1", "Succeeded", **terminated(0))]
    for spec in (
        {"activeDeadlineSeconds": 60},
        {"completions": 3},
        {"parallelism": 2},
        {"completionMode": "Indexed"},
        {"podFailurePolicy": {"rules": []}},
        {"successPolicy": {"rules": []}},
        {"template": {"spec": {"restartPolicy": "OnFailure"}}},
    ):
        seen = observe(decided_by_pods(**spec), succeeded)
        assert seen is not None and seen.state == "running", spec
    condition = [{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]
    with_deadline = decided_by_pods(activeDeadlineSeconds=60)
    with_deadline["status"] = {"conditions": condition}
    seen = observe(with_deadline, succeeded)
    assert seen is not None and seen.state == "succeeded"
