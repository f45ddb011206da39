"""One cluster's agent: acts on dispatches, watches what kjs created, reports and collects.

Only the leader (a Lease per cluster) acts; a follower hands messages back to the queue. The
agent connects outbound only: to the queue and to its own Kubernetes API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from typing import Any

from kjs.agent import kube
from kjs.agent.logs import LogCollector
from kjs.agent.status import Observed, identity, observe
from kjs.core import manifest as labels
from kjs.core import messages, metrics
from kjs.core.config import Settings
from kjs.core.protocols import Delivery, Election, Queue

log = logging.getLogger(__name__)
PERMANENT = {400, 401, 403, 404, 409, 422}  # retrying cannot fix these
FINAL = ("succeeded", "failed", "cancelled")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _plain(body: dict[str, Any]) -> Any:
    """A request body as a plain dict: the client accepts them, its type hints do not say so."""
    return body


class Agent:
    def __init__(
        self, settings: Settings, cluster_id: str, api: Any, queue: Queue, election: Election
    ) -> None:
        from kubernetes.aio import client

        self.settings = settings
        self.cluster_id = cluster_id
        self.api = api
        self.queue = queue
        self.election = election
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.logs = LogCollector(
            self.core, cluster_id, queue, cap_bytes=settings.logs.cap_bytes_per_container
        )
        self.jobs: dict[str, dict[str, Any]] = {}  # Kubernetes Job uid -> Job
        self.pods: dict[str, dict[str, Any]] = {}  # pod uid -> pod
        self.sent: dict[tuple[str, int], tuple[Any, ...]] = {}
        self.cancelled: set[tuple[str, int]] = set()
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed: set[str] = set()
        self._wake = asyncio.Event()

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.election.start()
        await self.queue.start()
        for topic in (
            messages.dispatch_topic(self.cluster_id),
            messages.control_topic(self.cluster_id),
        ):
            await self.queue.subscribe(topic, messages.AGENT_CHANNEL, self.on_message)
        self._tasks.append(asyncio.create_task(self._lead(), name="agent leader work"))

    async def stop(self) -> None:
        tasks = self._tasks + self._leader_tasks
        for task in tasks:
            task.cancel()  # they stop at their next await: nothing acts for this agent any more
        # Let a standby take over at once, then wait for the tasks and close the rest.
        await self.election.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.logs.close()
        await self.queue.close()

    async def _lead(self) -> None:
        """Watch, report and heartbeat while leader; stop at once when leadership is lost."""
        while True:
            await self.election.wait_leader()
            metrics.AGENT_LEADER.labels(cluster=self.cluster_id).set(1)
            self.jobs.clear()
            self.pods.clear()
            self.sent.clear()
            self._leader_tasks = [
                asyncio.create_task(self._watch("jobs"), name="watch jobs"),
                asyncio.create_task(self._watch("pods"), name="watch pods"),
                asyncio.create_task(self._report(), name="report"),
                asyncio.create_task(self._heartbeat(), name="heartbeat"),
            ]
            await self.election.wait_lost()
            metrics.AGENT_LEADER.labels(cluster=self.cluster_id).set(0)
            for task in self._leader_tasks:
                task.cancel()
            log.warning("no longer leader of %s: stopped watching", self.cluster_id)

    # -- server -> agent -------------------------------------------------------------------------

    async def on_message(self, delivery: Delivery) -> bool:
        if not self.election.is_leader:
            return False  # back to the queue, for the leader
        message = messages.decode(delivery.body)
        if isinstance(message, messages.Dispatch):
            return await self._dispatch(message)
        if isinstance(message, messages.Control):
            return await self._control(message)
        return True

    async def _publish_status(
        self,
        job_id: str,
        attempt: int,
        state: str,
        *,
        reason: str | None = None,
        message: str | None = None,
        **fields: Any,
    ) -> None:
        event = messages.StatusEvent(
            cluster_id=self.cluster_id,
            job_id=job_id,
            attempt=attempt,
            state=state,
            at=now(),
            reason=reason,
            message=message,
            **fields,
        )
        await self.queue.publish(messages.STATUS_TOPIC, messages.encode(event))
        metrics.AGENT_STATUS_SENT.labels(cluster=self.cluster_id, state=state).inc()

    async def _dispatch(self, d: messages.Dispatch) -> bool:
        meta = d.manifest["metadata"]
        namespace = meta["namespace"]
        cronjob = d.kind == "cronjob"
        if (d.job_id, d.attempt) in self.cancelled:
            # Fenced before it arrived: creating it now would run it twice.
            metrics.AGENT_DISPATCHES_DROPPED.labels(cluster=self.cluster_id, reason="fenced").inc()
            return True
        try:
            if d.replaces:
                await self._delete(namespace, d.replaces, cronjob=cronjob)
            if self.settings.agent.create_namespaces:
                await self._ensure_namespace(namespace)
            if d.expires_at is not None and dt.datetime.now(dt.UTC) > d.expires_at:
                # A stale copy (it waited in the broker): the server re-publishes the dispatch
                # while it is still ours, and moves it elsewhere only after this moment.
                log.info("dispatch of %s attempt %s expired: dropped", d.job_id, d.attempt)
                metrics.AGENT_DISPATCHES_DROPPED.labels(
                    cluster=self.cluster_id, reason="expired"
                ).inc()
                return True
            if cronjob:
                await self.batch.create_namespaced_cron_job(namespace, _plain(d.manifest))
            else:
                await self.batch.create_namespaced_job(namespace, _plain(d.manifest))
        except Exception as e:
            status, reason, text = kube.api_error(e)
            metrics.AGENT_API_ERRORS.labels(cluster=self.cluster_id, status=str(status)).inc()
            if status == 409 and reason == "AlreadyExists":
                pass  # a retried dispatch finds its own object: done already
            elif status in PERMANENT:
                log.warning("dispatch of %s failed for good: %s %s", d.job_id, reason, text)
                await self._publish_status(
                    d.job_id, d.attempt, "failed", reason=reason, message=text
                )
                return True
            else:
                log.warning("dispatch of %s will be retried: %s %s", d.job_id, reason, text)
                return False
        metrics.AGENT_JOBS_CREATED.labels(cluster=self.cluster_id, kind=d.kind).inc()
        await self._publish_status(d.job_id, d.attempt, "created", k8s_name=meta["name"])
        return True

    async def _ensure_namespace(self, namespace: str) -> None:
        try:
            await self.core.create_namespace(_plain({"metadata": {"name": namespace}}))
        except Exception as e:
            if kube.api_error(e)[0] != 409:
                raise

    async def _delete(self, namespace: str, name: str, *, cronjob: bool = False) -> None:
        try:
            if cronjob:
                await self.batch.delete_namespaced_cron_job(
                    name, namespace, propagation_policy="Background"
                )
            else:
                await self.batch.delete_namespaced_job(
                    name, namespace, propagation_policy="Background"
                )
        except Exception as e:
            if kube.api_error(e)[0] != 404:
                raise

    async def _control(self, c: messages.Control) -> bool:
        cronjob = c.kind == "cronjob"
        try:
            if c.action == "cancel":
                self.cancelled.add((c.job_id, c.attempt))
                await self._delete(c.namespace, c.k8s_name, cronjob=cronjob)
                # For a CronJob this confirms its deletion (a delete may wait for it).
                await self._publish_status(
                    c.job_id, c.attempt, "cancelled", reason="Cancelled", k8s_name=c.k8s_name
                )
            elif c.action in ("suspend", "resume") and cronjob:
                await self.batch.patch_namespaced_cron_job(
                    c.k8s_name, c.namespace, {"spec": {"suspend": c.action == "suspend"}}
                )
        except Exception as e:
            status, reason, text = kube.api_error(e)
            if status in PERMANENT:
                log.warning("%s of %s refused: %s %s", c.action, c.job_id, reason, text)
                return True
            return False
        return True

    # -- cluster -> server -----------------------------------------------------------------------

    def _namespaces(self) -> list[str | None]:
        return list(self.settings.agent.namespaces) or [None]

    async def _watch(self, kind: str) -> None:
        """List, then watch from the resourceVersion; list again on 410 or a dropped stream."""
        cache = self.jobs if kind == "jobs" else self.pods
        while True:
            try:
                versions = {}
                fresh: dict[str, dict[str, Any]] = {}
                for namespace in self._namespaces():
                    call = self._list_call(kind, namespace)
                    items, versions[namespace] = await kube.list_objects(
                        call, label_selector=kube.MANAGED
                    )
                    fresh.update({o["metadata"]["uid"]: o for o in items})
                for uid in set(cache) - set(fresh):
                    self._note(kind, cache.pop(uid))
                for obj in fresh.values():
                    cache[obj["metadata"]["uid"]] = obj
                    self._note(kind, obj)
                await asyncio.gather(
                    *(self._follow(kind, ns, rv, cache) for ns, rv in versions.items())
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                metrics.AGENT_WATCH_RESTARTS.labels(cluster=self.cluster_id, kind=kind).inc()
                # Refusals (RBAC, a missing namespace) need an operator; the rest heal alone.
                level = logging.WARNING if isinstance(e, kube.RefusedError) else logging.INFO
                log.log(level, "%s watch restarts: %s", kind, e)
                await asyncio.sleep(1.0)

    def _list_call(self, kind: str, namespace: str | None) -> Any:
        from functools import partial

        if kind == "jobs":
            if namespace is None:
                return self.batch.list_job_for_all_namespaces_without_preload_content
            return partial(self.batch.list_namespaced_job_without_preload_content, namespace)
        if namespace is None:
            return self.core.list_pod_for_all_namespaces_without_preload_content
        return partial(self.core.list_namespaced_pod_without_preload_content, namespace)

    async def _follow(
        self, kind: str, namespace: str | None, version: str, cache: dict[str, dict[str, Any]]
    ) -> None:
        while True:
            async for event in kube.watch_objects(
                self._list_call(kind, namespace), version, label_selector=kube.MANAGED
            ):
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch {kind}: {obj.get('message')}")  # e.g. 410: relist
                version = obj["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":
                    continue
                uid = obj["metadata"]["uid"]
                if event["type"] == "DELETED":
                    cache.pop(uid, None)
                else:
                    cache[uid] = obj
                self._note(kind, obj)

    def _note(self, kind: str, obj: dict[str, Any]) -> None:
        """Remember which Kubernetes Job changed (a pod change is its Job's change)."""
        if kind == "jobs":
            self._changed.add(obj["metadata"]["uid"])
        else:
            owner = next(
                (
                    o["uid"]
                    for o in obj["metadata"].get("ownerReferences") or []
                    if o.get("kind") == "Job"
                ),
                None,
            )
            if owner:
                self._changed.add(owner)
        self._wake.set()

    def pods_of(self, job_uid: str) -> list[dict[str, Any]]:
        pods = [
            p
            for p in self.pods.values()
            if any(o.get("uid") == job_uid for o in p["metadata"].get("ownerReferences") or [])
        ]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    async def _report(self) -> None:
        """Send what changed; every `resync_s`, send everything again (level-triggered)."""
        last_resync = asyncio.get_running_loop().time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            resync = asyncio.get_running_loop().time() - last_resync > self.settings.agent.resync_s
            if resync:
                self._changed.update(self.jobs)
                self.sent.clear()
                last_resync = asyncio.get_running_loop().time()
            changed, self._changed = self._changed, set()
            for uid in changed:
                job = self.jobs.get(uid)
                if job is not None:
                    try:
                        await self._report_job(job)
                    except Exception as e:
                        log.warning("reporting %s failed, will retry: %s", uid, e)
                        self._changed.add(uid)

    async def _report_job(self, job: dict[str, Any]) -> None:
        pods = self.pods_of(job["metadata"]["uid"])
        seen = observe(job, pods)
        if seen is None or (seen.job_id, seen.attempt) in self.cancelled:
            return
        namespace = job["metadata"]["namespace"]
        if self._policy(job) == "always" and seen.state not in FINAL:
            for pod in pods:  # stream running containers, so users can follow them live
                for container in (pod.get("status") or {}).get("containerStatuses") or []:
                    if "running" in (container.get("state") or {}):
                        self.logs.follow(
                            seen.job_id,
                            seen.attempt,
                            namespace,
                            pod["metadata"]["name"],
                            container["name"],
                        )
        key = (seen.job_id, seen.attempt)
        fingerprint = (seen.state, seen.reason, seen.message, repr(seen.exit_codes))
        if self.sent.get(key) == fingerprint:
            return
        last_seq: dict[str, int] = {}
        sizes: dict[str, int] = {}
        if seen.state in FINAL and self._collects(job, seen):
            last_seq, sizes = await self.logs.collect(seen, namespace, pods)
        await self._send(seen, last_seq, sizes)
        self.sent[key] = fingerprint

    @staticmethod
    def _policy(job: dict[str, Any]) -> str:
        return str((job["metadata"].get("annotations") or {}).get(labels.LOG_COLLECT, "on_failure"))

    def _collects(self, job: dict[str, Any], seen: Observed) -> bool:
        policy = self._policy(job)
        return policy == "always" or (policy == "on_failure" and seen.state == "failed")

    async def _send(self, seen: Observed, last_seq: dict[str, int], sizes: dict[str, int]) -> None:
        await self._publish_status(
            seen.job_id,
            seen.attempt,
            seen.state,
            reason=seen.reason,
            message=seen.message,
            pod=seen.pod,
            exit_codes=seen.exit_codes,
            cron_id=seen.cron_id,
            k8s_name=seen.k8s_name,
            last_log_seq=last_seq,
            log_bytes=sizes,
        )

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.queue.publish(
                    messages.HEARTBEAT_TOPIC, messages.encode(await self._load())
                )
            except Exception as e:
                log.warning("heartbeat not sent: %s", e)
            await asyncio.sleep(self.settings.agent.heartbeat_s)

    async def _load(self) -> messages.Heartbeat:
        running = sum(
            1 for j in self.jobs.values() if identity(j) and (j.get("status") or {}).get("active")
        )
        pending = sum(
            1 for p in self.pods.values() if (p.get("status") or {}).get("phase") == "Pending"
        )
        return messages.Heartbeat(
            cluster_id=self.cluster_id,
            at=now(),
            labels=dict(self.settings.agent.labels),
            version=await self._version(),
            capacity=await self._capacity(),
            running=running,
            pending=pending,
        )

    async def _version(self) -> str | None:
        from kubernetes.aio import client

        with contextlib.suppress(Exception):
            info = await client.VersionApi(self.api).get_code()
            return str(info.git_version)
        return None

    async def _capacity(self) -> int:
        """`max_concurrent_jobs`, else the pods the ready, schedulable nodes can hold."""
        if self.settings.agent.max_concurrent_jobs > 0:
            return self.settings.agent.max_concurrent_jobs
        try:
            nodes = json.loads(await (await self.core.list_node_without_preload_content()).read())
        except Exception:
            return 0  # not allowed to read nodes, and no max_concurrent_jobs: take no work
        total = 0
        for node in nodes.get("items") or []:
            ready = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
            if ready and not (node.get("spec") or {}).get("unschedulable"):
                total += int((node["status"].get("allocatable") or {}).get("pods", 0))
        return total
