"""The balancer contract (`kjs.core.protocols.Balancer`): what every balancer must do.

`choose(job, clusters, in_flight)` gets the ready clusters and the dispatches each has not
acknowledged yet. A cluster has room when running + pending + in flight is below its capacity
(0: unknown, no room). A cluster is eligible for a job when its `cluster` (an id, or
ids in order of preference) names it, if set, and its labels match the `cluster_selector`.
So `choose` returns the id of an eligible cluster with room, or None exactly when there is none;
it changes neither the clusters nor `in_flight`.

Needs a fixture `balancer`: your balancer. Then::

    from kjs.testing.contracts.balancer import *  # noqa: F403
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from kjs.core.models import JobSpec
from kjs.core.protocols import Balancer, ClusterView
from kjs.core.records import ClusterRecord, JobRecord

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def job(**spec: Any) -> JobRecord:
    """A pending job with these spec fields (`cluster`, `cluster_selector`, …)."""
    job_id = str(uuid.uuid4())
    return JobRecord(
        id=job_id,
        spec=msgspec.convert({"name": "j", "namespace": "ns", "image": "x", **spec}, JobSpec),
        k8s_name=f"j-{job_id[:8]}",
        created_at=NOW,
        updated_at=NOW,
    )


def eligible_with_room(
    job: JobRecord, clusters: Sequence[ClusterView], in_flight: dict[str, int]
) -> list[str]:
    """The ids the contract allows `choose` to return for this job."""
    route = job.spec.cluster
    allowed = None if route is None else {route} if isinstance(route, str) else set(route)
    return [
        c.id
        for c in clusters
        if (allowed is None or c.id in allowed)
        and all(c.labels.get(k) == v for k, v in job.spec.cluster_selector.items())
        and c.running + c.pending + in_flight.get(c.id, 0) < c.capacity
    ]


def full(cluster_id: str, **labels: str) -> ClusterRecord:
    return ClusterRecord(id=cluster_id, capacity=2, running=1, pending=1, labels=labels)


def free(cluster_id: str, **labels: str) -> ClusterRecord:
    return ClusterRecord(id=cluster_id, capacity=10, labels=labels)


def test_no_cluster_is_chosen_when_every_eligible_one_is_full(balancer: Balancer) -> None:
    clusters = [full("a", zone="eu"), full("b", zone="us"), free("c", zone="us")]
    # Full by its own pods, by dispatches in flight, or of unknown capacity.
    assert balancer.choose(job(cluster_selector={"zone": "eu"}), clusters, {}) is None
    assert balancer.choose(job(cluster="a"), clusters, {}) is None
    assert balancer.choose(job(cluster=["a", "b"]), clusters, {}) is None
    assert balancer.choose(job(cluster="c"), clusters, {"c": 10}) is None
    assert balancer.choose(job(), [ClusterRecord(id="new", capacity=0)], {}) is None
    assert balancer.choose(job(), [], {}) is None


def test_a_route_to_one_cluster_goes_there_or_nowhere(balancer: Balancer) -> None:
    clusters = [free("a"), free("b"), full("c")]
    assert balancer.choose(job(cluster="b"), clusters, {}) == "b"
    assert balancer.choose(job(cluster="a"), clusters, {"b": 0}) == "a"
    assert balancer.choose(job(cluster="c"), clusters, {}) is None
    assert balancer.choose(job(cluster="gone"), clusters, {}) is None


def test_a_preference_list_chooses_among_its_clusters(balancer: Balancer) -> None:
    clusters = [free("a"), free("b"), full("c"), free("d")]
    assert balancer.choose(job(cluster=["c", "b"]), clusters, {}) == "b"
    assert balancer.choose(job(cluster=["b", "d"]), clusters, {}) in {"b", "d"}
    assert balancer.choose(job(cluster=["gone", "c"]), clusters, {}) is None


def test_a_cluster_selector_narrows_the_choice(balancer: Balancer) -> None:
    clusters = [free("a", zone="eu"), free("b", zone="us", gpu="yes"), free("c", zone="us")]
    assert balancer.choose(job(cluster_selector={"gpu": "yes"}), clusters, {}) == "b"
    assert balancer.choose(job(cluster_selector={"zone": "us"}), clusters, {}) in {"b", "c"}
    assert balancer.choose(job(cluster_selector={"zone": "ap"}), clusters, {}) is None
    # With a route too: both must allow it.
    assert balancer.choose(job(cluster="a", cluster_selector={"zone": "us"}), clusters, {}) is None
    only = job(cluster=["a", "c"], cluster_selector={"zone": "us"})
    assert balancer.choose(only, clusters, {}) == "c"


def test_only_an_eligible_cluster_with_room_is_chosen_and_one_always_is(
    balancer: Balancer,
) -> None:
    # Many small situations, the same every run: whatever a balancer prefers, it may only pick
    # among the clusters the contract allows, and may not keep a job waiting that could go.
    rng = random.Random(13)
    ids = ["a", "b", "c", "d"]
    for _ in range(500):
        clusters = [
            ClusterRecord(
                id=cluster_id,
                capacity=rng.choice([0, 1, 2, 4]),
                running=rng.randint(0, 3),
                pending=rng.randint(0, 1),
                labels={
                    k: rng.choice(["x", "y"])
                    for k in rng.sample(["zone", "gpu"], rng.randint(0, 2))
                },
            )
            for cluster_id in rng.sample(ids, rng.randint(1, 4))
        ]
        in_flight = {c.id: rng.randint(0, 2) for c in clusters if rng.random() < 0.5}
        route = rng.choice(
            [None, rng.choice([*ids, "gone"]), rng.sample([*ids, "gone"], rng.randint(1, 3))]
        )
        selector = rng.choice([{}, {"zone": "x"}, {"gpu": "y"}, {"zone": "y", "gpu": "x"}])
        the_job = job(cluster=route, cluster_selector=selector)
        given = (copy.deepcopy(clusters), dict(in_flight))
        chosen = balancer.choose(the_job, clusters, in_flight)
        allowed = eligible_with_room(the_job, clusters, in_flight)
        situation = f"{clusters} in flight {in_flight}, route {route!r} selector {selector}"
        if allowed:
            assert chosen in allowed, f"chose {chosen!r}, not one of {allowed}: {situation}"
        else:
            assert chosen is None, f"chose {chosen!r}, but none has room: {situation}"
        assert (clusters, in_flight) == given, f"choose changed its arguments: {situation}"


# The suite itself: what `from kjs.testing.contracts.balancer import *` brings into a module.
__all__ = [name for name in list(globals()) if name.startswith("test_")]
