"""A job's route (`cluster`, `cluster_selector`) as its placement key: one short canonical string,
stored and indexed next to the job, so that placement can tell from the key alone whether any
job of that route can be placed now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from kjs.core.models import JobSpec
from kjs.core.protocols import ClusterView

PLACEMENT_KEY_MAX = 512  # characters; a longer route gets no key (NULL) and is tried job by job


class Route(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Where a job may go, as its placement key spells it: `c` its `cluster` (an id, or ids in
    order of preference), `s` its `cluster_selector`."""

    c: str | list[str] | None = None
    s: dict[str, str] = msgspec.field(default_factory=dict)


# Sorted keys: one route, one key, however the selector was written.
_key_encoder = msgspec.json.Encoder(order="sorted")


def placement_key(
    cluster: str | list[str] | None, cluster_selector: Mapping[str, str]
) -> str | None:
    """A job's routing requirement as a short canonical string: "" for "any cluster", else
    canonical JSON such as `{"c":["c1","c2"],"s":{"zone":"a"}}`; None when longer than
    PLACEMENT_KEY_MAX (placement then tries such a job on its own)."""
    if cluster is None and not cluster_selector:
        return ""
    key = _key_encoder.encode(Route(c=cluster, s=dict(cluster_selector))).decode()
    return key if len(key) <= PLACEMENT_KEY_MAX else None


def placement_key_of(spec: JobSpec) -> str | None:
    """The placement key of a job spec (what the store keeps next to the job)."""
    return placement_key(spec.cluster, spec.cluster_selector)


def route_of(key: str | None) -> Route | None:
    """The route a placement key stands for; None for no key (or one this version cannot
    read): its jobs are then tried one by one."""
    if key is None:
        return None
    try:
        return Route() if key == "" else msgspec.json.decode(key, type=Route)
    except msgspec.DecodeError:
        return None


def has_room(route: Route, clusters: Sequence[ClusterView], in_flight: dict[str, int]) -> bool:
    """Whether a cluster this route allows has room (the balancer's rule: running + pending +
    in flight below capacity): if not, no job of this route can be placed now."""
    allowed = {route.c} if isinstance(route.c, str) else set(route.c or ())
    return any(
        (route.c is None or c.id in allowed)
        and all(c.labels.get(k) == v for k, v in route.s.items())
        and c.running + c.pending + in_flight.get(c.id, 0) < c.capacity
        for c in clusters
    )
