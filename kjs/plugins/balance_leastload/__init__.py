"""`balancer = "leastload"`: the eligible cluster with the lowest load.

load = (running + pending pods + dispatched but not yet acknowledged) / capacity. A job's
`cluster` (an id, or ids in order of preference) and `cluster_selector` narrow what is eligible;
with a preference list the first cluster in it that has room wins. A full cluster takes nothing:
when every eligible cluster is full the job waits (`pending`) until room appears.
"""

from __future__ import annotations

from collections.abc import Sequence

from kjs.core.backends import Backend
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import ClusterView, JobView


def _used(cluster: ClusterView, in_flight: dict[str, int]) -> int:
    return cluster.running + cluster.pending + in_flight.get(cluster.id, 0)


class LeastLoadBalancer:
    def choose(
        self, job: JobView, clusters: Sequence[ClusterView], in_flight: dict[str, int]
    ) -> str | None:
        route, selector = job.spec.cluster, job.spec.cluster_selector
        eligible = [c for c in clusters if all(c.labels.get(k) == v for k, v in selector.items())]
        with_room = [c for c in eligible if _used(c, in_flight) < c.capacity]
        if isinstance(route, list):
            by_id = {c.id: c for c in with_room}
            return next((cid for cid in route if cid in by_id), None)
        if isinstance(route, str):
            with_room = [c for c in with_room if c.id == route]
        if not with_room:
            return None
        best = min(with_room, key=lambda c: (_used(c, in_flight) / c.capacity, c.id))
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
