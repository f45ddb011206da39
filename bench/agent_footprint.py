"""The agent's footprint: its RSS and its status pass time tracking 1,000 then 10,000 pods.

    python bench/agent_footprint.py [--small 1000] [--large 10000] [--testenv-dir D]

Needs a test environment with Kubernetes and NSQ (`kjs-testenv up --clusters 1 --only
k8s,nsq`); starts one itself unless given. The agent runs as `python -m kjs agent` in its own
process (so its RSS is its own), with NSQ as its queue, against one test cluster.

What the agent tracks: Jobs exactly as kjs renders them (`render_job`), each with one pod as the
job controller would make it (the Job's template, its labels plus the controller's, an
ownerReference to the Job), made by this bench so 10,000 of them appear in a minute rather than
at the controller's API rate. The pods are bound to a node that does not exist, so they stay
Pending and nothing runs them (the test kubelet runs only its own node's pods, and no pod GC
controller runs); the Jobs carry `spec.managedBy` of this bench, so the job controller leaves
them and their pods alone. The agent lists and watches them through its real path (its watch
cache, `kjs.io/job-id` labels, owner references) and every `resync_s` runs its status pass over
all of them, sending each job's status again.

The pass time is the agent's `kjs_agent_status_pass_seconds{kind="resync"}` histogram (read from
its /metrics), averaged over passes that began once every object was in its cache. RSS is the
agent's VmRSS, and VmHWM its peak. At the large size the agent is measured twice: the one that
watched the objects arrive, then a new one that lists them all at start (a restart, a new
leader). The bench empties NSQ's status topic of what its agents sent (run it on a test
environment of its own). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kjs.core import manifest
from kjs.core.messages import STATUS_TOPIC
from kjs.core.models import JobSpec, Quantities, Resources
from kjs.testing import env as testenv
from kjs.testing.procs import free_port

ABSENT_NODE = "kjs-bench-absent-node"
MANAGED_BY = "kjs.io/bench"  # not the job controller: it leaves these Jobs alone


class Cluster:
    """Raw REST to one test cluster's apiserver (one connection per thread)."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.entry["server"],
            verify=self.entry["ca_file"],
            headers={"Authorization": f"Bearer {self.entry['token']}"},
            timeout=60,
        )


def bench_spec(name: str, namespace: str, index: int) -> JobSpec:
    """The job every pod of these benches runs (a small one, with requests)."""
    return JobSpec(
        name=name,
        namespace=namespace,
        image="busybox:1.36",
        command=["sh", "-c", "echo working; sleep 30"],
        env={"MODE": "bench", "INDEX": str(index)},
        resources=Resources(requests=Quantities(cpu="100m", memory="64Mi")),
        labels={"team": "bench"},
    )


def job_and_pod(namespace: str, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Job as kjs renders it, and the pod the job controller would make for it (its uid and
    the controller's labels are filled in once the Job exists)."""
    spec = bench_spec(f"fp{index}", namespace, index)
    job = manifest.render_job(spec, job_id=str(uuid.uuid4()))
    job["spec"]["managedBy"] = MANAGED_BY
    template = job["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job['metadata']['name']}-{secrets.token_hex(3)[:5]}",
            "labels": dict(template["metadata"]["labels"]),
            "annotations": dict(template["metadata"].get("annotations") or {}),
        },
        "spec": {**template["spec"], "nodeName": ABSENT_NODE},
    }
    return job, pod


def populate(cluster: Cluster, namespace: str, start: int, stop: int, threads: int = 4) -> None:
    """Jobs start..stop-1 and one Pending pod each."""

    def make(indices: range) -> None:
        with cluster.client() as http:
            for i in indices:
                job, pod = job_and_pod(namespace, i)
                r = http.post(f"/apis/batch/v1/namespaces/{namespace}/jobs", json=job)
                r.raise_for_status()
                made = r.json()
                uid, name = made["metadata"]["uid"], made["metadata"]["name"]
                pod["metadata"]["labels"].update(
                    {
                        "batch.kubernetes.io/controller-uid": uid,
                        "batch.kubernetes.io/job-name": name,
                        "controller-uid": uid,
                        "job-name": name,
                    }
                )
                pod["metadata"]["ownerReferences"] = [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": name,
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
                http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod).raise_for_status()

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(make, range(start + t, stop, threads)) for t in range(threads)]:
            future.result()


def clean(cluster: Cluster, namespace: str) -> None:
    """Pods first and at once: no kubelet will confirm their graceful deletion."""
    with cluster.client() as http:
        now = {"gracePeriodSeconds": 0, "propagationPolicy": "Background"}
        http.request("DELETE", f"/api/v1/namespaces/{namespace}/pods", json=now)
        http.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs", json=now)
        http.delete(f"/api/v1/namespaces/{namespace}")


def empty_statuses(env: dict[str, Any]) -> None:
    """Drop the status events the bench's agents sent (thousands a pass): nsqd keeps them for
    a server's channel even while no server runs, and the next server would read them all."""
    for nsqd in env["nsq"]["nsqd"]:
        base = f"http://{nsqd['http']}"
        stats = httpx.get(f"{base}/stats", params={"format": "json", "topic": STATUS_TOPIC})
        for topic in stats.json().get("topics") or []:
            for channel in topic.get("channels") or []:
                httpx.post(
                    f"{base}/channel/empty",
                    params={"topic": STATUS_TOPIC, "channel": channel["channel_name"]},
                )
        httpx.post(f"{base}/topic/empty", params={"topic": STATUS_TOPIC})


class AgentProcess:
    def __init__(self, env: dict[str, Any], namespace: str, workdir: Path, resync_s: float):
        cluster = env["clusters"][0]
        self.cluster_id = cluster["id"]
        self.metrics_port = free_port()
        self.log = workdir / f"agent-{self.metrics_port}.log"
        nsq = env["nsq"]
        self.env = {
            **os.environ,
            "KJS_QUEUE": "nsq",
            "KJS_NSQ__NSQD_TCP": json.dumps([n["tcp"] for n in nsq["nsqd"]]),
            "KJS_NSQ__NSQD_HTTP": json.dumps([n["http"] for n in nsq["nsqd"]]),
            "KJS_NSQ__LOOKUPD_HTTP": json.dumps([lk["http"] for lk in nsq["lookupd"]]),
            "KJS_AGENT__LEASE_NAMESPACE": namespace,
            "KJS_AGENT__NAMESPACES": json.dumps([namespace]),
            "KJS_AGENT__RESYNC_S": str(resync_s),
            "KJS_AGENT__MAX_CONCURRENT_JOBS": "100000",
        }
        self.args = [
            sys.executable,
            "-m",
            "kjs",
            "agent",
            "--cluster-id",
            self.cluster_id,
            "--kubeconfig",
            cluster["kubeconfig"],
            "--data-dir",
            str(workdir / "agent-data"),
            "--metrics-port",
            str(self.metrics_port),
        ]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def metrics(self) -> dict[tuple[str, str], float]:
        """(sample name, kind label) -> value, for this agent's cluster."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        out: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.labels.get("cluster") == self.cluster_id and "le" not in s.labels:
                    out[(s.name, s.labels.get("kind", ""))] = s.value
        return out

    def wait_tracking(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                m = self.metrics()
            except httpx.HTTPError:
                m = {}
            jobs = m.get(("kjs_agent_tracked_objects", "jobs"), 0)
            pods = m.get(("kjs_agent_tracked_objects", "pods"), 0)
            if jobs >= count and pods >= count:
                return
            assert time.monotonic() < deadline, f"agent tracks {jobs} jobs, {pods} pods"
            time.sleep(0.5)

    def pass_seconds(self, passes: int, timeout: float) -> float:
        """Mean duration of the next `passes` resync passes that start from now on."""
        name = ("kjs_agent_status_pass_seconds_count", "resync")
        total = ("kjs_agent_status_pass_seconds_sum", "resync")
        first = self.metrics()
        deadline = time.monotonic() + timeout
        # A pass running now began before this moment: start counting after it ends.
        start: dict[tuple[str, str], float] | None = None
        while True:
            assert time.monotonic() < deadline, "resync passes did not come"
            time.sleep(0.1)
            m = self.metrics()
            if start is None:
                if m.get(name, 0) > first.get(name, 0):
                    start = m
                continue
            if m[name] - start[name] >= passes:
                return (m[total] - start[total]) / (m[name] - start[name])

    def memory_mb(self) -> dict[str, float]:
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = round(int(value.split()[0]) / 1024, 1)
        return fields

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=3, help="resync passes averaged per size")
    parser.add_argument("--resync-s", type=float, default=3.0)
    parser.add_argument("--testenv-dir", help="a running test environment (else one is started)")
    args = parser.parse_args()
    env, own_env = testenv.given_or_up(args.testenv_dir, clusters=1, only=["nsq", "k8s"])
    cluster = Cluster(env["clusters"][0])
    namespace = f"fp-{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="kjs-footprint-"))
    with cluster.client() as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}}).raise_for_status()
    agents: list[AgentProcess] = []
    result: dict[str, Any] = {}

    def measure(agent: AgentProcess, size: int, label: str) -> tuple[float, dict[str, float]]:
        agent.wait_tracking(size, timeout=600)
        seconds = agent.pass_seconds(args.passes, timeout=60 + size * 0.1 * args.passes)
        memory = agent.memory_mb()
        print(
            f"{label}: {size} pods: status pass {seconds * 1000:.0f} ms, "
            f"VmRSS {memory['VmRSS']} MB, VmHWM {memory['VmHWM']} MB",
            flush=True,
        )
        return seconds, memory

    try:
        started = time.monotonic()
        populate(cluster, namespace, 0, args.small)
        print(f"{args.small} jobs + pods made in {time.monotonic() - started:.0f} s", flush=True)
        agents.append(AgentProcess(env, namespace, workdir, args.resync_s))
        small_s, small_mem = measure(agents[0], args.small, "agent (listed at start)")
        started = time.monotonic()
        populate(cluster, namespace, args.small, args.large)
        print(f"{args.large} jobs + pods made in {time.monotonic() - started:.0f} s", flush=True)
        watched_s, watched_mem = measure(agents[0], args.large, "same agent (watched them come)")
        agents[0].stop()
        agents.append(AgentProcess(env, namespace, workdir, args.resync_s))
        listed_s, listed_mem = measure(agents[1], args.large, "new agent (listed at start)")
        large_s = max(watched_s, listed_s)
        ratio = large_s / small_s
        print(f"status pass ratio {args.large}/{args.small}: {ratio:.1f}x", flush=True)
        result = {
            "agent_rss_1k_mb": small_mem["VmRSS"],
            "agent_rss_10k_mb": max(watched_mem["VmRSS"], listed_mem["VmRSS"]),
            "agent_hwm_1k_mb": small_mem["VmHWM"],
            "agent_hwm_10k_mb": max(watched_mem["VmHWM"], listed_mem["VmHWM"]),
            "status_pass_1k_ms": round(small_s * 1000, 1),
            "status_pass_10k_ms": round(large_s * 1000, 1),
            "status_pass_ratio": round(ratio, 2),
            "sizes": [args.small, args.large],
        }
    finally:
        for agent in agents:
            agent.stop()
        clean(cluster, namespace)
        empty_statuses(env)
        if own_env is not None:
            testenv.down(own_env)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
