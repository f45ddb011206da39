"""One placement pass's view of where there is room (kjs.scheduler.placement): the clusters with
their load and free figures, what each queue and namespace holds against its limits, and the
reason a job, or a whole placement key, has to wait. Every job placed in the pass is added to it
(`take`), so the next job sees it. No I/O: placement reads everything once, then asks this."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping

import msgspec

from kjs.core import shares
from kjs.core.messages import ResourceAmounts
from kjs.core.queues import ClusterLimits, Held, QueueDefinition, limit_reached
from kjs.core.records import ClusterRecord, JobRecord, QueueUsage
from kjs.core.requests import Requests, cpu_text, memory_text, pod_requests
from kjs.core.routing import Group, Route, allows

Why = tuple[str, str]  # (reason, message)


def _route(job: JobRecord) -> Route:
    return Route(c=job.spec.cluster, s=dict(job.spec.cluster_selector))


def describe(route: Route) -> str:
    """A route as a person reads it: `named c1`, `named one of c1, c2`, `with labels gpu=true`."""
    parts = []
    if isinstance(route.c, str):
        parts.append(f"named {route.c}")
    elif route.c:
        parts.append(f"named one of {', '.join(route.c)}")
    if route.s:
        parts.append("with labels " + ", ".join(f"{k}={v}" for k, v in sorted(route.s.items())))
    return " ".join(parts) or "at all"


def has_limit(limits: ClusterLimits) -> bool:
    """Whether any of `max_running`, `max_cpu`, `max_memory` is set."""
    return any(v is not None for v in (limits.max_running, limits.max_cpu, limits.max_memory))


@dataclasses.dataclass
class PassView:
    known: list[ClusterRecord]
    states: dict[str, str]  # cluster id: ready, cordoned, unreachable
    ready: list[ClusterRecord]  # with their load (running, pending) from the store
    in_flight: dict[str, int]
    definitions: Mapping[str, QueueDefinition]
    namespace_limits: Mapping[str, ClusterLimits]
    usage: Iterable[QueueUsage]
    namespace_usage: Mapping[str, tuple[int, int, int]]
    # Per cluster with figures: (jobs, CPU, memory) dispatched there that its report may not
    # count yet (`Store.started_since`).
    unreported: Mapping[str, tuple[int, int, int]]
    defaults: Requests

    def __post_init__(self) -> None:
        # The queues with a limit to check, in total and per cluster (most have none: a job of
        # theirs costs no check).
        self.limited = {n for n, d in self.definitions.items() if has_limit(d.limits)}
        self.per_cluster_limited = {
            n for n, d in self.definitions.items() if has_limit(d.limits.per_cluster)
        }
        self.queue_held: dict[str, Held] = {}
        self.queue_cluster_held: dict[tuple[str, str], Held] = {}
        for u in self.usage:
            self._held(u.queue).add(u.jobs, u.cpu_millis, u.memory_bytes)
            if u.cluster_id is not None:
                self._held(u.queue, u.cluster_id).add(u.jobs, u.cpu_millis, u.memory_bytes)
        self.namespace_held = {
            ns: Held(jobs=n, cpu_millis=cpu, memory_bytes=mem)
            for ns, (n, cpu, mem) in self.namespace_usage.items()
        }
        # Free figures less what was dispatched since they were reported (or in this pass);
        # the largest free node's less each pod placed there in this pass (as if all went to
        # that node: it may not hold the next one).
        self.free: dict[str, list[int]] = {}
        self.largest: dict[str, list[int]] = {}
        for c in self.ready:
            if c.resources is not None:
                f, big = c.resources.free, c.resources.largest_free_node
                jobs, cpu, memory = self.unreported.get(c.id, (0, 0, 0))
                # A job not in the figures yet holds at least one pod.
                self.free[c.id] = [f.cpu_millis - cpu, f.memory_bytes - memory, f.pods - jobs]
                self.largest[c.id] = [big.cpu_millis, big.memory_bytes]
        self._changes = 0  # jobs taken (or given back) in this pass so far
        # Per preemptor (job id): the room its preemption frees, held from the other jobs of the
        # pass (`reserve`; kjs.scheduler.preemption).
        self.reserved: dict[str, tuple[str, Requests]] = {}
        self._pods: dict[str, Requests] = {}  # job id: one pod's request (`_pod`)
        self._routes: dict[Hashable, tuple[list[ClusterRecord], list[ClusterRecord]]] = {}
        self.totals = shares.totals(self.ready)  # what the queues' shares are of

    # -- fair share ------------------------------------------------------------------------------

    def share(self, queue: str) -> float:
        """The queue's dominant share of the ready clusters: what its placed, unfinished jobs
        request of their CPU or of their memory, whichever share is larger (of their slots when
        no cluster reports figures). Needs the usage read (`usage`)."""
        held = self.queue_held.get(queue)
        if held is None:
            return 0.0
        return shares.dominant_share(held.jobs, held.cpu_millis, held.memory_bytes, self.totals)

    def weighted_share(self, queue: str) -> float:
        """The queue's share ÷ its weight: the queue with the lowest places next."""
        definition = self.definitions.get(queue)
        return self.share(queue) / (definition.weight if definition is not None else 1.0)

    def seen(self) -> Hashable:
        """What this view shows a placement decision, as a value two passes can compare: the
        clusters (state, labels, load, free figures), what queues and namespaces hold, and the
        jobs this pass placed so far."""
        clusters = tuple(
            (
                c.id,
                self.states.get(c.id),
                tuple(sorted(c.labels.items())),
                c.capacity,
                c.running,
                c.pending,
                self.in_flight.get(c.id, 0),
                tuple(self.free.get(c.id, ())),
                tuple(self.largest.get(c.id, ())),
            )
            for c in self.ready
        )
        held = tuple(
            sorted(
                (str(k), h.jobs, h.cpu_millis, h.memory_bytes) for k, h in self.queue_held.items()
            )
        )
        spaces = tuple(
            sorted(
                (k, h.jobs, h.cpu_millis, h.memory_bytes) for k, h in self.namespace_held.items()
            )
        )
        return clusters, tuple(sorted(self.states.items())), held, spaces, self._changes

    # -- bookkeeping -----------------------------------------------------------------------------

    def _held(self, queue: str, cluster_id: str | None = None) -> Held:
        if cluster_id is None:
            return self.queue_held.setdefault(queue, Held())
        return self.queue_cluster_held.setdefault((queue, cluster_id), Held())

    def _use(self, cluster_id: str, need: Requests, sign: int) -> None:
        if (free := self.free.get(cluster_id)) is not None:
            free[0] -= sign * need.cpu_millis
            free[1] -= sign * need.memory_bytes
            free[2] -= sign * need.pods

    def _count(self, cluster_id: str, job: JobRecord, need: Requests, sign: int) -> None:
        self._changes += 1
        self.in_flight[cluster_id] = self.in_flight.get(cluster_id, 0) + sign
        self._use(cluster_id, need, sign)
        if (largest := self.largest.get(cluster_id)) is not None:
            pod = self._pod(job)
            largest[0] -= sign * pod.cpu_millis
            largest[1] -= sign * pod.memory_bytes
        queue, namespace = job.spec.queue, job.spec.namespace
        for held in (
            self._held(queue),
            self._held(queue, cluster_id),
            self.namespace_held.setdefault(namespace, Held()),
        ):
            held.add(sign, sign * need.cpu_millis, sign * need.memory_bytes)

    def take(self, cluster_id: str, job: JobRecord, need: Requests) -> None:
        """A job placed on `cluster_id` in this pass: the next job sees it."""
        self._count(cluster_id, job, need, 1)

    def give_back(self, cluster_id: str, job: JobRecord, need: Requests) -> None:
        """A planned placement that did not happen (the job changed meanwhile)."""
        self._count(cluster_id, job, need, -1)

    def reserve(self, cluster_id: str, job_id: str, need: Requests) -> None:
        """Hold room on `cluster_id` for a preemptor (`job_id`, asking `need`): the other jobs of
        the pass see it taken, so the room its victims free is not filled before its turn."""
        self.reserved[job_id] = (cluster_id, need)
        self._hold(cluster_id, need, 1)

    def release(self, job_id: str) -> tuple[str, Requests] | None:
        """The preemptor's turn: the room held for it (if any) is free again; returns it."""
        held = self.reserved.pop(job_id, None)
        if held is not None:
            self._hold(held[0], held[1], -1)
        return held

    def _hold(self, cluster_id: str, need: Requests, sign: int) -> None:
        self._changes += 1
        self.in_flight[cluster_id] = self.in_flight.get(cluster_id, 0) + sign
        self._use(cluster_id, need, sign)

    # -- room ------------------------------------------------------------------------------------

    def _fits(self, cluster: ClusterRecord, job: JobRecord | None, need: Requests | None) -> bool:
        """Room for the job (None: for the smallest job) on a ready cluster: below its
        `max_concurrent_jobs` always, and, when its agent reports resources, in its figures."""
        if not self._below_capacity(cluster):
            return False
        free, largest = self.free.get(cluster.id), self.largest.get(cluster.id)
        if free is None or largest is None:  # an older agent (or stale figures): pod count alone
            return True
        if need is None or job is None:
            # (Its largest free node too: once this pass has placed a node's worth of pods
            # there, no job fits, whatever the cluster's total.)
            return min(free[0], free[1], free[2], largest[0], largest[1]) > 0
        pod = self._pod(job)
        return (
            free[0] >= need.cpu_millis
            and free[1] >= need.memory_bytes
            and free[2] >= need.pods
            and largest[0] >= pod.cpu_millis
            and largest[1] >= pod.memory_bytes
        )

    def _pod(self, job: JobRecord) -> Requests:
        """One pod's request of the job, worked out once a pass (asked for every cluster)."""
        pod = self._pods.get(job.id)
        if pod is None:
            pod = self._pods[job.id] = pod_requests(job.spec, self.defaults)
        return pod

    def _below_capacity(self, cluster: ClusterRecord) -> bool:
        used = cluster.running + cluster.pending + self.in_flight.get(cluster.id, 0)
        return used < cluster.capacity

    def _per_cluster(self, queue: str, cluster_id: str, need: Requests | None) -> str | None:
        if queue not in self.per_cluster_limited:
            return None
        definition = self.definitions[queue]
        return limit_reached(
            f"queue {queue} on cluster {cluster_id} (per_cluster)",
            definition.limits.per_cluster,
            self._held(queue, cluster_id),
            need.cpu_millis if need else 0,
            need.memory_bytes if need else 0,
        )

    def _limits(self, queue: str, namespace: str, need: Requests | None) -> Why | None:
        if queue not in self.definitions:  # deleted, or gone from the config: no limits to keep
            return "QueueNotFound", f"queue {queue} does not exist: edit the job into another queue"
        if queue in self.limited:
            definition = self.definitions[queue]
            why = limit_reached(
                f"queue {queue}",
                definition.limits,
                self._held(queue),
                need.cpu_millis if need else 0,
                need.memory_bytes if need else 0,
            )
            if why is not None:
                return "QueueLimitReached", why
        if (limits := self.namespace_limits.get(namespace)) is not None:
            why = limit_reached(
                f"namespace {namespace}",
                limits,
                self.namespace_held.setdefault(namespace, Held()),
                need.cpu_millis if need else 0,
                need.memory_bytes if need else 0,
            )
            if why is not None:
                return "NamespaceLimitReached", why
        return None

    def _route_problem(
        self, route: Route, queue: str, job: JobRecord | None, need: Requests | None
    ) -> Why | None:
        allowed, ready = self._routed(route)
        if not allowed:
            return "NoClusterMatches", f"no cluster {describe(route)}"
        if not ready:
            states = [f"{c.id} is {self.states.get(c.id, 'unreachable')}" for c in allowed]
            cordoned = any(self.states.get(c.id) == "cordoned" for c in allowed)
            return ("Cordoned" if cordoned else "ClusterUnreachable"), "; ".join(states[:5])
        limited = [(c, self._per_cluster(queue, c.id, need)) for c in ready]
        open_ = [c for c, why in limited if why is None]
        if not open_:
            return "QueueLimitReached", "; ".join(str(why) for _, why in limited[:3])
        if any(self._fits(c, job, need) for c in open_):
            return None
        return "NoCapacity", self._no_capacity(open_, job, need)

    def _routed(self, route: Route) -> tuple[list[ClusterRecord], list[ClusterRecord]]:
        """The known clusters the route allows, and the ready ones among them: worked out once a
        pass per route (a pass asks for each of its keys; most keys share a few routes)."""
        key = (route.c if not isinstance(route.c, list) else tuple(route.c), *route.s.items())
        found = self._routes.get(key)
        if found is None:
            allowed = [c for c in self.known if allows(route, c)]
            allowed_ids = {c.id for c in allowed}
            found = self._routes[key] = (allowed, [c for c in self.ready if c.id in allowed_ids])
        return found

    def _no_capacity(
        self, clusters: list[ClusterRecord], job: JobRecord | None, need: Requests | None
    ) -> str:
        parts = []
        for c in clusters[:5]:
            free = self.free.get(c.id)
            if free is None or not self._below_capacity(c):
                parts.append(f"{c.id} is at max_concurrent_jobs {c.capacity}")
            else:
                parts.append(
                    f"{c.id} has {cpu_text(max(free[0], 0))}, "
                    f"{memory_text(max(free[1], 0))} memory, {max(free[2], 0)} pods free"
                )
        if need is None or not any(c.id in self.free for c in clusters):
            return "; ".join(parts)
        pods = f" ({need.pods} pods)" if need.pods != 1 else ""
        asks = f"needs {cpu_text(need.cpu_millis)}, {memory_text(need.memory_bytes)} memory{pods}"
        return f"{asks}; " + "; ".join(parts)

    # -- what placement asks ---------------------------------------------------------------------

    def group_blocked(self, group: Group) -> Why | None:
        """Why no job of this key can be placed now (None: some may be)."""
        return self._limits(group.queue, group.namespace, None) or self._route_problem(
            group.route, group.queue, None, None
        )

    def limits_apply(self, queue: str, namespace: str) -> bool:
        """Whether a job's queue or namespace may keep it waiting (a limit, or no such queue):
        most have none, and their jobs need no `job_blocked`."""
        return (
            queue not in self.definitions
            or queue in self.limited
            or namespace in self.namespace_limits
        )

    def job_blocked(self, job: JobRecord, need: Requests) -> tuple[str, str, bool] | None:
        """Why this job's queue or namespace does not take it now, and whether no job of theirs
        would be taken either (a count limit, or a total at its cap)."""
        why = self._limits(job.spec.queue, job.spec.namespace, need)
        if why is None:
            return None
        return why[0], why[1], self._limits(job.spec.queue, job.spec.namespace, None) is not None

    def candidates(self, job: JobRecord, need: Requests) -> list[ClusterRecord]:
        """The ready clusters the job fits on, its queue's per-cluster limits allowing, with
        this pass's free figures as their `resources.free` (what a balancer compares)."""
        if not self.free and job.spec.queue not in self.per_cluster_limited:
            return self.ready  # no figures, no per-cluster limit: the balancer judges pod counts
        found = []
        for c in self.ready:
            if self._per_cluster(job.spec.queue, c.id, need) or not self._fits(c, job, need):
                continue
            free = self.free.get(c.id)
            if free is not None and c.resources is not None:
                now_free = ResourceAmounts(cpu_millis=free[0], memory_bytes=free[1], pods=free[2])
                c = msgspec.structs.replace(
                    c, resources=msgspec.structs.replace(c.resources, free=now_free)
                )
            found.append(c)
        return found

    def no_room(self, job: JobRecord, need: Requests) -> Why:
        """Why no cluster took this job."""
        return self._route_problem(_route(job), job.spec.queue, job, need) or (
            "NoCapacity",
            self._no_capacity([c for c in self.ready if allows(_route(job), c)], job, need),
        )

    def open_clusters(self, job: JobRecord, need: Requests) -> list[ClusterRecord]:
        """The ready clusters the job's route allows and its queue's per-cluster limits leave
        open: where only room may be missing (the clusters preemption may make room on)."""
        route = _route(job)
        return [
            c
            for c in self.ready
            if allows(route, c) and self._per_cluster(job.spec.queue, c.id, need) is None
        ]

    def fits(self, cluster: ClusterRecord, job: JobRecord, need: Requests) -> bool:
        """Whether the job fits on the ready cluster now, as this pass sees it."""
        return self._fits(cluster, job, need)

    def fits_with(
        self, cluster: ClusterRecord, need: Requests, freed: Requests, slots: int
    ) -> bool:
        """Whether a job asking `need` would fit on the cluster once jobs holding `freed` (and
        `slots` of its `max_concurrent_jobs`) are gone. By the cluster's figures when it reports
        them, else by its slots alone. (Not by node: the freed room may be spread over nodes.)"""
        used = cluster.running + cluster.pending + self.in_flight.get(cluster.id, 0) - slots
        if used >= cluster.capacity:
            return False
        free = self.free.get(cluster.id)
        if free is None:
            return True
        return (
            free[0] + freed.cpu_millis >= need.cpu_millis
            and free[1] + freed.memory_bytes >= need.memory_bytes
            and free[2] + freed.pods >= need.pods
        )

    def judged_by_size(self, job: JobRecord) -> bool:
        """Whether a cluster the job may go to reports free resources: then that it did not
        fit says nothing of a smaller job."""
        return self.has_figures(_route(job))

    def has_figures(self, route: Route) -> bool:
        """Whether a ready cluster this route allows reports free resources (then a job too big
        for it does not mean a smaller one is too)."""
        if not self.free:
            return False
        return any(c.id in self.free and allows(route, c) for c in self.ready)
