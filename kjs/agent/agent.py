"""One cluster's agent: acts on dispatches, watches what kjs created, reports and collects.

Only the leader (a Lease per cluster) acts; a follower hands messages back to the queue. The
agent connects outbound only: to the queue and to its own Kubernetes API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import msgspec
from prometheus_client import Gauge, Histogram

from kjs.agent import kube
from kjs.agent.logs import LogCollector
from kjs.agent.records import JOBS, PODS, JobRecord, PodRecord
from kjs.agent.resources import Amounts, ResourceWatch
from kjs.agent.status import Observed, identity, observe
from kjs.core import aio, messages, metrics
from kjs.core import manifest as labels
from kjs.core.clock import now
from kjs.core.config import Settings
from kjs.core.protocols import Delivery, Election, Queue

log = logging.getLogger(__name__)
PERMANENT = {400, 401, 403, 404, 409, 422}  # retrying cannot fix these
FINAL = ("succeeded", "failed", "cancelled")
# How many finished jobs (and departed Job uids) the agent remembers: enough to span the
# server's reconcile interval many times over, bounded whatever the cluster's churn.
MEMORY = 10_000
# The report loop's fingerprint of a Job just created (no pods yet): what its dispatch reports.
CREATED = ("created", None, None, repr({}))

# The agent's own (kjs.core.metrics holds the shared ones).
STATUS_PASS = Histogram(
    "kjs_agent_status_pass_seconds",
    "One pass of the report loop: every job (resync) or the jobs that changed (changes)",
    ["cluster", "kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TRACKED = Gauge(
    "kjs_agent_tracked_objects", "kjs-labelled objects in the watch cache", ["cluster", "kind"]
)


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
        # The watch caches: only what the decisions read of each object (kjs.agent.records).
        self.jobs: dict[str, JobRecord] = {}  # Kubernetes Job uid -> Job
        self.pods: dict[str, PodRecord] = {}  # pod uid -> pod
        # Job uid -> its pods' uids (in the order first seen): a Job's pods without a scan of
        # every pod, so a pass over all jobs stays linear.
        self._owned: dict[str, dict[str, None]] = {}
        self.sent: dict[tuple[str, int], tuple[Any, ...]] = {}
        # Attempts the agent deleted itself (a cancel, a replaced attempt; for a CronJob: its
        # runs, which go with it): their Job vanishing is no news.
        self.cancelled: set[tuple[str, int]] = set()
        # Attempts whose Job this agent saw finished -> whether it sent that final state: a Job
        # of these that vanishes (its TTL) was not "deleted before it finished".
        self.finished: OrderedDict[tuple[str, int], bool] = OrderedDict()
        # Jobs that left the cluster, not yet reported: uid -> (its last version, its pods).
        self._gone: dict[str, tuple[JobRecord, list[PodRecord]]] = {}
        self._departed: OrderedDict[str, None] = OrderedDict()  # uids of Jobs that left
        self.synced = False  # the first list of Jobs of this leadership is in the cache
        # Nodes and the pods bound to them, whoever made them (a new one per leadership).
        self.resources = ResourceWatch(self.core, cluster_id, list(settings.agent.namespaces))
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
        await aio.stop_tasks(tasks)
        await self.logs.close()
        await self.queue.close()

    async def _lead(self) -> None:
        """Watch, report and heartbeat while leader; stop at once when leadership is lost."""
        while True:
            await self.election.wait_leader()
            metrics.AGENT_LEADER.labels(cluster=self.cluster_id).set(1)
            self.jobs.clear()
            self.pods.clear()
            self._owned.clear()
            self.sent.clear()
            self._gone.clear()
            self.synced = False
            self.resources = ResourceWatch(
                self.core, self.cluster_id, list(self.settings.agent.namespaces)
            )
            self._leader_tasks = [
                asyncio.create_task(self._watch("jobs"), name="watch jobs"),
                asyncio.create_task(self._watch("pods"), name="watch pods"),
                *self.resources.tasks(),
                asyncio.create_task(self._report(), name="report"),
                asyncio.create_task(self._heartbeat(), name="heartbeat"),
            ]
            await self.election.wait_lost()
            self.synced = False
            metrics.AGENT_LEADER.labels(cluster=self.cluster_id).set(0)
            for task in self._leader_tasks:
                task.cancel()
            log.warning("no longer leader of %s: stopped watching", self.cluster_id)

    # -- server -> agent -------------------------------------------------------------------------

    async def on_message(self, delivery: Delivery) -> bool:
        if not self.election.is_leader:
            return False  # back to the queue, for the leader
        try:
            message = messages.decode(delivery.body)
        except (msgspec.DecodeError, messages.UnsupportedVersion) as e:
            # A newer server's message (or garbage): retrying cannot make this agent read it.
            log.error("dropping a message this agent cannot read: %s", e)
            return True
        if isinstance(message, messages.Dispatch):
            return await self._dispatch(message)
        if isinstance(message, messages.Control):
            return await self._control(message)
        if isinstance(message, messages.Reconcile):
            return await self._reconcile(message)
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
        received = time.monotonic()
        meta = d.manifest["metadata"]
        namespace = meta["namespace"]
        cronjob = d.kind == "cronjob"
        if (d.job_id, d.attempt) in self.cancelled:
            # Fenced before it arrived: creating it now would run it twice.
            metrics.AGENT_DISPATCHES_DROPPED.labels(cluster=self.cluster_id, reason="fenced").inc()
            return True
        try:
            if d.replaces:
                self.cancelled.add((d.job_id, d.attempt - 1))  # the attempt it replaces
                await self._delete(namespace, d.replaces, cronjob=cronjob)
            if self.settings.agent.create_namespaces:
                await self._ensure_namespace(namespace)
            if d.expires_at is not None and now() > d.expires_at:
                # A stale copy (it waited in the broker): the server re-publishes the dispatch
                # while it is still ours, and moves it elsewhere only after this moment.
                log.info("dispatch of %s attempt %s expired: dropped", d.job_id, d.attempt)
                metrics.AGENT_DISPATCHES_DROPPED.labels(
                    cluster=self.cluster_id, reason="expired"
                ).inc()
                return True
            kind = "cronjobs" if cronjob else "jobs"
            path = f"/apis/batch/v1/namespaces/{quote(namespace, safe='')}/{kind}"
            if not cronjob:
                # What the report loop would send for the new Job is sent below: not twice
                # (its watch may show the Job before the create answers).
                self.sent[(d.job_id, d.attempt)] = CREATED
            await kube.create(self.api, path, d.manifest)
            latency = time.monotonic() - received
            metrics.AGENT_CREATE_LATENCY.labels(cluster=self.cluster_id).observe(latency)
        except Exception as e:
            if self.sent.get((d.job_id, d.attempt)) == CREATED:
                del self.sent[(d.job_id, d.attempt)]  # it is not as the report loop would see it
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
        # As the report loop would send it for the new Job (which it now leaves unsent).
        cron_id = None if cronjob else (meta.get("labels") or {}).get(labels.CRON_ID)
        await self._publish_status(
            d.job_id,
            d.attempt,
            "created",
            k8s_name=meta["name"],
            namespace=namespace,
            cron_id=cron_id,
        )
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
                # For a CronJob, (cron id, attempt) also names its runs: they go with it.
                self.cancelled.add((c.job_id, c.attempt))
                await self._delete(c.namespace, c.k8s_name, cronjob=cronjob)
                # For a CronJob this confirms its deletion (a delete may wait for it).
                await self._publish_status(
                    c.job_id, c.attempt, "cancelled", reason="Cancelled", k8s_name=c.k8s_name
                )
            elif c.action == "stream_logs" and not cronjob:
                self._stream_logs(c)
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

    def _stream_logs(self, c: messages.Control) -> None:
        """Someone follows this attempt: stream its running containers now (the report loop
        starts them, for its Job now or once it exists) and keep its log whole at the end."""
        self.logs.request(c.job_id, c.attempt)
        for uid, job in self.jobs.items():
            ident = identity(job)
            if ident is not None and ident[:2] == (c.job_id, c.attempt):
                self._changed.add(uid)
        self._wake.set()

    async def _reconcile(self, r: messages.Reconcile) -> bool:
        """The server lists the jobs it believes active here: report each again, and those
        whose Job is gone (deleted while no agent watched) as finished."""
        if not self.synced:
            return False  # the cache cannot answer yet: back to the queue
        cached: dict[tuple[str, int], str] = {}
        for job_uid, job in self.jobs.items():
            ident = identity(job)
            if ident is not None:
                cached[ident[:2]] = job_uid
        leaving = {ident[:2] for job, _ in self._gone.values() if (ident := identity(job))}
        try:
            for ref in r.jobs:
                key = (ref.job_id, ref.attempt)
                if key in leaving:
                    continue  # the report loop is deciding about it
                uid = cached.get(key) or await self._look_up(ref, key)
                if uid is not None:
                    self.sent.pop(key, None)  # report it again (a `lost` job is back)
                    self._changed.add(uid)
        except Exception as e:
            status, reason, text = kube.api_error(e)
            metrics.AGENT_API_ERRORS.labels(cluster=self.cluster_id, status=str(status)).inc()
            log.warning("reconcile will be retried: %s %s", reason, text)
            return False
        finally:
            self._wake.set()
        return True

    async def _look_up(self, ref: messages.JobRef, key: tuple[str, int]) -> str | None:
        """A job the cache does not have: its Job's uid if it exists (now cached), else None,
        once what became of it is reported."""
        job = await self._read_job(ref.namespace, ref.k8s_name)
        ident = identity(job) if job is not None else None
        if job is not None and ident is not None and ident[:2] == key:
            uid = job.metadata.uid or ""
            if uid not in self._departed:  # a version read just before it was deleted
                self.jobs.setdefault(uid, job)  # the watch has it (or will) as fresh or fresher
            return uid
        if ref.state == "cancelling" or key in self.cancelled:
            await self._publish_status(
                ref.job_id, ref.attempt, "cancelled", reason="Cancelled", k8s_name=ref.k8s_name
            )
        elif key not in self.finished:
            await self._publish_status(
                ref.job_id,
                ref.attempt,
                "failed",
                reason="JobDeleted",
                message=(
                    f"the Kubernetes Job {ref.namespace}/{ref.k8s_name} is not on cluster "
                    f"{self.cluster_id}: deleted outside kjs (its TTL or a user) while no agent "
                    "watched; it was not seen finishing"
                ),
                k8s_name=ref.k8s_name,
            )
            log.warning("Job %s/%s is gone: deleted outside kjs", ref.namespace, ref.k8s_name)
        return None

    async def _read_job(self, namespace: str, name: str) -> JobRecord | None:
        """The Job, or None if there is none of that name."""
        response = await self.batch.read_namespaced_job_without_preload_content(name, namespace)
        try:
            if response.status == 404:
                return None
            body = await response.read()
            if response.status >= 400:
                raise kube.RefusedError(f"{response.status} {response.reason}: {body[:200]!r}")
            return JOBS.record.decode(body)
        finally:
            response.release()

    # -- cluster -> server -----------------------------------------------------------------------

    def _namespaces(self) -> list[str | None]:
        return list(self.settings.agent.namespaces) or [None]

    async def _watch(self, kind: str) -> None:
        """List, then watch from the resourceVersion; list again on 410 or a dropped stream."""
        cache: dict[str, Any] = self.jobs if kind == "jobs" else self.pods
        decoder: Any = JOBS if kind == "jobs" else PODS
        # Made now, not at the first restart: a graph of restarts reads 0, not "no data".
        restarts = metrics.AGENT_WATCH_RESTARTS.labels(cluster=self.cluster_id, kind=kind)
        while True:
            try:
                versions = {}
                fresh: dict[str, JobRecord | PodRecord] = {}
                for namespace in self._namespaces():
                    call = self._list_call(kind, namespace)
                    items, versions[namespace] = await kube.list_objects(
                        call, decoder, label_selector=kube.MANAGED
                    )
                    fresh.update({o.metadata.uid: o for o in items})
                    del items
                for uid in set(cache) - set(fresh):
                    self._left(kind, self._forget(kind, uid))
                for obj in fresh.values():
                    self._keep(kind, obj)
                del fresh
                if kind == "jobs":
                    self.synced = True
                await asyncio.gather(
                    *(self._follow(kind, ns, rv, decoder) for ns, rv in versions.items())
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                restarts.inc()
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

    async def _follow(self, kind: str, namespace: str | None, version: str, decoder: Any) -> None:
        while True:
            async for kind_of_event, obj in kube.watch_objects(
                self._list_call(kind, namespace), decoder, version, label_selector=kube.MANAGED
            ):
                if isinstance(obj, dict):  # ERROR, e.g. 410: list again
                    raise RuntimeError(f"watch {kind}: {obj.get('message')}")
                version = obj.metadata.resource_version or version
                if kind_of_event == "BOOKMARK":
                    continue
                if kind_of_event == "DELETED":
                    self._forget(kind, obj.metadata.uid or "")
                    self._left(kind, obj)  # its last version: fresher than the cached one
                else:
                    self._keep(kind, obj)

    def _keep(self, kind: str, obj: JobRecord | PodRecord) -> None:
        """An object listed, added or modified: cache it."""
        uid = obj.metadata.uid or ""
        if isinstance(obj, JobRecord):
            self.jobs[uid] = obj
            self._seen(obj)
        else:
            old = self.pods.get(uid)
            self.pods[uid] = obj
            owners, before = _owners(obj), _owners(old) if old is not None else ()
            for owner in before:
                if owner not in owners:
                    self._disown(owner, uid)
            for owner in owners:
                self._owned.setdefault(owner, {})[uid] = None
        self._note(kind, obj)

    def _forget(self, kind: str, uid: str) -> Any:
        """Drop an object from its cache; the cached version, or None."""
        if kind == "jobs":
            return self.jobs.pop(uid, None)
        pod = self.pods.pop(uid, None)
        for owner in _owners(pod) if pod is not None else ():
            self._disown(owner, uid)
        return pod

    def _disown(self, owner: str, pod_uid: str) -> None:
        pods = self._owned.get(owner)
        if pods is not None:
            pods.pop(pod_uid, None)
            if not pods:
                del self._owned[owner]

    def _left(self, kind: str, obj: JobRecord | PodRecord) -> None:
        """An object deleted (a watch event, or missing from a new list)."""
        if isinstance(obj, JobRecord):
            uid = obj.metadata.uid or ""
            self._seen(obj)
            # Its pods now, before the garbage collector deletes them too.
            self._gone[uid] = (obj, self.pods_of(uid))
            self._departed[uid] = None
            while len(self._departed) > MEMORY:
                self._departed.popitem(last=False)
        self._note(kind, obj)

    def _seen(self, job: JobRecord) -> None:
        """Remember a Job seen finished (at once: a reconcile may ask about it next)."""
        seen = observe(job, [])  # final states come from the Job's conditions alone
        if seen is not None and seen.state in FINAL:
            self._finished((seen.job_id, seen.attempt), sent=False)

    def _finished(self, key: tuple[str, int], *, sent: bool) -> None:
        self.finished[key] = sent or self.finished.get(key, False)
        self.finished.move_to_end(key)
        while len(self.finished) > MEMORY:
            self.finished.popitem(last=False)

    def _note(self, kind: str, obj: JobRecord | PodRecord) -> None:
        """Remember which Kubernetes Job changed (a pod change is its Job's change)."""
        if isinstance(obj, JobRecord):
            self._changed.add(obj.metadata.uid or "")
        else:
            owner = next(
                (o.uid for o in obj.metadata.owner_references or () if o.kind == "Job"), None
            )
            if owner:
                self._changed.add(owner)
        self._wake.set()

    def pods_of(self, job_uid: str) -> list[PodRecord]:
        pods = [self.pods[uid] for uid in self._owned.get(job_uid, ())]
        return sorted(pods, key=lambda p: p.metadata.creation_timestamp or "")

    async def _report(self) -> None:
        """Send what changed; every `resync_s`, send everything again (level-triggered)."""
        last_resync = asyncio.get_running_loop().time()
        while True:
            await aio.wait_event(self._wake, 1.0)
            self._wake.clear()
            resync = asyncio.get_running_loop().time() - last_resync > self.settings.agent.resync_s
            if resync:
                self._changed.update(self.jobs)
                self.sent.clear()
                last_resync = asyncio.get_running_loop().time()
            changed, self._changed = self._changed, set()
            started = asyncio.get_running_loop().time()
            for uid in changed:
                job = self.jobs.get(uid)
                gone = self._gone.pop(uid, None) if job is None else None
                try:
                    if job is not None:
                        await self._report_job(job)
                    elif gone is not None:
                        await self._report_gone(*gone)
                except Exception as e:
                    log.warning("reporting %s failed, will retry: %s", uid, e)
                    if gone is not None:
                        self._gone.setdefault(uid, gone)
                    self._changed.add(uid)
            if changed:
                STATUS_PASS.labels(
                    cluster=self.cluster_id, kind="resync" if resync else "changes"
                ).observe(asyncio.get_running_loop().time() - started)
            TRACKED.labels(cluster=self.cluster_id, kind="jobs").set(len(self.jobs))
            TRACKED.labels(cluster=self.cluster_id, kind="pods").set(len(self.pods))
            TRACKED.labels(cluster=self.cluster_id, kind="bound_pods").set(
                self.resources.book.pod_count
            )

    async def _report_gone(self, job: JobRecord, pods: list[PodRecord]) -> None:
        """A Job left the cluster: news only if kjs did not delete it and it had not finished."""
        seen = observe(job, pods)
        if seen is None:
            return
        key = (seen.job_id, seen.attempt)
        if key in self.cancelled:
            return  # deleted by this agent: its cancel was reported
        if seen.cron_id is not None and (seen.cron_id, seen.attempt) in self.cancelled:
            if seen.state not in FINAL:  # a run, deleted with the CronJob this agent deleted
                await self._publish_status(
                    seen.job_id,
                    seen.attempt,
                    "cancelled",
                    reason="Cancelled",
                    message="its CronJob was deleted",
                    cron_id=seen.cron_id,
                    k8s_name=seen.k8s_name,
                )
            return
        if seen.state in FINAL:
            if not self.finished.get(key):
                await self._report_job(job, pods)  # the truth, unless it was sent already
            return
        if key in self.finished:
            return
        meta = job.metadata
        last = (self.sent.get(key) or (seen.state,))[0]
        await self._publish_status(
            seen.job_id,
            seen.attempt,
            "failed",
            reason="JobDeleted",
            message=(
                f"the Kubernetes Job {meta.namespace}/{meta.name} was deleted outside kjs "
                f"before it was seen finishing (last seen: {last})"
            ),
            pod=seen.pod,
            exit_codes=seen.exit_codes,
            cron_id=seen.cron_id,
            k8s_name=seen.k8s_name,
        )
        log.warning("Job %s/%s deleted outside kjs", meta.namespace, meta.name)

    async def _report_job(self, job: JobRecord, pods: list[PodRecord] | None = None) -> None:
        if pods is None:
            pods = self.pods_of(job.metadata.uid or "")
        seen = observe(job, pods)
        if seen is None or (seen.job_id, seen.attempt) in self.cancelled:
            return
        namespace = job.metadata.namespace or ""
        if self._streams(job, seen) and seen.state not in FINAL:
            for pod in pods:  # stream running containers, so users can follow them live
                for container in (pod.status and pod.status.container_statuses) or ():
                    if container.state is not None and container.state.running is not None:
                        self.logs.follow(
                            seen.job_id,
                            seen.attempt,
                            namespace,
                            pod.metadata.name or "",
                            container.name,
                        )
        key = (seen.job_id, seen.attempt)
        fingerprint = (seen.state, seen.reason, seen.message, repr(seen.exit_codes))
        if self.sent.get(key) == fingerprint:
            return
        last_seq: dict[str, int] = {}
        sizes: dict[str, int] = {}
        if seen.state in FINAL and self._collects(job, seen):
            last_seq, sizes = await self.logs.collect(seen, namespace, pods)
        await self._send(seen, last_seq, sizes, namespace)
        self.sent[key] = fingerprint
        if seen.state in FINAL:
            self._finished(key, sent=True)

    @staticmethod
    def _policy(job: JobRecord) -> str:
        return (job.metadata.annotations or {}).get(labels.LOG_COLLECT, "on_failure")

    def _streams(self, job: JobRecord, seen: Observed) -> bool:
        """Whether its running containers' logs are sent as they come: `always`, or followed."""
        policy = self._policy(job)
        followed = policy != "never" and self.logs.is_requested(seen.job_id, seen.attempt)
        return policy == "always" or followed

    def _collects(self, job: JobRecord, seen: Observed) -> bool:
        policy = self._policy(job)
        # A followed attempt is kept whole, so that its follow ends complete (the final state
        # waits for the last chunks) and no half log stays behind.
        return self._streams(job, seen) or (policy == "on_failure" and seen.state == "failed")

    async def _send(
        self,
        seen: Observed,
        last_seq: dict[str, int],
        sizes: dict[str, int],
        namespace: str | None = None,
    ) -> None:
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
            namespace=namespace,
            last_log_seq=last_seq,
            log_bytes=sizes,
        )

    async def _heartbeat(self) -> None:
        # The first heartbeat of a leadership waits (a little) for the nodes: without them its
        # capacity would read 0, "takes no work", for a heartbeat.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.resources.nodes_synced.wait(), self.settings.agent.heartbeat_s
            )
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
            1
            for j in self.jobs.values()
            if identity(j) and j.status is not None and j.status.active
        )
        pending = sum(
            1 for p in self.pods.values() if p.status is not None and p.status.phase == "Pending"
        )
        at = now()
        return messages.Heartbeat(
            cluster_id=self.cluster_id,
            at=at,
            labels=dict(self.settings.agent.labels),
            version=await self._version(),
            capacity=self._capacity(),
            running=running,
            pending=pending,
            **self._resources(at),
        )

    def _resources(self, at: dt.datetime) -> dict[str, Any]:
        """The heartbeat's resource fields: none until both watches have listed once."""
        age = self.resources.age_s()
        figures = self.resources.figures()
        if age is None or figures is None:
            return {}
        return {
            "allocatable": _amounts(figures.allocatable),
            "free": _amounts(figures.free),
            "largest_free_node": _amounts(figures.largest_free_node),
            "resources_at": at - dt.timedelta(seconds=age),
            "resources_partial": self.resources.partial,
        }

    async def _version(self) -> str | None:
        from kubernetes.aio import client

        with contextlib.suppress(Exception):
            info = await client.VersionApi(self.api).get_code()
            return str(info.git_version)
        return None

    def _capacity(self) -> int:
        """`max_concurrent_jobs`, else the pods the ready, schedulable nodes can hold (0 while
        the nodes are unknown, e.g. not allowed to read them: take no work)."""
        if self.settings.agent.max_concurrent_jobs > 0:
            return self.settings.agent.max_concurrent_jobs
        if not self.resources.nodes_synced.is_set():
            return 0
        return self.resources.book.figures().allocatable.pods


def _amounts(amounts: Amounts) -> messages.ResourceAmounts:
    return messages.ResourceAmounts(
        cpu_millis=amounts.cpu_millis, memory_bytes=amounts.memory_bytes, pods=amounts.pods
    )


def _owners(pod: PodRecord) -> tuple[str, ...]:
    """The uids `pods_of` finds the pod by: every owner's, whatever its kind."""
    return tuple(o.uid for o in pod.metadata.owner_references or () if o.uid)
