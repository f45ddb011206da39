"""A process-running kubelet for the test clusters.

The only simulated part of the test environment: it registers one Ready Node, binds every pending
pod to it (there is no kube-scheduler), runs each container's `command` + `args` as a local
process in its own process group with the pod's environment (the image is ignored), reports pod
status as a kubelet would, honours graceful deletion, and serves the kubelet log endpoint over
HTTPS so that `pods/{name}/log` through the real apiserver returns the process's real output.

It talks to the apiserver over plain REST (aiohttp), so every request it makes is visible here.
Run: `python -m kjs.testing.kubelet --kubeconfig K --node N --port P --tls-cert C --tls-key K`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import re
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from kubernetes.utils.quantity import parse_quantity as _parse_quantity

from kjs.core import aio

log = logging.getLogger("kjs.testing.kubelet")

Json = dict[str, Any]
KUBELET_VERSION = "v1.36.3"
_MAX_LOG_LINE = 16 * 1024  # like the CRI: longer lines are split into partial records
_BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
_TERMINAL = ("Succeeded", "Failed")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339nano(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    """The few apiserver calls a kubelet makes, as plain REST."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
        user = next(u for u in config["users"] if u["name"] == context["context"]["user"])
        self.server = cluster["cluster"]["server"].rstrip("/")
        self._ssl = ssl.create_default_context(cafile=cluster["cluster"]["certificate-authority"])
        self._headers = {"Authorization": f"Bearer {user['user']['token']}"}
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                read_bufsize=2**20,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        patch: bool = False,
        params: dict[str, str] | None = None,
    ) -> Json:
        headers = {"Content-Type": "application/merge-patch+json"} if patch else {}
        async with self.session.request(
            method, self.server + path, json=body, headers=headers, params=params
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise ApiError(resp.status, text)
            return json.loads(text) if text else {}

    async def watch(self, path: str, resource_version: str) -> AsyncIterator[Json]:
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "240",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
        async with self.session.get(self.server + path, params=params, timeout=timeout) as resp:
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text())
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


@dataclass
class LogRecord:
    at: dt.datetime
    stream: str
    text: bytes
    partial: bool


class ContainerLog:
    """One run of a container's output: records on disk, and an event for followers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self.closed = False
        self._changed = asyncio.Event()

    def append(self, stream: str, text: bytes, partial: bool) -> None:
        line = f"{rfc3339nano(now())} {stream} {'P' if partial else 'F'} ".encode()
        with open(self.path, "ab") as f:
            f.write(line + text + b"\n")
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        await self._changed.wait()

    def read_from(self, offset: int) -> tuple[list[LogRecord], int]:
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # only whole records
        records = []
        for raw in data[:end].splitlines():
            at, stream, tag, text = raw.split(b" ", 3)  # `append` always writes all four
            at_time = dt.datetime.strptime(at.decode()[:26], "%Y-%m-%dT%H:%M:%S.%f")
            records.append(
                LogRecord(at_time.replace(tzinfo=dt.UTC), stream.decode(), text, tag == b"P")
            )
        return records, offset + end


@dataclass
class ContainerRun:
    """A container of a pod: its spec, its current and previous process and status."""

    spec: Json
    init: bool
    restart_count: int = 0
    state: Json = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Json = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    log: ContainerLog | None = None
    previous_log: ContainerLog | None = None
    exit_code: int | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def status(self, pod_uid: str) -> Json:
        running = "running" in self.state
        return {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "containerID": f"kjs-testenv://{pod_uid}/{self.name}/{self.restart_count}",
            "ready": running and not self.init,
            "started": running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0).startswith("$$"):
            return m.group(0)[1:]
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", repl, value)


class PodRun:
    """Everything the kubelet does for one pod, from start to its deletion."""

    def __init__(self, kubelet: Kubelet, pod: Json) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir = kubelet.work_dir / "pods" / self.uid
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.init_containers = [ContainerRun(c, True) for c in spec.get("initContainers") or []]
        self.containers = [ContainerRun(c, False) for c in spec.get("containers") or []]
        self.started_at = now()
        self.phase = "Pending"
        self.terminating = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.termination: asyncio.Task[None] | None = None
        self._status_lock = asyncio.Lock()

    def find(self, container: str) -> ContainerRun | None:
        return next(
            (c for c in self.init_containers + self.containers if c.name == container), None
        )

    # -- status ----------------------------------------------------------------------------------

    def _conditions(self) -> list[Json]:
        t = rfc3339(now())
        initialized = all("terminated" in c.state for c in self.init_containers) or (
            self.phase != "Pending"
        )
        ready = self.phase == "Running" and all("running" in c.state for c in self.containers)
        done = {"reason": "PodCompleted"} if self.phase in _TERMINAL else {}

        def cond(kind: str, ok: bool, extra: Json | None = None) -> Json:
            return {
                "type": kind,
                "status": "True" if ok else "False",
                "lastTransitionTime": t,
                **(extra or {}),
            }

        return [
            cond("PodScheduled", True),
            cond("Initialized", initialized),
            cond("PodReadyToStartContainers", self.phase != "Pending" or initialized),
            cond("ContainersReady", ready, None if ready else done),
            cond("Ready", ready, None if ready else done),
        ]

    async def push_status(self) -> None:
        async with self._status_lock:
            status = {
                "phase": self.phase,
                "hostIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": rfc3339(self.started_at),
                "conditions": self._conditions(),
                "containerStatuses": [c.status(self.uid) for c in self.containers],
            }
            if self.init_containers:
                status["initContainerStatuses"] = [c.status(self.uid) for c in self.init_containers]
            path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
            try:
                await self.kubelet.api.call("PATCH", path, {"status": status}, patch=True)
            except ApiError as e:
                if e.status != 404:  # gone already: nothing left to report to
                    raise

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            await self._kill_all(grace=0)
            raise
        except Exception:
            log.exception("pod %s/%s: kubelet error", self.namespace, self.name)

    async def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.push_status()
        for init in self.init_containers:
            await self._run_container(init)
            if init.exit_code != 0 or self.terminating.is_set():
                await self._finish()
                return
        self.phase = "Running"
        await asyncio.gather(*(self._run_container(c, announce=True) for c in self.containers))
        await self._finish()

    async def _finish(self) -> None:
        codes = [c.exit_code for c in self.containers]
        succeeded = bool(codes) and all(code == 0 for code in codes)
        self.phase = "Succeeded" if succeeded else "Failed"
        await self.push_status()
        try:
            await self.kubelet.release(self.uid)  # (schedules waiting pods: may fail on theirs)
        finally:
            if self.terminating.is_set():
                await self.kubelet.finish_deletion(self)

    async def _run_container(self, c: ContainerRun, *, announce: bool = False) -> None:
        backoff = 1.0
        while True:
            if self.terminating.is_set():
                return
            await self._run_once(c, announce=announce)
            announce = False
            restart = self.restart_policy == "Always" or (
                self.restart_policy == "OnFailure" and c.exit_code != 0
            )
            if not restart or self.terminating.is_set():
                return
            # A short crash-loop backoff: long enough to be seen, short enough for tests.
            if await aio.wait_event(self.terminating, backoff):
                return
            backoff = min(backoff * 2, 10.0)
            c.restart_count += 1
            c.last_state, c.state = c.state, {"waiting": {"reason": "CrashLoopBackOff"}}

    async def _run_once(self, c: ContainerRun, *, announce: bool) -> None:
        if c.log is not None:
            c.previous_log = c.log
        c.log = ContainerLog(self.dir / f"{c.name}.{c.restart_count}.log")
        env = await self._resolve_env(c)
        if env is None:
            return
        started = now()
        try:
            argv = [
                _expand(a, env) for a in (c.spec.get("command") or []) + (c.spec.get("args") or [])
            ]
            if not argv:
                raise OSError("the test kubelet runs command+args, and this container has neither")
            cwd = c.spec.get("workingDir")
            process = await asyncio.create_subprocess_exec(
                *argv,
                env={**_BASE_ENV, "HOSTNAME": self.name, **env},
                cwd=cwd if cwd and os.path.isdir(cwd) else self.dir,  # noqa: ASYNC240 (one stat)
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            c.log.append("stderr", str(e).encode(), partial=False)
            c.log.close()
            c.exit_code = 128
            c.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": str(e),
                    "startedAt": rfc3339(started),
                    "finishedAt": rfc3339(now()),
                }
            }
            await self.push_status()
            return
        c.process = process
        c.state = {"running": {"startedAt": rfc3339(started)}}
        await self.push_status()
        assert process.stdout is not None and process.stderr is not None
        _, _, returncode = await asyncio.gather(
            _pump(process.stdout, c.log, "stdout"),
            _pump(process.stderr, c.log, "stderr"),
            process.wait(),
        )
        # Killed by signal N: the runtime reports 128 + N, as a shell would.
        code = returncode if returncode >= 0 else 128 - returncode
        c.exit_code, c.process = code, None
        c.log.close()
        c.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": rfc3339(started),
                "finishedAt": rfc3339(now()),
            }
        }
        await self.push_status()

    async def _resolve_env(self, c: ContainerRun) -> dict[str, str] | None:
        """The container's env; while a Secret or ConfigMap is missing, wait as a kubelet does."""
        while True:
            try:
                return await self.kubelet.container_env(self.pod, c.spec)
            except (ApiError, KeyError) as e:
                message = e.args[0] if isinstance(e, KeyError) else str(e)
                c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
                await self.push_status()
            if await aio.wait_event(self.terminating, 2.0):
                return None

    async def terminate(self, grace_seconds: int) -> None:
        """Graceful deletion: SIGTERM, wait out the grace period, SIGKILL, remove the pod."""
        if self.terminating.is_set():
            return
        self.terminating.set()
        await self._kill_all(grace=grace_seconds)
        if self.task is None or self.task.done():  # else the run removes it when it ends
            await self.kubelet.finish_deletion(self)

    async def _kill_all(self, grace: float) -> None:
        processes = [c.process for c in self.init_containers + self.containers if c.process]
        for p in processes:
            _signal_group(p.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        if grace > 0 and processes:
            waits = asyncio.gather(*(p.wait() for p in processes))
            try:
                await asyncio.wait_for(waits, grace)
            except TimeoutError:
                for p in processes:
                    _signal_group(p.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _pump(stream: asyncio.StreamReader, out: ContainerLog, name: str) -> None:
    buffer = b""
    while chunk := await stream.read(65536):
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0 or newline > _MAX_LOG_LINE:
                break
            out.append(name, buffer[:newline], partial=False)
            buffer = buffer[newline + 1 :]
        while len(buffer) > _MAX_LOG_LINE:
            out.append(name, buffer[:_MAX_LOG_LINE], partial=True)
            buffer = buffer[_MAX_LOG_LINE:]
    if buffer:
        out.append(name, buffer, partial=True)


def parse_quantity(value: str | int) -> Decimal:
    """A Kubernetes quantity ("100m", "64Mi", "2") as a number."""
    quantity: Decimal = _parse_quantity(value)  # type: ignore[no-untyped-call]
    return quantity


def pod_requests(pod: Json) -> tuple[Decimal, Decimal]:
    """A pod's effective (cpu, memory) request, as the scheduler computes it."""

    def total(containers: list[Json], resource: str) -> list[Decimal]:
        return [
            parse_quantity(((c.get("resources") or {}).get("requests") or {}).get(resource, 0))
            for c in containers
        ]

    spec = pod["spec"]
    cpu_mem = []
    for resource in ("cpu", "memory"):
        regular = sum(total(spec.get("containers") or [], resource), Decimal(0))
        init = max(total(spec.get("initContainers") or [], resource), default=Decimal(0))
        cpu_mem.append(max(regular, init))  # init containers run one at a time, before the rest
    return cpu_mem[0], cpu_mem[1]


class Kubelet:
    """One fake node: registration, scheduling onto it, pod runs, and the log endpoint."""

    def __init__(
        self,
        api: Api,
        node: str,
        work_dir: Path,
        *,
        pods: int = 110,
        cpu: str = "8",
        memory: str = "32Gi",
    ) -> None:
        self.api = api
        self.node = node
        self.work_dir = work_dir
        self.labels = {
            "kubernetes.io/hostname": node,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }
        self.capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
        self.runs: dict[str, PodRun] = {}
        self.by_name: dict[tuple[str, str], PodRun] = {}
        # There is no kube-scheduler: this node places pods on itself, within its capacity.
        self.assigned: dict[str, tuple[Decimal, Decimal]] = {}  # unfinished pods bound here
        self.unschedulable: dict[str, tuple[Json, str]] = {}  # pending pods, with the reason

    async def register(self, port: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node, "labels": self.labels},
        }
        with contextlib.suppress(ApiError):
            await self.api.call("POST", "/api/v1/nodes", body)
        t = rfc3339(now())
        resources = {**self.capacity, "ephemeral-storage": "100Gi"}

        def cond(kind: str, status: str, reason: str) -> Json:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }

        status = {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID"),
                cond("Ready", "True", "KubeletReady"),
            ],
            # Only an InternalIP: the apiserver dials the first preferred address type it finds.
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "kjs-testenv://1",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "",
                "osImage": "kjs-testenv",
                "kubeProxyVersion": "",
            },
        }
        await self.api.call(
            "PATCH", f"/api/v1/nodes/{self.node}/status", {"status": status}, patch=True
        )

    async def sync_pods(self) -> None:
        """List and watch all pods, forever; relist when the watch expires."""
        while True:
            try:
                listing = await self.api.call("GET", "/api/v1/pods")
                listed = {pod["metadata"]["uid"] for pod in listing["items"]}
                # Deleted while the watch was down (no DELETED event will come): forgotten now,
                # or their room would stay taken.
                for uid in (
                    self.runs.keys() | self.assigned.keys() | self.unschedulable.keys()
                ) - listed:
                    await self.forget(uid)
                for pod in listing["items"]:
                    await self.handle("MODIFIED", pod)
                version = listing["metadata"]["resourceVersion"]
                while True:
                    async for event in self.api.watch("/api/v1/pods", version):
                        if event["type"] == "ERROR":
                            raise ApiError(int(event["object"].get("code", 500)), str(event))
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            await self.handle(event["type"], event["object"])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # 410 Gone, a dropped connection: list again
                log.info("pod watch restarts: %s", e)
                await asyncio.sleep(0.5)

    async def handle(self, kind: str, pod: Json) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        uid, node = meta["uid"], spec.get("nodeName")
        deleting = meta.get("deletionTimestamp") is not None
        if kind == "DELETED":
            await self.forget(uid)
            return
        if not node:
            if not deleting and uid not in self.assigned:
                await self.schedule(pod)
            return
        if node != self.node:
            return
        run = self.runs.get(uid)
        if run is None:
            if pod.get("status", {}).get("phase") in _TERMINAL:
                return  # ran before this kubelet started; nothing to do
            run = PodRun(self, pod)
            self.assigned.setdefault(uid, pod_requests(pod))
            self.runs[uid] = run
            self.by_name[(run.namespace, run.name)] = run
            if deleting:  # deleted before it ever started
                await run.terminate(0)
                return
            run.task = asyncio.create_task(run.run(), name=f"pod {run.namespace}/{run.name}")
        elif deleting:
            grace = int(meta.get("deletionGracePeriodSeconds") or 0)
            if run.termination is None:  # the pod is updated again while it terminates
                run.termination = asyncio.create_task(run.terminate(grace))

    async def forget(self, uid: str) -> None:
        """The pod is gone: its room, its run and its place in the queue with it."""
        self.unschedulable.pop(uid, None)
        await self.release(uid)
        run = self.runs.pop(uid, None)
        if run and run.task and not run.task.done():
            run.task.cancel()  # force-deleted while running
        if run and self.by_name.get((run.namespace, run.name)) is run:
            del self.by_name[(run.namespace, run.name)]

    def unfit_reason(self, pod: Json) -> str | None:
        """Why the pod cannot go on this node now, worded as kube-scheduler words it."""
        selector = pod["spec"].get("nodeSelector") or {}
        if any(self.labels.get(k) != v for k, v in selector.items()):
            return "1 node(s) didn't match Pod's node affinity/selector"
        if len(self.assigned) >= int(self.capacity["pods"]):
            return "1 Too many pods"
        cpu, memory = pod_requests(pod)
        used_cpu = sum((c for c, _ in self.assigned.values()), Decimal(0))
        used_memory = sum((m for _, m in self.assigned.values()), Decimal(0))
        if used_cpu + cpu > parse_quantity(self.capacity["cpu"]):
            return "1 Insufficient cpu"
        if used_memory + memory > parse_quantity(self.capacity["memory"]):
            return "1 Insufficient memory"
        return None

    async def schedule(self, pod: Json) -> None:
        """Bind the pod to this node if it fits; else mark it Unschedulable until room appears."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if uid in self.assigned or uid in self.runs:
            return  # bound already (by a concurrent call: its room is counted once)
        reason = self.unfit_reason(pod)
        if reason is None:
            self.unschedulable.pop(uid, None)
            self.assigned[uid] = pod_requests(pod)
            if not await self._bind(pod):
                self.assigned.pop(uid, None)
            return
        already = self.unschedulable.get(meta["uid"])
        self.unschedulable[meta["uid"]] = (pod, reason)
        if already is not None and already[1] == reason:
            return
        message = f"0/1 nodes are available: {reason}."
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastTransitionTime": rfc3339(now()),
        }
        with contextlib.suppress(ApiError):  # gone meanwhile
            await self.api.call(
                "PATCH",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": {"conditions": [condition]}},
                patch=True,
            )

    async def release(self, uid: str) -> None:
        """A pod finished or went away: its room goes to pods waiting for it."""
        if self.assigned.pop(uid, None) is None:
            return
        for waiting, (pod, _) in list(self.unschedulable.items()):
            # Scheduled, deleted or run meanwhile (another release, while this one awaited):
            # scheduling it again would count its room twice, or for good.
            if waiting in self.unschedulable:
                await self.schedule(pod)

    async def _bind(self, pod: Json) -> bool:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        }
        try:
            await self.api.call(
                "POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", body
            )
        except ApiError as e:
            if e.status == 409:  # already bound
                return True
            if e.status != 404:  # 404: gone meanwhile
                log.warning("bind %s/%s: %s", meta["namespace"], meta["name"], e)
            return False
        return True

    async def finish_deletion(self, run: PodRun) -> None:
        """After the containers stopped: remove the pod object (its finalizers still apply)."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": run.uid},
        }
        with contextlib.suppress(ApiError):
            await self.api.call(
                "DELETE", f"/api/v1/namespaces/{run.namespace}/pods/{run.name}", body
            )

    async def container_env(self, pod: Json, container: Json) -> dict[str, str]:
        """The container's environment, resolved as the kubelet would (envFrom, then env)."""
        env: dict[str, str] = {}
        namespace = pod["metadata"]["namespace"]
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind in ("configMapRef", "secretRef"):
                if ref := source.get(kind):
                    data = await self._object_data(
                        namespace, kind, ref["name"], ref.get("optional")
                    )
                    env.update({prefix + k: v for k, v in data.items()})
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = _expand(var["value"], env)
            elif source := var.get("valueFrom"):
                value = await self._value_from(pod, container, source)
                if value is not None:
                    env[var["name"]] = value
        return env

    async def _object_data(
        self, namespace: str, kind: str, name: str, optional: bool | None
    ) -> dict[str, str]:
        resource = "secrets" if kind.startswith("secret") else "configmaps"
        try:
            obj = await self.api.call("GET", f"/api/v1/namespaces/{namespace}/{resource}/{name}")
        except ApiError as e:
            if e.status != 404:
                raise
            if optional:
                return {}
            raise KeyError(f'{resource[:-1]} "{name}" not found') from e
        data = obj.get("data") or {}
        if resource == "secrets":
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        return dict(data)

    async def _value_from(self, pod: Json, container: Json, source: Json) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for kind in ("secretKeyRef", "configMapKeyRef"):
            if ref := source.get(kind):
                data = await self._object_data(namespace, kind, ref["name"], ref.get("optional"))
                if ref["key"] not in data and not ref.get("optional"):
                    raise KeyError(f"couldn't find key {ref['key']} in {kind} {ref['name']}")
                return data.get(ref["key"])
        if ref := source.get("fieldRef"):
            return _field_value(pod, ref["fieldPath"])
        if ref := source.get("resourceFieldRef"):
            limits = (container.get("resources") or {}).get("limits") or {}
            return str(limits.get(ref["resource"].split(".", 1)[-1], "0"))
        return None


def _field_value(pod: Json, path: str) -> str:
    meta = pod["metadata"]
    if m := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
    }
    return str(simple.get(path, ""))


# -- the kubelet log endpoint ----------------------------------------------------------------------


def _since(query: Any) -> dt.datetime | None:
    if "sinceSeconds" in query:
        return now() - dt.timedelta(seconds=int(query["sinceSeconds"]))
    if "sinceTime" in query:
        return dt.datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
    return None


def make_log_app(kubelet: Kubelet) -> web.Application:
    """`GET /containerLogs/{ns}/{pod}/{container}` with the kubelet's query parameters."""

    async def container_logs(request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("ns", "pod", "container"))
        q = request.query
        run = kubelet.by_name.get((ns, pod))
        container = run.find(name) if run else None
        if run is None or container is None:
            raise web.HTTPNotFound(text=f'container "{name}" in pod "{pod}" not found\n')
        previous = q.get("previous") == "true"
        source = container.previous_log if previous else container.log
        if source is None:
            if previous:
                raise web.HTTPBadRequest(
                    text=f'previous terminated container "{name}" in pod "{pod}" not found\n'
                )
            reason = container.state.get("waiting", {}).get("reason", "ContainerCreating")
            raise web.HTTPBadRequest(
                text=f'container "{name}" in pod "{pod}" is waiting to start: {reason}\n'
            )
        follow = q.get("follow") == "true" and not previous
        timestamps = q.get("timestamps") == "true"
        streams = {"All": ("stdout", "stderr"), "Stdout": ("stdout",), "Stderr": ("stderr",)}
        wanted = streams.get(q.get("stream", "All"), ("stdout", "stderr"))
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
        since = _since(q)

        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        sent = 0

        def render(records: list[LogRecord]) -> bytes:
            out = b""
            for r in records:
                if r.stream in wanted and (since is None or r.at >= since):
                    prefix = (rfc3339nano(r.at) + " ").encode() if timestamps else b""
                    out += prefix + r.text + (b"" if r.partial else b"\n")
            return out

        records, offset = source.read_from(0)
        if "tailLines" in q:
            tail = int(q["tailLines"])
            kept = [r for r in records if r.stream in wanted]
            records = kept[-tail:] if tail > 0 else []
        while True:
            data = render(records)
            if limit is not None:
                data = data[: max(limit - sent, 0)]
            if data:
                await resp.write(data)
                sent += len(data)
            if not follow or (limit is not None and sent >= limit):
                break
            closed = source.closed
            waiter = asyncio.ensure_future(source.changed())
            records, offset = source.read_from(offset)
            if not records:
                if closed:
                    waiter.cancel()
                    break
                await waiter
                records, offset = source.read_from(offset)
            else:
                waiter.cancel()
        await resp.write_eof()
        return resp

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{container}", container_logs)
    app.router.add_get("/healthz", healthz)
    return app


async def main(args: argparse.Namespace) -> None:
    api = Api(Path(args.kubeconfig))
    kubelet = Kubelet(
        api, args.node, Path(args.work_dir), pods=args.pods, cpu=args.cpu, memory=args.memory
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.tls_cert, args.tls_key)
    runner = web.AppRunner(make_log_app(kubelet), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=tls).start()
    await kubelet.register(args.port)
    log.info("node %s ready, logs on https://127.0.0.1:%d", args.node, args.port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sync = asyncio.create_task(kubelet.sync_pods())
    await stop.wait()
    sync.cancel()
    # The node goes away: its processes must not outlive it.
    for run in list(kubelet.runs.values()):
        if run.task and not run.task.done():
            run.task.cancel()
    await asyncio.gather(*(r.task for r in kubelet.runs.values() if r.task), return_exceptions=True)
    await runner.cleanup()
    await api.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pods", type=int, default=110, help="capacity: pods at once")
    parser.add_argument("--cpu", default="8", help="capacity: CPU (a Kubernetes quantity)")
    parser.add_argument("--memory", default="32Gi", help="capacity: memory (a quantity)")
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
