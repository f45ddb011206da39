"""Latency of one job's way through `kjs up` on a test cluster, at low load and in a burst.

    python bench/latency.py                       # 300 jobs at 1 job/s, then 10 s at 200 jobs/s
    python bench/latency.py --jobs 60 --burst-seconds 5 --testenv-dir D

It starts a test cluster (unless given a running test environment), a webhook receiver, and
`kjs up` in its own process (SQLite, in-memory queue, `[agent] max_concurrent_jobs = 5000`), and
watches the namespace's Kubernetes Jobs itself. Every job is a container that appends its name
and its own end time (ns) to a file: the test kubelet runs containers as local processes, so
the end of the work is known exactly. Measured, on this machine's one clock:

  accepted -> created     the 201 at the client to the Job's ADDED event on the bench's watch;
  terminated -> stored    the container's end to the final state stored (the job's updated_at);
  terminated -> webhook   the container's end to the webhook's arrival at the receiver.

Successful jobs use the default `log_collect` (on_failure); every `--fail-every`-th job exits 1
and is reported apart (`failed_*`). The burst is `--burst-rate` jobs/s for `--burst-seconds`
(accepted -> created only, with its stages from the status history); `--bare` adds the same burst
created by a bare Kubernetes client, as what this machine gives anyone. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.deployment

from kjs.testing import env as testenv
from kjs.testing.procs import free_port
from tests.deployment import WEBHOOK_SECRET, WebhookReceiver

JOB_ID_LABEL = "kjs.io/job-id"
FINAL = {"succeeded", "failed", "cancelled", "lost"}


def ms_quantiles(prefix: str, seconds: list[float]) -> dict[str, float | int | None]:
    if len(seconds) < 2:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None, f"{prefix}_n": len(seconds)}
    q = statistics.quantiles(seconds, n=100)
    return {
        f"{prefix}_p50_ms": round(q[49] * 1000, 1),
        f"{prefix}_p99_ms": round(q[98] * 1000, 1),
        f"{prefix}_n": len(seconds),
    }


class JobWatch:
    """When each Kubernetes Job of the namespace first appeared on a watch, by kjs job id."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        from kubernetes import client, config, watch

        self.api = client.BatchV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.namespace = namespace
        self.seen: dict[str, float] = {}
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as e:  # the bench is ending (or the watch broke: then samples are few)
            print(f"job watch ended: {e.__class__.__name__}", file=sys.stderr)

    def _follow(self) -> None:
        version = self.api.list_namespaced_job(self.namespace).metadata.resource_version
        while True:
            for event in self._watch.stream(
                self.api.list_namespaced_job,
                self.namespace,
                resource_version=version,
                timeout_seconds=300,
            ):
                at = time.time()
                obj = event["object"]
                version = obj.metadata.resource_version
                job_id = (obj.metadata.labels or {}).get(JOB_ID_LABEL)
                if job_id:
                    self.seen.setdefault(job_id, at)

    def stop(self) -> None:
        self._watch.stop()


def start_kjs_up(workdir: Path, cluster: dict[str, Any], namespace: str) -> tuple[Any, str]:
    port = free_port()
    environ = {
        **os.environ,
        "KJS_AGENT__MAX_CONCURRENT_JOBS": "5000",
        "KJS_AGENT__NAMESPACES": json.dumps([namespace]),
        "KJS_WEBHOOKS__SECRET": WEBHOOK_SECRET,
        "KJS_WEBHOOKS__ALLOW_PRIVATE": "true",
    }
    log = open(workdir / "kjs-up.log", "wb")  # noqa: SIM115 (the process keeps it)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kjs",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(workdir),
            "--kubeconfig",
            cluster["kubeconfig"],
            "--cluster-id",
            cluster["id"],
        ],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (workdir / "kjs-up.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "kjs up did not become ready"
        try:
            clusters = httpx.get(f"{url}/api/v1/clusters", timeout=1).json()["items"]
            if any(c["state"] == "ready" for c in clusters):
                return proc, url
        except (httpx.HTTPError, KeyError):
            pass
        time.sleep(0.2)


def job_body(name: str, namespace: str, runs: Path, *, fail: bool, hook: str | None) -> dict:
    script = f'echo "{name} $(date +%s%N)" >> {runs}' + ("; exit 1" if fail else "")
    body: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "image": "busybox",
        "command": ["sh", "-c", script],
        "ttl_seconds_after_finished": 600,
    }
    if hook:
        body["callback_url"] = hook
    return body


def paced_submits(
    http: httpx.Client, bodies: list[dict], rate: float, threads: int
) -> dict[str, float]:
    """Submit `bodies` at `rate` per second; the moment each 201 arrived, by job id."""
    accepted: dict[str, float] = {}
    started = time.monotonic()

    def submit(i: int) -> None:
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        response = http.post("/api/v1/jobs", json=bodies[i])
        at = time.time()
        assert response.status_code == 201, response.text
        accepted[response.json()["id"]] = at

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(submit, range(len(bodies))))
    return accepted


def bare_burst(
    kubeconfig: str, namespace: str, rate: float, seconds: float, threads: int
) -> dict[str, float]:
    """The same burst created straight with the Kubernetes client (no kjs), `threads` in flight
    like the agent's queue deliveries: when each create call started, by the Job's id label."""
    from kubernetes import client, config

    batch = client.BatchV1Api(config.new_client_from_config(config_file=kubeconfig))
    total = int(rate * seconds)
    started_at: dict[str, float] = {}
    started = time.monotonic()

    def create(i: int) -> None:
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        job_id = f"bare-{i}"
        started_at[job_id] = time.time()
        batch.create_namespaced_job(
            namespace,
            {
                "metadata": {"name": f"bare-{i}", "labels": {JOB_ID_LABEL: job_id}},
                "spec": {
                    "backoffLimit": 0,
                    "ttlSecondsAfterFinished": 600,
                    "template": {
                        "metadata": {"labels": {JOB_ID_LABEL: job_id}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "main", "image": "busybox", "command": ["true"]}
                            ],
                        },
                    },
                },
            },
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, range(total)))
    return started_at


def stage_quantiles(http: httpx.Client, ids: list[str]) -> dict[str, float | int | None]:
    """Where a burst job's time went, from its status history: accepted (pending) -> dispatched
    (placed, queued to the agent) -> created (the agent's create call returned)."""
    placed: list[float] = []
    created: list[float] = []
    for job_id in ids:
        at = {
            e["state"]: dt.datetime.fromisoformat(e["at"]).timestamp()
            for e in http.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
        }
        if {"pending", "dispatched", "created"} <= at.keys():
            placed.append(at["dispatched"] - at["pending"])
            created.append(at["created"] - at["dispatched"])
    return {
        **ms_quantiles("burst_pending_to_dispatched", placed),
        **ms_quantiles("burst_dispatched_to_created", created),
    }


def wait_final(http: httpx.Client, ids: set[str], timeout: float) -> dict[str, dict]:
    final: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(final) < len(ids) and time.monotonic() < deadline:
        for job_id in ids - final.keys():
            job = http.get(f"/api/v1/jobs/{job_id}").json()
            if job["state"] in FINAL:
                final[job_id] = job
        time.sleep(0.5)
    return final


def run(cluster: dict[str, Any], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from kubernetes import client, config

    namespace = f"lat-{uuid.uuid4().hex[:6]}"
    admin = client.CoreV1Api(config.new_client_from_config(config_file=cluster["kubeconfig"]))
    admin.create_namespace({"metadata": {"name": namespace}})
    runs = workdir / "runs.txt"
    runs.touch()
    receiver = WebhookReceiver()
    watch = JobWatch(cluster["kubeconfig"], namespace)
    proc, url = start_kjs_up(workdir, cluster, namespace)
    http = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=16))
    try:
        slow = [
            job_body(
                f"s{i}", namespace, runs, fail=(i + 1) % args.fail_every == 0, hook=receiver.url
            )
            for i in range(args.jobs)
        ]
        print(f"{args.jobs} jobs at {args.rate} job/s …", file=sys.stderr, flush=True)
        accepted = paced_submits(http, slow, args.rate, 2)
        final = wait_final(http, set(accepted), 120)
        deadline = time.monotonic() + 60
        while len(receiver.first_delivery()) < len(final) and time.monotonic() < deadline:
            time.sleep(0.2)

        ends = {}
        for line in runs.read_text().splitlines():
            name, ns = line.split()
            ends.setdefault(name, int(ns) / 1e9)
        firsts = {d.job_id: d.received_at for d in receiver.first_delivery().values()}
        to_created = [watch.seen[j] - at for j, at in accepted.items() if j in watch.seen]
        stored: dict[str, list[float]] = {"succeeded": [], "failed": []}
        hooked: dict[str, list[float]] = {"succeeded": [], "failed": []}
        for job_id, job in final.items():
            end = ends.get(job["name"])
            if end is None or job["state"] not in stored:
                continue
            updated = dt.datetime.fromisoformat(job["updated_at"]).timestamp()
            stored[job["state"]].append(updated - end)
            if job_id in firsts:
                hooked[job["state"]].append(firsts[job_id] - end)

        burst_jobs = int(args.burst_rate * args.burst_seconds)
        burst: list[float] = []
        bare: list[float] = []
        stages: dict[str, float | int | None] = {}
        if burst_jobs:
            print(f"burst: {args.burst_rate} jobs/s for {args.burst_seconds} s …", file=sys.stderr)
            bodies = [
                job_body(f"b{i}", namespace, runs, fail=False, hook=None) for i in range(burst_jobs)
            ]
            burst_accepted = paced_submits(http, bodies, args.burst_rate, 8)
            deadline = time.monotonic() + 60
            while not burst_accepted.keys() <= watch.seen.keys() and time.monotonic() < deadline:
                time.sleep(0.2)
            burst = [watch.seen[j] - at for j, at in burst_accepted.items() if j in watch.seen]
            missing = len(burst_accepted) - len(burst)
            assert not missing, f"{missing} burst jobs never got a Kubernetes Job"
            stages = stage_quantiles(http, list(burst_accepted))
            if args.bare:
                print("the same burst with a bare Kubernetes client …", file=sys.stderr)
                bare_started = bare_burst(
                    cluster["kubeconfig"], namespace, args.burst_rate, args.burst_seconds, 16
                )
                deadline = time.monotonic() + 60
                while not bare_started.keys() <= watch.seen.keys() and time.monotonic() < deadline:
                    time.sleep(0.2)
                bare = [watch.seen[j] - at for j, at in bare_started.items() if j in watch.seen]
        states = [j["state"] for j in final.values()]
        return {
            "jobs": args.jobs,
            "rate_per_s": args.rate,
            "succeeded": states.count("succeeded"),
            "failed": states.count("failed"),
            "not_final": args.jobs - len(final),
            **ms_quantiles("accepted_to_created", to_created),
            **ms_quantiles("terminated_to_stored", stored["succeeded"]),
            **ms_quantiles("terminated_to_webhook", hooked["succeeded"]),
            **ms_quantiles("failed_terminated_to_stored", stored["failed"]),
            **ms_quantiles("failed_terminated_to_webhook", hooked["failed"]),
            "burst_rate_per_s": args.burst_rate,
            "burst_jobs": burst_jobs,
            "burst_accepted_to_created_p50_ms": ms_quantiles("b", burst)["b_p50_ms"],
            "burst_accepted_to_created_p99_ms": ms_quantiles("b", burst)["b_p99_ms"],
            **stages,
            **(ms_quantiles("bare_burst_created", bare) if args.bare else {}),
        }
    finally:
        http.close()
        proc.terminate()
        proc.wait(60)
        watch.stop()
        receiver.down()
        admin.delete_namespace(namespace)
        # Its thousands of Jobs and pods keep the test cluster's controllers busy for a minute:
        # the next run starts on a quiet cluster, not on this one's backlog.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if not admin.list_namespace(field_selector=f"metadata.name={namespace}").items:
                break
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs of the low-load run")
    parser.add_argument("--rate", type=float, default=1.0, help="jobs/s of the low-load run")
    parser.add_argument("--fail-every", type=int, default=10, help="every n-th job exits 1")
    parser.add_argument("--burst-rate", type=float, default=200.0)
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument(
        "--bare",
        action="store_true",
        help="after kjs's burst, the same burst created by a bare Kubernetes client (a baseline)",
    )
    parser.add_argument("--testenv-dir", type=Path, help="a running test environment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kjs-latency-") as tmp:
        workdir = Path(tmp)
        environment, own = testenv.given_or_up(args.testenv_dir, clusters=1, only=["k8s"])
        try:
            result = run(environment["clusters"][0], args, workdir)
        finally:
            if own is not None:
                testenv.down(own)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
