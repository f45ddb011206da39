"""`balancer = "leastload"`: the eligible cluster with the lowest load.

A cluster whose agent reports its resources: load = the share of its allocatable of the job's
dominant resource (CPU or memory, whichever the job asks the larger share of) that is not free,
and it has room while it has free pods (placement passes only the clusters the job fits on, with
what the pass placed already taken off their free figures). One that does not (an older agent):
load = (running + pending pods + dispatched but not yet acknowledged) / capacity. A job's
`cluster` (an id, or ids in order of preference) and `cluster_selector` narrow what is eligible;
with a preference list the first cluster in it that has room wins. A full cluster takes nothing:
when every eligible cluster is full the job waits (`pending`) until room appears.
"""

from __future__ import annotations

from collections.abc import Sequence

from kjs.core.backends import Backend
from kjs.core.hookspecs import hookimpl
from kjs.core.models import JobSpec
from kjs.core.protocols import ClusterView, JobView
from kjs.core.records import ClusterResources
from kjs.core.requests import Requests, job_requests


def _used(cluster: ClusterView, in_flight: dict[str, int]) -> int:
    return cluster.running + cluster.pending + in_flight.get(cluster.id, 0)


def _resources(cluster: ClusterView) -> ClusterResources | None:
    found = getattr(cluster, "resources", None)  # ClusterRecord's; a plugin's view may lack it
    return found if isinstance(found, ClusterResources) else None


def _has_room(cluster: ClusterView, in_flight: dict[str, int]) -> bool:
    resources = _resources(cluster)
    if resources is not None:
        return resources.free.pods > 0
    return _used(cluster, in_flight) < cluster.capacity


def _load(cluster: ClusterView, need: Requests, in_flight: dict[str, int]) -> float:
    resources = _resources(cluster)
    if resources is None:
        return _used(cluster, in_flight) / cluster.capacity
    cpu, memory = resources.allocatable.cpu_millis, resources.allocatable.memory_bytes
    cpu_share = need.cpu_millis / cpu if cpu > 0 else 0.0
    memory_share = need.memory_bytes / memory if memory > 0 else 0.0
    if cpu_share >= memory_share and cpu > 0:
        return 1 - resources.free.cpu_millis / cpu
    if memory > 0:
        return 1 - resources.free.memory_bytes / memory
    return 1.0


class LeastLoadBalancer:
    def choose(
        self, job: JobView, clusters: Sequence[ClusterView], in_flight: dict[str, int]
    ) -> str | None:
        route, selector = job.spec.cluster, job.spec.cluster_selector
        eligible = [c for c in clusters if c.id == route] if isinstance(route, str) else clusters
        if selector:
            eligible = [
                c for c in eligible if all(c.labels.get(k) == v for k, v in selector.items())
            ]
        with_room = [c for c in eligible if _has_room(c, in_flight)]
        if isinstance(route, list):
            by_id = {c.id: c for c in with_room}
            return next((cid for cid in route if cid in by_id), None)
        if len(with_room) <= 1:  # nothing to compare (placement asks this of every due job)
            return with_room[0].id if with_room else None
        need = job_requests(job.spec) if isinstance(job.spec, JobSpec) else Requests(0, 0)
        best = min(with_room, key=lambda c: (_load(c, need, in_flight), c.id))
        return best.id


@hookimpl
def register_balancers() -> list[Backend]:
    return [
        Backend(
            "balancer",
            "leastload",
            lambda _context: LeastLoadBalancer(),
            "lowest (running + pending + in flight) / capacity",
        )
    ]
