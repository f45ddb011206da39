"""The agent's create rate against a bare client: 1,000 jobs due at once on one cluster.

    python bench/agent_create.py [--jobs 1000] [--rounds 4] [--concurrency 16] [--testenv-dir D]

Needs a test environment with Kubernetes and NSQ (`kjs-testenv up --clusters 1 --only
k8s,nsq`); starts one itself unless given. Rounds alternate A B A B in one run, so what else the
machine does hits both:

- A, the agent: `python -m kjs agent` in its own process, on NSQ. The bench publishes the
  1,000 dispatches the server would publish when 1,000 jobs fall due at once (each job's Job as
  `render_job` makes it, spread over the nsqds as the server's publishing spreads them), all
  in one go, into the agent's dispatch topic.
- B, the bare client: the same Python Kubernetes client (`kubernetes.aio`,
  `create_namespaced_job`) in a process of its own, creating the same 1,000 Jobs with
  `--concurrency` requests in flight (the agent's: its NSQ readers' max_in_flight).

Each side is warmed up first (a few creates: the client builds its models' validators on first
use), then timed from the moment it is given the work to the moment the bench's own watch of
the namespace has seen the 1,000th Job added: one observable for both. The Jobs carry
`spec.managedBy` of this bench, so the job controller leaves them alone and the cluster does
nothing else meanwhile (no pods to make); each round has a namespace of its own, emptied
before the next round starts. The bench empties NSQ's status topic of what its agents sent
(run it on a test environment of its own). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.agent_footprint import MANAGED_BY, AgentProcess, Cluster, empty_statuses
from kjs.core import manifest, messages
from kjs.core.models import JobSpec, Quantities, Resources
from kjs.testing import env as testenv

WARMUP = 20
CPU_LOG: dict[str, list[float]] = {"agent": [], "bare": []}  # CPU ms per job, per round
MACHINE_LOG: dict[str, list[float]] = {"agent": [], "bare": []}  # all processes' CPU ms per job


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (every core, every process)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def manifests(namespace: str, count: int, prefix: str) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        spec = JobSpec(
            name=f"{prefix}{i}",
            namespace=namespace,
            image="busybox:1.36",
            command=["sh", "-c", "echo hello"],
            env={"MODE": "bench"},
            resources=Resources(requests=Quantities(cpu="100m", memory="64Mi")),
        )
        job = manifest.render_job(spec, job_id=str(uuid.uuid4()))
        job["spec"]["managedBy"] = MANAGED_BY
        out.append(job)
    return out


class Added:
    """A watch of one namespace's Jobs: when the n-th one was added."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = "0"
        with self.cluster.client() as http:
            while not self._stop.is_set():
                params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "5"}
                path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
                with http.stream("GET", path, params=params, timeout=30) as response:
                    for line in response.iter_lines():
                        if not line:
                            continue
                        event = json.loads(line)
                        version = event["object"]["metadata"].get("resourceVersion", version)
                        if event["type"] == "ADDED":
                            self.times.append(time.monotonic())

    def wait(self, count: int, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while len(self.times) < count:
            assert time.monotonic() < deadline, f"{len(self.times)} of {count} Jobs added"
            time.sleep(0.01)
        return self.times[count - 1]

    def stop(self) -> None:
        self._stop.set()


def make_namespace(cluster: Cluster, name: str) -> None:
    with cluster.client() as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": name}}).raise_for_status()


def drop_namespace(cluster: Cluster, name: str) -> None:
    """Its Jobs at once (not at the namespace controller's pace, into the next round)."""
    with cluster.client() as http:
        http.request(
            "DELETE",
            f"/apis/batch/v1/namespaces/{name}/jobs",
            json={"propagationPolicy": "Background"},
            timeout=120,
        )
        http.delete(f"/api/v1/namespaces/{name}")


def publish_at_once(env: dict[str, Any], cluster_id: str, jobs: list[dict[str, Any]]) -> None:
    """The dispatches of `jobs`, as the server makes them, into the agent's topic: one /mpub
    per nsqd, the messages alternating between them as the server's publishing does."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    bodies = [
        messages.encode(
            messages.Dispatch(
                job_id=job["metadata"]["labels"][manifest.JOB_ID],
                attempt=1,
                manifest=job,
                expires_at=expires,
            )
        )
        for job in jobs
    ]
    nsqds = [n["http"] for n in env["nsq"]["nsqd"]]
    topic = messages.dispatch_topic(cluster_id)
    for i, address in enumerate(nsqds):
        part = bodies[i :: len(nsqds)]
        if part:
            r = httpx.post(
                f"http://{address}/mpub", params={"topic": topic}, content=b"\n".join(part)
            )
            r.raise_for_status()


def agent_round(
    env: dict[str, Any], cluster: Cluster, namespace: str, count: int, workdir: Path
) -> float:
    cluster_id = env["clusters"][0]["id"]
    agent = AgentProcess(env, namespace, workdir, resync_s=60.0)
    added = Added(cluster, namespace)
    try:
        publish_at_once(env, cluster_id, manifests(namespace, WARMUP, "warm"))
        added.wait(WARMUP, timeout=120)
        time.sleep(1.0)  # let its report loop send the warm-up's statuses first
        jobs = manifests(namespace, count, "due")
        cpu, machine, started = cpu_s(agent.proc.pid), machine_cpu_s(), time.monotonic()
        publish_at_once(env, cluster_id, jobs)
        rate = count / (added.wait(WARMUP + count) - started)
        CPU_LOG["agent"].append((cpu_s(agent.proc.pid) - cpu) * 1000 / count)
        MACHINE_LOG["agent"].append((machine_cpu_s() - machine) * 1000 / count)
        return rate
    finally:
        added.stop()
        agent.stop()


def bare_round(kubeconfig: str, cluster: Cluster, namespace: str, count: int, c: int) -> float:
    added = Added(cluster, namespace)
    worker = subprocess.Popen(
        [sys.executable, __file__, "--bare-worker", kubeconfig, namespace, str(count), str(c)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"  # warmed up
        added.wait(WARMUP, timeout=120)
        cpu, machine, started = cpu_s(worker.pid), machine_cpu_s(), time.monotonic()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        rate = count / (added.wait(WARMUP + count) - started)
        CPU_LOG["bare"].append((cpu_s(worker.pid) - cpu) * 1000 / count)
        MACHINE_LOG["bare"].append((machine_cpu_s() - machine) * 1000 / count)
        worker.stdin.close()
        worker.wait(60)
        return rate
    finally:
        added.stop()
        if worker.poll() is None:
            worker.kill()


def bare_worker(kubeconfig: str, namespace: str, count: int, concurrency: int) -> None:
    """The bare client: `concurrency` creates in flight, as a careful script would write it."""

    async def main() -> None:
        from kubernetes.aio import client, config

        api = await config.new_client_from_config(config_file=kubeconfig)
        batch = client.BatchV1Api(api)

        async def create_all(jobs: list[dict[str, Any]]) -> None:
            async def worker() -> None:
                while jobs:
                    await batch.create_namespaced_job(namespace, jobs.pop())

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await create_all(manifests(namespace, WARMUP, "warm"))
        jobs = manifests(namespace, count, "due")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await create_all(jobs)
        await api.close()

    asyncio.run(main())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-worker":
        kubeconfig, namespace, count, concurrency = sys.argv[2:6]
        bare_worker(kubeconfig, namespace, int(count), int(concurrency))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4, help="A B pairs")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="the bare client's creates in flight"
    )
    parser.add_argument("--testenv-dir", help="a running test environment (else one is started)")
    args = parser.parse_args()
    env, own_env = testenv.given_or_up(args.testenv_dir, clusters=1, only=["nsq", "k8s"])
    cluster = Cluster(env["clusters"][0])
    workdir = Path(tempfile.mkdtemp(prefix="kjs-create-"))
    rates: dict[str, list[float]] = {"agent": [], "bare": []}
    try:
        for r in range(args.rounds):
            for who in ("agent", "bare"):
                namespace = f"create-{who}-{r}-{uuid.uuid4().hex[:4]}"
                make_namespace(cluster, namespace)
                try:
                    if who == "agent":
                        rate = agent_round(env, cluster, namespace, args.jobs, workdir)
                    else:
                        rate = bare_round(
                            cluster.entry["kubeconfig"],
                            cluster,
                            namespace,
                            args.jobs,
                            args.concurrency,
                        )
                finally:
                    drop_namespace(cluster, namespace)
                rates[who].append(rate)
                print(
                    f"round {r + 1} {who}: {rate:.1f} jobs/s, "
                    f"{CPU_LOG[who][-1]:.2f} ms of its CPU per job, "
                    f"{MACHINE_LOG[who][-1]:.2f} ms of the machine's",
                    flush=True,
                )
                time.sleep(2.0)  # the deletions settle
    finally:
        empty_statuses(env)
        if own_env is not None:
            testenv.down(own_env)
    agent_rate, bare_rate = statistics.mean(rates["agent"]), statistics.mean(rates["bare"])
    # Each pair ran back to back, under the same load from elsewhere: the median of their
    # ratios is what one noisy pair cannot move.
    pairs = [a / b for a, b in zip(rates["agent"], rates["bare"], strict=True)]
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "concurrency": args.concurrency,
                "agent_rounds": [round(x, 1) for x in rates["agent"]],
                "bare_rounds": [round(x, 1) for x in rates["bare"]],
                "agent_cpu_ms_per_job": round(statistics.mean(CPU_LOG["agent"]), 2),
                "bare_cpu_ms_per_job": round(statistics.mean(CPU_LOG["bare"]), 2),
                "agent_jobs_per_s": round(agent_rate, 1),
                "bare_jobs_per_s": round(bare_rate, 1),
                "pair_ratios": [round(x, 3) for x in pairs],
                "ratio_of_means": round(agent_rate / bare_rate, 3),
                "ratio": round(statistics.median(pairs), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
