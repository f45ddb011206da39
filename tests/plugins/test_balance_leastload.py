"""Least-load placement: the balancer contract suite (`kjs.testing.contracts.balancer`), then
what is its own: the least loaded wins, preference lists in order, ties by id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from kjs.core.messages import ResourceAmounts
from kjs.core.models import JobSpec
from kjs.core.records import ClusterRecord, ClusterResources
from kjs.plugins.balance_leastload import LeastLoadBalancer
from kjs.testing.contracts.balancer import *  # noqa: F403


@pytest.fixture
def balancer() -> LeastLoadBalancer:
    return LeastLoadBalancer()


class Job:
    def __init__(self, **spec: Any) -> None:
        self.spec = msgspec.convert({"name": "j", "namespace": "ns", "image": "x", **spec}, JobSpec)


CLUSTERS = [
    ClusterRecord(id="a", capacity=10, running=5, labels={"zone": "eu"}),  # 0.5
    ClusterRecord(id="b", capacity=4, running=1, pending=0, labels={"zone": "us"}),  # 0.25
    ClusterRecord(id="c", capacity=2, running=2, labels={"zone": "eu"}),  # full
]


@pytest.fixture
def choose(balancer: LeastLoadBalancer) -> Any:
    return lambda job, in_flight=None, clusters=CLUSTERS: balancer.choose(
        job, clusters, in_flight or {}
    )


def test_the_least_loaded_cluster_wins(choose: Any) -> None:
    assert choose(Job()) == "b"


def test_dispatches_in_flight_count_as_load(choose: Any) -> None:
    assert choose(Job(), {"b": 2}) == "a"  # b: (1 + 2) / 4 = 0.75 > a: 0.5


def test_a_full_cluster_takes_nothing_even_when_routed(choose: Any) -> None:
    assert choose(Job(cluster="c")) is None
    assert choose(Job(cluster="a")) == "a"


def test_a_preference_list_takes_the_first_with_room(choose: Any) -> None:
    assert choose(Job(cluster=["c", "a", "b"])) == "a"
    assert choose(Job(cluster=["c"])) is None


def test_a_label_selector_narrows_the_choice(choose: Any) -> None:
    assert choose(Job(cluster_selector={"zone": "eu"})) == "a"
    assert choose(Job(cluster_selector={"zone": "ap"})) is None


def test_pending_pods_count_and_ties_go_by_id(choose: Any) -> None:
    clusters = [
        ClusterRecord(id="y", capacity=4, pending=2),
        ClusterRecord(id="x", capacity=2, running=1),
    ]
    assert choose(Job(), clusters=clusters) == "x"


def test_unknown_capacity_means_no_room(choose: Any) -> None:
    assert choose(Job(), clusters=[ClusterRecord(id="new", capacity=0)]) is None


def reporting(cid: str, cpu_millis: int, memory_gi: int, pods: int = 50) -> ClusterRecord:
    """A cluster whose agent reports its resources: 8 CPU, 32Gi allocatable, these free."""
    gi = 1 << 30
    free = ResourceAmounts(cpu_millis=cpu_millis, memory_bytes=memory_gi * gi, pods=pods)
    resources = ClusterResources(
        allocatable=ResourceAmounts(cpu_millis=8000, memory_bytes=32 * gi, pods=110),
        free=free,
        largest_free_node=free,
        at=dt.datetime.now(dt.UTC),
    )
    # capacity 0 and a count at it: with figures, pod count does not decide.
    return ClusterRecord(id=cid, capacity=0, running=5, resources=resources)


def test_with_resource_figures_the_most_free_of_the_jobs_dominant_resource_wins(
    choose: Any,
) -> None:
    clusters = [reporting("cpu-rich", 6000, 4), reporting("memory-rich", 2000, 24)]
    cpu_heavy = Job(resources={"requests": {"cpu": "2", "memory": "256Mi"}})
    memory_heavy = Job(resources={"requests": {"cpu": "100m", "memory": "8Gi"}})
    assert choose(cpu_heavy, clusters=clusters) == "cpu-rich"
    assert choose(memory_heavy, clusters=clusters) == "memory-rich"


def test_a_reporting_cluster_without_free_pods_takes_nothing(choose: Any) -> None:
    assert choose(Job(), clusters=[reporting("full", 8000, 32, pods=0)]) is None
