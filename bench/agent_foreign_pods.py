"""The agent's memory with many pods kjs did not create: its resource watches (nodes, and every
pod bound to a node) hold each one's node and requests.

    python bench/agent_foreign_pods.py [--sizes 1000,5000,10000] [--testenv-dir D]

Needs a test environment with Kubernetes and NSQ (`kjs-testenv up --clusters 1 --only
k8s,nsq`); starts one itself unless given. The agent runs as `python -m kjs agent` in its own
process (bench/agent_footprint.py's `AgentProcess`: NSQ as its queue, limited to a namespace of
its own that stays empty), against one test cluster.

The pods: plain pods of another namespace (no kjs label, no owner), each with the spec of a
rendered kjs job (one container, requests 100m / 64Mi, env, labels, annotations), bound to a
node this bench registers (Ready, allocatable large enough) that no kubelet runs: they stay
Pending and bound, and nothing deletes them (no node lifecycle or pod GC controller runs in the
test environment). The agent reads them cluster-wide, as it reads every pod on the nodes.

For each size: the pods are made, the agent's `kjs_agent_tracked_objects{kind="bound_pods"}`
reaches it, and after a few heartbeats its VmRSS and VmHWM are read. At the largest size a new
agent is measured too, one that lists them all at start (a restart, a new leader). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.agent_footprint import AgentProcess, Cluster, bench_spec, empty_statuses
from kjs.core import manifest
from kjs.testing import env as testenv

NODE = "kjs-bench-foreign-node"


def register_node(cluster: Cluster) -> None:
    """A Ready node no kubelet runs: pods bound to it stay Pending, and count."""
    allocatable = {"cpu": "4000", "memory": "16Ti", "pods": "50000"}
    with cluster.client() as http:
        http.post(
            "/api/v1/nodes", json={"metadata": {"name": NODE, "labels": {"bench": "foreign"}}}
        ).raise_for_status()
        status = {
            "status": {
                "capacity": allocatable,
                "allocatable": allocatable,
                "conditions": [{"type": "Ready", "status": "True", "reason": "Bench"}],
            }
        }
        http.patch(
            f"/api/v1/nodes/{NODE}/status",
            json=status,
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()


def foreign_pod(namespace: str, index: int) -> dict[str, Any]:
    spec = bench_spec(f"other{index}", namespace, index)
    template = manifest.render_job(spec, job_id=str(uuid.uuid4()))["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"other-{index}",
            "labels": {"app": "not-kjs", "team": "bench", "index": str(index)},
            "annotations": {"example.com/owner": "someone else"},
        },
        "spec": {**template["spec"], "nodeName": NODE},
    }


def populate(cluster: Cluster, namespace: str, start: int, stop: int, threads: int = 4) -> None:
    def make(indices: range) -> None:
        with cluster.client() as http:
            for i in indices:
                pod = foreign_pod(namespace, i)
                http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod).raise_for_status()

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(make, range(start + t, stop, threads)) for t in range(threads)]:
            future.result()


def clean(cluster: Cluster, namespaces: list[str]) -> None:
    with cluster.client() as http:
        now = {"gracePeriodSeconds": 0}
        for namespace in namespaces:
            http.request("DELETE", f"/api/v1/namespaces/{namespace}/pods", json=now)
            http.delete(f"/api/v1/namespaces/{namespace}")
        http.delete(f"/api/v1/nodes/{NODE}")


def wait_bound(agent: AgentProcess, count: int, timeout: float) -> float:
    """Seconds until the agent's resource book holds `count` pods."""
    started = time.monotonic()
    while True:
        assert agent.proc.poll() is None, agent.log.read_text()[-3000:]
        try:  # absent until the agent serves metrics and its report loop has run once
            tracked = agent.metrics().get(("kjs_agent_tracked_objects", "bound_pods"))
        except Exception:
            tracked = None
        if tracked is not None and tracked >= count:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"the agent holds {tracked} pods"
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="pod counts, ascending")
    parser.add_argument("--settle-s", type=float, default=6.0, help="heartbeats to wait first")
    parser.add_argument("--testenv-dir", help="a running test environment (else one is started)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env, own_env = testenv.given_or_up(args.testenv_dir, clusters=1, only=["nsq", "k8s"])
    cluster = Cluster(env["clusters"][0])
    suffix = uuid.uuid4().hex[:6]
    agent_namespace, foreign = f"fpa-{suffix}", f"foreign-{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="kjs-foreign-"))
    with cluster.client() as http:
        for namespace in (agent_namespace, foreign):
            http.post(
                "/api/v1/namespaces", json={"metadata": {"name": namespace}}
            ).raise_for_status()
    register_node(cluster)
    agents: list[AgentProcess] = []
    result: dict[str, Any] = {}

    def measure(agent: AgentProcess, size: int, label: str) -> dict[str, float]:
        seconds = wait_bound(agent, size, timeout=900)
        time.sleep(args.settle_s)
        memory = agent.memory_mb()
        print(
            f"{label}: {size} foreign pods held {seconds:.0f} s after asked; "
            f"VmRSS {memory['VmRSS']} MB, VmHWM {memory['VmHWM']} MB",
            flush=True,
        )
        return memory

    try:
        agents.append(AgentProcess(env, agent_namespace, workdir, resync_s=30.0))
        rss: dict[str, float] = {}
        hwm: dict[str, float] = {}
        idle = measure(agents[0], 0, "agent, no foreign pods")
        rss["0"], hwm["0"] = idle["VmRSS"], idle["VmHWM"]
        made = 0
        for size in sizes:
            started = time.monotonic()
            populate(cluster, foreign, made, size)
            made = size
            print(f"{size} pods made in {time.monotonic() - started:.0f} s", flush=True)
            memory = measure(agents[0], size, "same agent (watched them come)")
            rss[str(size)], hwm[str(size)] = memory["VmRSS"], memory["VmHWM"]
        agents[0].stop()
        agents.append(AgentProcess(env, agent_namespace, workdir, resync_s=30.0))
        listed = measure(agents[1], made, "new agent (listed at start)")
        result = {
            "agent_rss_mb": rss,
            "agent_hwm_mb": hwm,
            "new_agent_rss_mb": listed["VmRSS"],
            "new_agent_hwm_mb": listed["VmHWM"],
            "max_rss_mb": max([*rss.values(), listed["VmRSS"]]),
            "sizes": sizes,
        }
    finally:
        for agent in agents:
            agent.stop()
        clean(cluster, [foreign, agent_namespace])
        empty_statuses(env)
        if own_env is not None:
            testenv.down(own_env)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
