"""The agent's slim records decide every outcome exactly as the whole objects do."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from kjs.agent.agent import Agent
from kjs.agent.records import JOBS, PODS, JobRecord, OwnerReference, PodMeta, PodRecord
from kjs.agent.status import identity, observe, pods_decide
from tests.agent.test_status import decided_by_pods, job, pod, terminated

# What the API sends beside the fields the agent reads: records must skip it all.
NOISE_META = {
    "resourceVersion": "4711",
    "generation": 1,
    "managedFields": [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "batch/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:active": {}, "f:ready": {}}},
            "subresource": "status",
        }
    ],
}
NOISE_POD_SPEC = {
    "containers": [
        {
            "name": "main",
            "image": "busybox",
            "command": ["sh", "-c", "exit 3"],
            "resources": {"requests": {"cpu": "100m"}},
            "terminationMessagePath": "/dev/termination-log",
        }
    ],
    "restartPolicy": "Never",
    "nodeName": "c1-node",
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
}


def as_api_sends(obj: dict[str, Any], *, is_pod: bool) -> dict[str, Any]:
    """The object with the noise a real one carries (not overriding what it has)."""
    full = copy.deepcopy(obj)
    full.setdefault("apiVersion", "v1" if is_pod else "batch/v1")
    full.setdefault("kind", "Pod" if is_pod else "Job")
    meta = full.setdefault("metadata", {})
    for key, value in NOISE_META.items():
        meta.setdefault(key, value)
    meta.setdefault("uid", f"uid-{meta.get('name')}")
    if is_pod:
        meta.setdefault("labels", {"kjs.io/job-id": "x", "batch.kubernetes.io/job-name": "j"})
        meta.setdefault("ownerReferences", [{"kind": "Job", "uid": "u1", "controller": True}])
        full.setdefault("spec", NOISE_POD_SPEC)
        status = full.setdefault("status", {})
        status.setdefault("hostIP", "127.0.0.1")
        status.setdefault("qosClass", "Burstable")
        for c in status.get("containerStatuses") or []:
            c.setdefault("image", "busybox")
            c.setdefault("ready", False)
            c.setdefault("restartCount", 0)
            terminated_state = (c.get("state") or {}).get("terminated")
            if terminated_state is not None:
                terminated_state.setdefault("reason", "Error")
                terminated_state.setdefault("startedAt", "2026-11-28T12:00:00Z")
    else:
        spec = full.setdefault("spec", {})
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {"labels": {"kjs.io/job-id": "x"}})
        template.setdefault("spec", {})
        template["spec"] = {**NOISE_POD_SPEC, **template["spec"]}
        if "restartPolicy" not in obj.get("spec", {}).get("template", {}).get("spec", {}):
            template["spec"].pop("restartPolicy")  # absent stays absent
        full.setdefault("status", {}).setdefault("startTime", "2026-11-28T12:00:00Z")
    return full


def slim(job_dict: dict[str, Any], pod_dicts: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """The records the agent keeps of these objects, decoded from their JSON."""
    return (
        JOBS.record.decode(json.dumps(job_dict).encode()),
        [PODS.record.decode(json.dumps(p).encode()) for p in pod_dicts],
    )


def waiting(reason: str, *, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {key: [{"name": "c", "state": {"waiting": {"reason": reason, "message": "why"}}}]}


def unschedulable() -> dict[str, Any]:
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    return {"conditions": [condition, {"type": "Ready", "status": "False"}]}


def deleted(p: dict[str, Any]) -> dict[str, Any]:
    p["metadata"]["deletionTimestamp"] = "2026-11-28T12:00:00Z"
    return p


JOBS_CASES: list[dict[str, Any]] = [
    job(),
    job(
        [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "m"},
        ]
    ),
    job([{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]),
    job([{"type": "Complete", "status": "False"}]),
    job(**{"kjs.io/attempt": "not a number"}),
    {"metadata": {"name": "not-ours", "labels": {"app": "x"}}},
    {"metadata": {"name": "run", "uid": "u9", "labels": {"app.kubernetes.io/managed-by": "kjs"}}},
    {
        "metadata": {
            "name": "nightly-29012345",
            "uid": "uid-42",
            "labels": {"app.kubernetes.io/managed-by": "kjs", "kjs.io/cron-id": "c-1"},
        }
    },
    decided_by_pods(),
    decided_by_pods(backoffLimit=0),
    {**decided_by_pods(), "spec": {"template": {"spec": {"restartPolicy": "Never"}}}},
    *(
        decided_by_pods(**spec)
        for spec in (
            {"activeDeadlineSeconds": 60},
            {"completions": 3},
            {"completions": 1, "parallelism": 1},
            {"parallelism": 2},
            {"completionMode": "Indexed"},
            {"completionMode": "NonIndexed"},
            {"suspend": True},
            {"suspend": False},
            {"podFailurePolicy": {"rules": []}},
            {"successPolicy": {"rules": []}},
            {"backoffLimitPerIndex": 1},
            {"maxFailedIndexes": 1},
            {"managedBy": "example.com/other"},
            {"template": {"spec": {"restartPolicy": "OnFailure"}}},
        )
    ),
]

PODS_CASES: list[list[dict[str, Any]]] = [
    [],
    [pod("p1", "Pending")],
    [pod("p1", "Pending", **unschedulable())],
    [pod("p1", "Pending", **waiting("CreateContainerConfigError"))],
    [pod("p1", "Pending", **waiting("PodInitializing", init=True))],
    [pod("p1", "Pending", **waiting("ErrImagePull", init=True))],
    [pod("p1", "Running", containerStatuses=[{"name": "c", "state": {"running": {}}}])],
    [pod("p1", "Succeeded", **terminated(0))],
    [pod("p1", "Failed", **terminated(3))],
    [pod("p1", "Failed", **terminated(3)), pod("p2", "Failed", **terminated(3))],
    [pod("p1", "Failed", **terminated(3)), pod("p2", "Running")],
    [deleted(pod("p1", "Succeeded", **terminated(0)))],
    [deleted(pod("p1", "Succeeded", **terminated(0))), pod("p2", "Running")],
    [pod("p1", "Failed"), pod("p2", "Pending")],
    [pod("p1", "Succeeded", **terminated(0, "a")), pod("p2", "Failed", **terminated(1, "b"))],
    [pod("p1", "Unknown")],
]


@pytest.mark.parametrize(
    ("job_dict", "pod_dicts"),
    list(itertools.product(JOBS_CASES, PODS_CASES)),
)
def test_records_decide_as_the_whole_objects(
    job_dict: dict[str, Any], pod_dicts: list[dict[str, Any]]
) -> None:
    whole_job = as_api_sends(job_dict, is_pod=False)
    whole_pods = [as_api_sends(p, is_pod=True) for p in pod_dicts]
    job_record, pod_records = slim(whole_job, whole_pods)
    assert identity(job_record) == identity(whole_job)
    assert pods_decide(job_record) == pods_decide(whole_job)
    assert observe(job_record, pod_records) == observe(whole_job, whole_pods)


def test_watch_lines_decode_to_records_and_an_error_to_its_status() -> None:
    whole = as_api_sends(pod("p1", "Running"), is_pod=True)
    kind, record = PODS.event(json.dumps({"type": "MODIFIED", "object": whole}).encode())
    assert kind == "MODIFIED" and isinstance(record, PodRecord)
    assert record.metadata.resource_version == "4711" and record.metadata.uid == "uid-p1"
    gone = {"kind": "Status", "status": "Failure", "code": 410, "message": "too old"}
    kind, status = JOBS.event(json.dumps({"type": "ERROR", "object": gone}).encode())
    assert kind == "ERROR" and status == gone
    bookmark = {"kind": "Job", "metadata": {"resourceVersion": "99"}}
    kind, mark = JOBS.event(json.dumps({"type": "BOOKMARK", "object": bookmark}).encode())
    assert kind == "BOOKMARK" and isinstance(mark, JobRecord)
    assert mark.metadata.resource_version == "99"


def owned(uid: str, created: str, *owners: str) -> PodRecord:
    refs = [OwnerReference(kind="Job", uid=owner) for owner in owners]
    return PodRecord(
        metadata=PodMeta(name=uid, uid=uid, creation_timestamp=created, owner_references=refs)
    )


def test_a_jobs_pods_follow_their_owner_references_as_they_change(agent: Agent) -> None:
    agent._keep("pods", owned("b", "2", "j1"))
    agent._keep("pods", owned("a", "1", "j1"))
    agent._keep("pods", owned("c", "3", "j2"))
    assert [p.metadata.uid for p in agent.pods_of("j1")] == ["a", "b"]  # by creation time
    agent._keep("pods", owned("b", "2"))  # orphaned (its Job deleted, orphan propagation)
    assert [p.metadata.uid for p in agent.pods_of("j1")] == ["a"]
    agent._keep("pods", owned("c", "3", "j1", "j2"))
    assert [p.metadata.uid for p in agent.pods_of("j1")] == ["a", "c"]
    assert [p.metadata.uid for p in agent.pods_of("j2")] == ["c"]
    agent._forget("pods", "a")
    agent._forget("pods", "c")
    assert agent.pods_of("j1") == [] and agent.pods_of("j2") == []
    assert agent._owned == {}


@pytest.fixture
def agent(tmp_path: Any) -> Agent:
    """An agent that is never started: its caches alone are under test."""
    from kubernetes.aio import client

    from kjs.core.config import load
    from kjs.plugins.election_single import SingleElection
    from kjs.plugins.queue_memory import MemoryQueue

    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    return Agent(settings, "c1", client.ApiClient(), MemoryQueue(), SingleElection())
