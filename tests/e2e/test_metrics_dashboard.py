"""The metrics an operator graphs, and the Grafana dashboard the chart ships: a real server and
agent (processes, through a real NSQ, on a test cluster) run jobs; then every metric a panel
queries is one the two processes export, and every figure the issue asks for has a panel."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kjs.testing.waiting import wait_until
from tests.api.test_webhooks import Receiver
from tests.e2e.test_agent_processes import (  # noqa: F401 (agents, server: fixtures)
    Agents,
    agents,
    server,
    state,
    submit,
)
from tests.processes import Server, nsq_environment

pytestmark = [pytest.mark.k8s, pytest.mark.nsq]

DASHBOARD = Path(__file__).parents[2] / "helm" / "kjs" / "dashboards" / "kjs.json"

# Issue 16, "Metrics an operator graphs": each figure it names, and the family that holds it.
ISSUE_FAMILIES = {
    "jobs by state and cluster": "kjs_jobs",
    "accepted → created": "kjs_job_accepted_to_created_seconds",
    "terminated → stored": "kjs_job_terminated_to_stored_seconds",
    "webhook deliveries by outcome": "kjs_webhook_deliveries_total",
    "webhook deliveries pending": "kjs_webhook_deliveries_pending",
    "outbox depth": "kjs_outbox_depth",
    "queue publish errors": "kjs_queue_publish_errors_total",
    "cluster capacity": "kjs_cluster_capacity",
    "cluster running": "kjs_cluster_running",
    "cluster free": "kjs_cluster_free",
    "cluster heartbeat age": "kjs_cluster_heartbeat_age_seconds",
    # Issue 18: what each cluster has free, as its agent reports it.
    "cluster cpu free": "kjs_cluster_cpu_free_millicores",
    "cluster cpu allocatable": "kjs_cluster_cpu_allocatable_millicores",
    "cluster memory free": "kjs_cluster_memory_free_bytes",
    "cluster memory allocatable": "kjs_cluster_memory_allocatable_bytes",
    "cluster pods free": "kjs_cluster_pods_free",
    "cluster resources age": "kjs_cluster_resources_age_seconds",
    # Issue 18: per queue, what waits, what runs, and what the running request.
    "queue jobs pending and running": "kjs_queue_jobs",
    "queue cpu requested": "kjs_queue_requested_cpu_millicores",
    "queue memory requested": "kjs_queue_requested_memory_bytes",
    # Issue 19: each queue's fair share (and ÷ its weight), and its jobs preempted.
    "queue share": "kjs_queue_share",
    "queue share over weight": "kjs_queue_weighted_share",
    "queue preemptions": "kjs_queue_preemptions_total",
    "leader per replica": "kjs_leader",
    "agent create latency": "kjs_agent_create_seconds",
    "agent watch restarts": "kjs_agent_watch_restarts_total",
    "agent log bytes": "kjs_agent_log_bytes_total",
}
METRIC = re.compile(r"\bkjs_[a-z0-9_]+\b")


@pytest.fixture
def env(nsq_env: dict[str, list[dict[str, str]]], k8s_namespace: str) -> dict[str, str]:
    return {
        **nsq_environment(nsq_env),
        "KJS_AGENT__LEASE_NAMESPACE": k8s_namespace,
        "KJS_AGENT__HEARTBEAT_S": "1",
        "KJS_WEBHOOKS__ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page, by (name, labels)."""
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def queryable(url: str) -> set[str]:
    """The names a PromQL query can use for what a /metrics page declares (a labelled family
    with no sample yet counts: its series appear with the first event)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, query) for every panel target and template variable of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    found = [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append((f"variable {variable['name']}", query["query"]))
    return found


def test_jobs_run_and_every_panel_queries_a_metric_that_exists_and_every_figure_has_a_panel(
    server: Server,  # noqa: F811 (the fixture imported above)
    agents: Agents,  # noqa: F811 (the fixture imported above)
    k8s_namespace: str,
    receiver: Receiver,
) -> None:
    agent = agents.start()
    cluster = agents.cluster.id
    wait_until(
        lambda: server.api("GET", f"/clusters/{cluster}").status_code == 200,
        timeout=30,
        what="the agent's heartbeat",
    )
    receiver.fail_first = 1  # one retry, then delivered
    jobs = {
        submit(server, k8s_namespace, "ok", "echo fine"): "succeeded",
        submit(server, k8s_namespace, "bad", "echo broken; exit 3"): "failed",
        submit(server, k8s_namespace, "hook", "true", callback_url=receiver.url): "succeeded",
    }
    wait_until(
        lambda: all(state(server, j) == final for j, final in jobs.items()),
        timeout=90,
        interval=0.5,
        what="every job's final state",
    )
    wait_until(lambda: receiver.received, timeout=60, what="the webhook, after its retry")

    server_metrics = f"{server.url}/metrics"
    agent_metrics: str = agent.metrics_url  # type: ignore[attr-defined]

    # What a user checks: the leader's gauges are current, the latencies and outcomes counted.
    def gauges_current() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        samples = scrape(server_metrics)
        done = (
            value(samples, "kjs_jobs", state="running", cluster=cluster) == 0
            and value(samples, "kjs_cluster_capacity", cluster=cluster) > 0
            and value(samples, "kjs_cluster_cpu_allocatable_millicores", cluster=cluster) > 0
            and value(samples, "kjs_webhook_deliveries_total", outcome="delivered") >= 1
        )
        return samples if done else None

    samples = wait_until(gauges_current, timeout=30, what="the leader's gauges to refresh")
    assert value(samples, "kjs_leader", replica=_replica(samples)) == 1
    assert value(samples, "kjs_cluster_free", cluster=cluster) == value(
        samples, "kjs_cluster_capacity", cluster=cluster
    )  # nothing runs any more
    assert 0 <= value(samples, "kjs_cluster_heartbeat_age_seconds", cluster=cluster) < 10
    # The test node's allocatable (kjs.testing.kubelet: 8 CPUs, 32Gi), nothing bound any more.
    assert value(samples, "kjs_cluster_cpu_allocatable_millicores", cluster=cluster) == 8000
    assert value(samples, "kjs_cluster_memory_free_bytes", cluster=cluster) > 0
    assert value(samples, "kjs_outbox_depth", state="due") == 0
    # Nothing holds a place any more: the default queue's share is there, and 0.
    assert samples[("kjs_queue_share", frozenset({("queue", "default")}))] == 0
    assert samples[("kjs_queue_weighted_share", frozenset({("queue", "default")}))] == 0
    assert value(samples, "kjs_webhook_deliveries_pending", state="due") == 0
    assert value(samples, "kjs_webhook_deliveries_total", outcome="retry") >= 1
    assert value(samples, "kjs_job_accepted_to_created_seconds_count") >= 3
    assert value(samples, "kjs_job_terminated_to_stored_seconds_count") >= 3
    on_agent = scrape(agent_metrics)
    assert value(on_agent, "kjs_agent_create_seconds_count", cluster=cluster) >= 3

    # (a) Every metric a panel (or a template variable) queries is exported by one of the two.
    exported = queryable(server_metrics) | queryable(agent_metrics)
    missing = [
        (where, name)
        for where, query in dashboard_queries()
        for name in METRIC.findall(query)
        if name not in exported
    ]
    assert missing == []

    # (b) Every figure the issue asks for has a panel.
    used = {name for _, query in dashboard_queries() for name in METRIC.findall(query)}
    without_panel = [
        figure
        for figure, family in ISSUE_FAMILIES.items()
        if not {family, f"{family}_bucket", f"{family}_count"} & used
    ]
    assert without_panel == []


def _replica(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> str:
    (replica,) = {dict(labels)["replica"] for name, labels in samples if name == "kjs_leader"}
    return replica
