"""A job's placement group — its queue, its namespace, its priority and its route (`cluster`,
`cluster_selector`) — as its placement key: one short canonical string, stored and indexed next
to the job, so that placement can tell from the key alone whether any job of that group can be
placed now (a queue or namespace at its limit, or no cluster of the route with room: none can)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from kjs.core.models import JobSpec
from kjs.core.protocols import ClusterView

PLACEMENT_KEY_MAX = 512  # characters; a longer route gets no key (NULL) and is tried job by job
_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,9}")  # a priority as placement_key_of writes it


class Route(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Where a job may go, as its placement key spells it: `c` its `cluster` (an id, or ids in
    order of preference), `s` its `cluster_selector`."""

    c: str | list[str] | None = None
    s: dict[str, str] = msgspec.field(default_factory=dict)
    # A gang's id (`JobSpec.gang`): its members share a key no other job has, so placement
    # finds them together (kjs.scheduler.gangs). Not a routing rule: `allows` ignores it.
    g: str | None = None


# Sorted keys: one route, one key, however the selector was written.
_key_encoder = msgspec.json.Encoder(order="sorted")


def placement_key(
    cluster: str | list[str] | None, cluster_selector: Mapping[str, str], gang: str | None = None
) -> str | None:
    """A job's routing requirement as a short canonical string: "" for "any cluster", else
    canonical JSON such as `{"c":["c1","c2"],"s":{"zone":"a"}}`; None when longer than
    PLACEMENT_KEY_MAX (placement then tries such a job on its own)."""
    if cluster is None and not cluster_selector and gang is None:
        return ""
    key = _key_encoder.encode(Route(c=cluster, s=dict(cluster_selector), g=gang)).decode()
    return key if len(key) <= PLACEMENT_KEY_MAX else None


def placement_key_of(spec: JobSpec, priority: int = 0) -> str | None:
    """The placement key of a job (what the store keeps next to it): `queue|namespace|priority|
    route`, the priority as a decimal integer (the job's resolved `JobRecord.priority`), the
    route as `placement_key` spells it (queue and namespace are DNS labels: no `|` in them).
    None when the route has no key."""
    route = placement_key(spec.cluster, spec.cluster_selector, spec.gang)
    if route is None:
        return None
    key = f"{spec.queue}|{spec.namespace}|{priority}|{route}"
    return key if len(key) <= PLACEMENT_KEY_MAX else None


class Group(msgspec.Struct, frozen=True):
    """The jobs of one placement key: one queue, one namespace, one priority, one route."""

    queue: str
    namespace: str
    priority: int
    route: Route


def group_of(key: str | None) -> Group | None:
    """The group a placement key stands for; None for no key (or one this version cannot
    read): its jobs are then tried one by one."""
    if key is None:
        return None
    parts = key.split("|", 3)
    if len(parts) != 4 or not _INTEGER.fullmatch(parts[2]):
        return None  # e.g. a key from before priorities (`queue|namespace|route`)
    queue, namespace, priority, route = parts
    try:
        found = Route() if route == "" else msgspec.json.decode(route, type=Route)
    except msgspec.DecodeError:
        return None
    return Group(queue, namespace, int(priority), found)


def allows(route: Route, cluster: ClusterView) -> bool:
    """Whether the route lets its jobs go to this cluster (its ids and its selector)."""
    if isinstance(route.c, str):
        if cluster.id != route.c:
            return False
    elif route.c is not None and cluster.id not in route.c:
        return False
    return all(cluster.labels.get(k) == v for k, v in route.s.items())
