"""The Helm chart: lint, schema, objects a real apiserver accepts, and the image's commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kjs.testing.build import binary
from kjs.testing.pytest_plugin import Cluster
from tests.helm.chart import CHART, TOKENS, find, helm, render, sets

SERVER_ONLY: dict[str, Any] = {**TOKENS}
AGENT_ONLY: dict[str, Any] = {
    "server.enabled": False,
    "agent.enabled": True,
    "agent.clusterId": "c1",
}
BOTH: dict[str, Any] = {**TOKENS, "agent.enabled": True, "agent.clusterId": "c1"}


@pytest.mark.parametrize(
    "values",
    [{}, SERVER_ONLY, AGENT_ONLY, BOTH, {"grafana.dashboard.enabled": True}],
    ids=["defaults", "server", "agent", "both", "dashboard"],
)
def test_lint_strict_is_clean(values: dict[str, Any]) -> None:
    done = helm("lint", "--strict", str(CHART), *sets(values))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**TOKENS, "server.replicas": "two"}, "at '/server/replicas': got string, want integer"),
        ({**TOKENS, "agent.enabled": True}, "at '/agent/clusterId': minLength: got 0, want 1"),
        (
            {**TOKENS, "agent.enabled": True, "agent.clusterId": "Not_A_Label"},
            "at '/agent/clusterId'",
        ),
        (
            {**TOKENS, "config.store": "sqlite", "server.replicas": 2},
            "at '/server/replicas': maximum: got 2, want 1",
        ),
        ({"logging.format": "xml"}, "at '/logging/format'"),
        ({**TOKENS, "agent.replicas": 0}, "at '/agent/replicas': minimum: got 0, want 1"),
        ({**TOKENS, "sever": {"replicas": 1}}, "additional properties 'sever' not allowed"),
    ],
    ids=[
        "type",
        "no-cluster-id",
        "bad-cluster-id",
        "sqlite-replicas",
        "log-format",
        "zero",
        "typo",
    ],
)
def test_the_schema_refuses_bad_values_saying_where(values: dict[str, Any], message: str) -> None:
    done = helm("template", "r", str(CHART), *sets(values))
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_sqlite_with_one_replica_and_an_insecure_server_are_allowed() -> None:
    objects = render({"config.store": "sqlite", "server.replicas": 1, "server.insecure": True})
    server = find(objects, "Deployment", "-server")
    assert "--insecure" in server["spec"]["template"]["spec"]["containers"][0]["args"]


def cluster_wide_reads(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    rules = [r for o in objects if o["kind"] == "ClusterRole" for r in o["rules"]]
    return {res: sorted(r["verbs"]) for r in rules for res in r["resources"]}


def namespaced_resources(objects: list[dict[str, Any]], namespace: str) -> set[str]:
    return {
        resource
        for o in objects
        if o["kind"] == "Role" and o["metadata"].get("namespace") == namespace
        for rule in o["rules"]
        for resource in rule["resources"]
    }


def test_agent_rbac_follows_the_features() -> None:
    listed = render({**AGENT_ONLY, "agent.namespaces": ["a", "b"], "agent.maxConcurrentJobs": 5})
    roles = [o for o in listed if o["kind"] == "Role"]
    assert sorted(r["metadata"].get("namespace", "kjs") for r in roles) == ["a", "b", "kjs"]
    # Cluster-wide, only what the resource figures read: nodes, and every namespace's pods.
    assert cluster_wide_reads(listed) == {"nodes": ["list", "watch"], "pods": ["list", "watch"]}
    own_pods_only = render({**AGENT_ONLY, "agent.namespaces": ["a"], "agent.readAllPods": False})
    assert cluster_wide_reads(own_pods_only) == {"nodes": ["list", "watch"]}
    # Where it runs jobs, its pods are read through the cluster-wide rule, or else a Role's.
    assert "pods" not in namespaced_resources(listed, "a")
    assert "pods" in namespaced_resources(own_pods_only, "a")
    everywhere = render({**AGENT_ONLY, "agent.createNamespaces": True})
    cluster_rules = [r for o in everywhere if o["kind"] == "ClusterRole" for r in o["rules"]]
    resources = sorted(res for r in cluster_rules for res in r["resources"])
    assert resources == ["cronjobs", "jobs", "namespaces", "nodes", "pods", "pods/log"]


def test_every_object_is_accepted_by_a_real_apiserver(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    kubectl = binary("kubectl")
    cases = {
        "namespaced": {
            **BOTH,
            "agent.namespaces": [k8s_namespace],
            "agent.createNamespaces": True,
            "server.ingress.enabled": True,
            "server.ingress.tlsSecret": "kjs-tls",
            "secrets.mysql": "kjs-mysql",
            "secrets.webhooks": "kjs-webhooks",
        },
        "all-namespaces": {**BOTH, "agent.maxConcurrentJobs": 3},
        "defaults-and-dashboard": {"grafana.dashboard.enabled": True},
    }
    for case, values in cases.items():
        objects = render(values, namespace=k8s_namespace)
        manifest = tmp_path / f"{case}.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        done = subprocess.run(
            [
                str(kubectl),
                "--kubeconfig",
                cluster.kubeconfig,
                "--namespace",
                k8s_namespace,
                "apply",
                "--dry-run=server",
                "-f",
                str(manifest),
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{case}: {done.stderr}"
        assert done.stdout.count("(server dry run)") == len(objects), done.stdout


def test_the_dockerfile_is_lint_clean_and_its_commands_exist() -> None:
    dockerfile = CHART.parents[1] / "Dockerfile"
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The image runs `kjs <command>`; the chart passes these flags: each must exist.
    objects = render(BOTH)
    for suffix in ("-server", "-agent"):
        args = find(objects, "Deployment", suffix)["spec"]["template"]["spec"]["containers"][0]
        command, *flags = args["args"]
        help_text = subprocess.run(
            [sys.executable, "-m", "kjs", command, "--help"], capture_output=True, text=True
        ).stdout
        for flag in flags:
            assert flag.split("=")[0] in help_text, (command, flag)
    assert 'CMD ["server"' in dockerfile.read_text()
