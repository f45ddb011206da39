"""`true` jobs through `kjs up` (server + agent, one process) on one test cluster.

    python bench/agent_throughput.py --jobs 500 [--testenv-dir D]

Brings up one test cluster itself unless given a running test environment. Prints jobs/s from
the first submit to the last `succeeded`; p50/p99 of submit -> Kubernetes Job created (from the
Job's creationTimestamp) and of the pod's end -> final state stored (from the container's
finishedAt and the job's updated_at); and, for comparison, the cluster's raw Job create rate
from a bare client loop. Timestamps from Kubernetes have whole-second resolution, so latencies
under a second are reported as their upper bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from kjs.testing import env as testenv


def quantiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": round(values[0], 3) if values else float("nan"), "p99": float("nan")}
    q = statistics.quantiles(values, n=100)
    return {"p50": round(q[49], 3), "p99": round(q[98], 3)}


def raw_create_rate(kubeconfig: str, namespace: str, count: int) -> float:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    batch = client.BatchV1Api(api)
    started = time.perf_counter()
    for i in range(count):
        batch.create_namespaced_job(
            namespace,
            {
                "metadata": {"name": f"raw-{i}"},
                "spec": {
                    "ttlSecondsAfterFinished": 30,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                        }
                    },
                },
            },
        )
    rate = count / (time.perf_counter() - started)
    api.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--testenv-dir", help="a running test environment (else one is started)")
    args = parser.parse_args()
    env, own_env = testenv.given_or_up(args.testenv_dir, clusters=1, only=["k8s"])
    cluster = env["clusters"][0]
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    from kubernetes import client, config

    admin = config.new_client_from_config(config_file=cluster["kubeconfig"])
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
    batch = client.BatchV1Api(admin)
    core = client.CoreV1Api(admin)

    from tests.live import live_kjs_up

    data_dir = Path(tempfile.mkdtemp(prefix="kjs-bench-"))
    try:
        with live_kjs_up(
            data_dir, cluster["id"], cluster["kubeconfig"], agent={"max_concurrent_jobs": 100}
        ) as server:
            submitted: dict[str, float] = {}
            http = httpx.Client(base_url=server.url, timeout=30)
            started = time.time()
            for i in range(args.jobs):
                response = http.post(
                    "/api/v1/jobs",
                    json={
                        "name": f"b{i}",
                        "namespace": namespace,
                        "image": "busybox",
                        "command": ["true"],
                        "ttl_seconds_after_finished": 300,
                    },
                )
                submitted[response.json()["id"]] = time.time()
            pending = set(submitted)
            final: dict[str, dict[str, Any]] = {}
            while pending:
                page = http.get("/api/v1/jobs", params={"state": "succeeded", "limit": 500}).json()
                failed = http.get("/api/v1/jobs", params={"state": "failed", "limit": 500}).json()
                for job in page["items"] + failed["items"]:
                    if job["id"] in pending:
                        pending.discard(job["id"])
                        final[job["id"]] = job
                time.sleep(0.5)
            finished = max(
                dt.datetime.fromisoformat(j["updated_at"]).timestamp() for j in final.values()
            )
            elapsed = finished - started
            to_created, to_stored = [], []
            k8s_jobs = {
                j.metadata.labels["kjs.io/job-id"]: j
                for j in batch.list_namespaced_job(namespace).items
            }
            pods = {
                p.metadata.labels.get("kjs.io/job-id"): p
                for p in core.list_namespaced_pod(namespace).items
            }
            for job_id, job in final.items():
                if job_id in k8s_jobs:
                    created = k8s_jobs[job_id].metadata.creation_timestamp.timestamp()
                    to_created.append(max(0.0, created + 1 - submitted[job_id]))
                pod = pods.get(job_id)
                if pod is not None and pod.status.container_statuses:
                    ended = pod.status.container_statuses[
                        0
                    ].state.terminated.finished_at.timestamp()
                    stored = dt.datetime.fromisoformat(job["updated_at"]).timestamp()
                    to_stored.append(max(0.0, stored - ended))
            print(
                json.dumps(
                    {
                        "jobs": args.jobs,
                        "succeeded": sum(j["state"] == "succeeded" for j in final.values()),
                        "seconds": round(elapsed, 1),
                        "jobs_per_s": round(args.jobs / elapsed, 2),
                        "submit_to_k8s_job_s": quantiles(to_created),
                        "pod_end_to_state_stored_s": quantiles(to_stored),
                    }
                )
            )
        raw = raw_create_rate(cluster["kubeconfig"], namespace, min(args.jobs, 200))
        print(json.dumps({"raw_job_create_per_s": round(raw, 1), "client": "kubernetes (sync)"}))
    finally:
        client.CoreV1Api(admin).delete_namespace(namespace)
        admin.close()
        if own_env is not None:
            testenv.down(own_env)


if __name__ == "__main__":
    main()
