"""The chart's agent RBAC is enough and nothing more: a real agent with the chart's
ServiceAccount token goes through the whole life cycle; then with each rule's verb removed in
turn, a named step of that life cycle fails.

The agent runs in-process (beside a server, sharing its in-memory queue) but talks to the test
apiserver only with the ServiceAccount's token, under a Lease in the release's namespace.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from kjs.core.config import load
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.helm.chart import render
from tests.live import kjs_up_app

pytestmark = [pytest.mark.k8s, pytest.mark.slow]
CLUSTER_ID = "rbac"
STEP_TIMEOUT_S = 8.0
# Once a run with every rule granted has shown how long each step takes here.
STEP_LIMIT_FACTOR = 3.0
MIN_STEP_LIMIT_S = 3.0


class StepFailed(AssertionError):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


@contextmanager
def kjs_with_agent(
    kubeconfig: Path, lease_namespace: str, tmp_path: Path, **agent_settings: Any
) -> Iterator[TestClient[Any]]:
    agent = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path),
            "election": "lease",  # as deployed: two replicas share a Lease
            "agent": {
                "heartbeat_s": 1.0,
                "resync_s": 5.0,
                "lease_namespace": lease_namespace,
                "lease_s": 4.0,
                **agent_settings,
            },
        },
    )
    app = kjs_up_app(tmp_path, CLUSTER_ID, str(kubeconfig), agent_settings=agent)
    with TestClient(app) as client:
        yield client


class Steps:
    """Waits for each step of a life cycle within its time limit (STEP_TIMEOUT_S unless
    `limits` names one), and notes how long each took."""

    def __init__(self, limits: dict[str, float] | None = None) -> None:
        self.limits = limits or {}
        self.took: dict[str, float] = {}

    def __call__(self, name: str, probe: Any) -> Any:
        started = time.monotonic()
        try:
            found = wait_until(probe, timeout=self.limits.get(name, STEP_TIMEOUT_S), what=name)
        except AssertionError as e:
            raise StepFailed(name, str(e)) from None
        self.took[name] = time.monotonic() - started
        return found

    def limits_after(self) -> dict[str, float]:
        """Limits for the runs after this one (all granted): each step gets several times what
        it took here, so a missing verb fails in seconds, not STEP_TIMEOUT_S, while a granted
        step keeps room to be slower than it was."""
        return {
            name: min(STEP_TIMEOUT_S, max(MIN_STEP_LIMIT_S, STEP_LIMIT_FACTOR * took))
            for name, took in self.took.items()
        }


def life_cycle(
    client: TestClient[Any], cluster: Cluster, namespace: str, lease_namespace: str, step: Steps
) -> None:
    """Lease, create, watch, logs, cancel (delete), a native CronJob's create, suspend and
    delete, and the cluster's resources reported whole from unbroken watches; raises
    StepFailed naming the first step that does not happen."""
    restarts_before = watch_restarts()
    resource_restarts_before = watch_restarts(RESOURCE_WATCHES)
    step("lease", lambda: client.get(f"/api/v1/clusters/{CLUSTER_ID}").status_code == 200)

    def renewed() -> bool:
        lease = cluster.coordination.read_namespaced_lease(
            f"kjs-agent-{CLUSTER_ID}", lease_namespace
        )
        return bool(lease.spec.renew_time - lease.spec.acquire_time >= dt.timedelta(seconds=1))

    step("renew lease", renewed)

    def job(script: str) -> str:
        body = {
            "name": "rbac",
            "namespace": namespace,
            "image": "busybox",
            "command": ["sh", "-c", script],
            "log_collect": "always",
        }
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def state(job_id: str) -> str:
        return str(client.get(f"/api/v1/jobs/{job_id}").json()["state"])

    hello = job("echo hello from rbac")
    step("create job", lambda: state(hello) in ("created", "running", "succeeded"))
    # Watching, not re-listing every second after a refused watch.
    step(
        "watch jobs and pods",
        lambda: state(hello) == "succeeded" and watch_restarts() == restarts_before,
    )
    step("read logs", lambda: "hello from rbac" in client.get(f"/api/v1/jobs/{hello}/logs").text)
    long = job("sleep 60")
    step("watch running", lambda: state(long) == "running")
    assert client.delete(f"/api/v1/jobs/{long}").status_code == 202
    k8s_name = client.get(f"/api/v1/jobs/{long}").json()["k8s_name"]

    def deleted() -> bool:
        names = {j.metadata.name for j in cluster.batch.list_namespaced_job(namespace).items}
        return state(long) == "cancelled" and k8s_name not in names

    step("delete job", deleted)

    cron = client.post(
        "/api/v1/cronjobs",
        json={
            "name": "rbac-cron",
            "namespace": namespace,
            "image": "busybox",
            "command": ["true"],
            "schedule": "0 0 1 1 *",
            "mode": "native",
        },
    ).json()

    def cronjob() -> Any:
        items = cluster.batch.list_namespaced_cron_job(namespace).items
        return next((c for c in items if c.metadata.name == cron["k8s_name"]), None)

    step("create cronjob", cronjob)
    client.post(f"/api/v1/cronjobs/{cron['id']}/suspend")
    step("suspend cronjob", lambda: (c := cronjob()) is not None and c.spec.suspend)
    client.delete(f"/api/v1/cronjobs/{cron['id']}")
    step("delete cronjob", lambda: cronjob() is None)

    # Last: by now a refused node or pod watch has restarted (its list may have worked).
    def resources_reported() -> bool:
        resources = client.get(f"/api/v1/clusters/{CLUSTER_ID}").json()["resources"]
        whole = resources is not None and not resources["partial"]
        return whole and watch_restarts(RESOURCE_WATCHES) == resource_restarts_before

    step("report resources", resources_reported)


RESOURCE_WATCHES = ("nodes", "bound_pods")


def watch_restarts(kinds: tuple[str, ...] = ("jobs", "pods")) -> float:
    return sum(
        REGISTRY.get_sample_value(
            "kjs_agent_watch_restarts_total", {"cluster": CLUSTER_ID, "kind": kind}
        )
        or 0.0
        for kind in kinds
    )


def agent_rbac(namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's agent RBAC objects, released into `namespace` (its Lease lives there)."""
    objects = render(
        {"server.enabled": False, "agent.enabled": True, "agent.clusterId": CLUSTER_ID, **values},
        namespace=namespace,
    )
    return [o for o in objects if o["kind"] in ("ServiceAccount", *RBAC_API)]


RBAC_API = {  # kind -> (create, replace, delete, namespaced) of RbacAuthorizationV1Api
    "Role": ("create_namespaced_role", "replace_namespaced_role", "delete_namespaced_role", True),
    "RoleBinding": (
        "create_namespaced_role_binding",
        "replace_namespaced_role_binding",
        "delete_namespaced_role_binding",
        True,
    ),
    "ClusterRole": ("create_cluster_role", "replace_cluster_role", "delete_cluster_role", False),
    "ClusterRoleBinding": (
        "create_cluster_role_binding",
        "replace_cluster_role_binding",
        "delete_cluster_role_binding",
        False,
    ),
}


def apply(cluster: Cluster, namespace: str, objects: list[dict[str, Any]]) -> None:
    """Create or replace each object (admin credentials)."""
    for o in objects:
        name, kind = o["metadata"]["name"], o["kind"]
        if kind == "ServiceAccount":
            try:
                cluster.core.create_namespaced_service_account(namespace, o)
            except ApiException as e:
                assert e.status == 409
            continue
        create, replace = (getattr(cluster.rbac, n) for n in RBAC_API[kind][:2])
        namespaced = RBAC_API[kind][3]
        try:
            create(namespace, o) if namespaced else create(o)
        except ApiException as e:
            assert e.status == 409
            replace(name, namespace, o) if namespaced else replace(name, o)


def remove_cluster_wide(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    for o in objects:
        if o["kind"].startswith("Cluster"):
            getattr(cluster.rbac, RBAC_API[o["kind"]][2])(o["metadata"]["name"])


def without(objects: list[dict[str, Any]], role: str, rule: int, verb: str) -> list[dict[str, Any]]:
    changed = copy.deepcopy(objects)
    for o in changed:
        if o["kind"] in ("Role", "ClusterRole") and o["metadata"]["name"] == role:
            verbs = o["rules"][rule]["verbs"]
            verbs.remove(verb)
            if not verbs:
                del o["rules"][rule]
    return changed


def forget_lease(cluster: Cluster, namespace: str) -> None:
    """Each run starts without the Lease, so that creating it is part of the life cycle."""
    try:
        cluster.coordination.delete_namespaced_lease(f"kjs-agent-{CLUSTER_ID}", namespace)
    except ApiException as e:
        assert e.status == 404


def prove(
    cluster: Cluster,
    rbac: list[dict[str, Any]],
    lease_namespace: str,
    roles: list[str],
    run: Any,
) -> dict[tuple[str, str], str]:
    """Apply `rbac` and run the life cycle; then, for each verb of the `roles`' rules, run it
    again without that verb. Returns the step each verb's absence broke, by (resource, verb)
    (a ClusterRole's resource marked `cluster-wide`)."""
    apply(cluster, lease_namespace, rbac)
    granted = Steps()
    run(rbac, "everything", granted)  # everything granted: every step happens (or this raises)
    limits = granted.limits_after()
    print(f"steps took {granted.took}; limits from now on {limits}")
    seen: dict[tuple[str, str], str] = {}
    for role in [o for o in rbac if "rules" in o and o["metadata"]["name"] in roles]:
        for i, rule in enumerate(role["rules"]):
            for resource in rule["resources"]:
                name = resource if role["kind"] == "Role" else f"cluster-wide {resource}"
                for verb in rule["verbs"]:
                    apply(
                        cluster, lease_namespace, without(rbac, role["metadata"]["name"], i, verb)
                    )
                    try:
                        run(rbac, f"without-{resource.replace('/', '-')}-{verb}", Steps(limits))
                        seen[(name, verb)] = "nothing failed: an unused rule"
                    except StepFailed as failed:
                        seen[(name, verb)] = failed.step
    apply(cluster, lease_namespace, rbac)
    return seen


def runner(cluster: Cluster, lease_namespace: str, tmp_path: Path, **agent: Any) -> Any:
    """A life cycle run with the chart's ServiceAccount, jobs in `agent.namespaces` or (when
    that is empty) in a new namespace of the run's own."""
    created: list[str] = []

    def run(rbac: list[dict[str, Any]], name: str, step: Steps) -> None:
        (account,) = [o["metadata"]["name"] for o in rbac if o["kind"] == "ServiceAccount"]
        kubeconfig = cluster.service_account_kubeconfig(lease_namespace, account)
        forget_lease(cluster, lease_namespace)
        namespaces = agent.get("namespaces") or []
        namespace = namespaces[0] if namespaces else f"{lease_namespace}-{len(created)}"
        created.append(namespace)
        with kjs_with_agent(kubeconfig, lease_namespace, tmp_path / name, **agent) as client:
            life_cycle(client, cluster, namespace, lease_namespace, step)

    run.created = created  # type: ignore[attr-defined]
    return run


# Which step each verb is for (the first step that fails without it).
NAMESPACED = {
    ("jobs", "create"): "create job",
    ("jobs", "list"): "watch jobs and pods",
    ("jobs", "watch"): "watch jobs and pods",
    ("jobs", "delete"): "delete job",
    ("cronjobs", "create"): "create cronjob",
    ("cronjobs", "patch"): "suspend cronjob",
    ("cronjobs", "delete"): "delete cronjob",
    ("pods/log", "get"): "read logs",
    ("leases", "create"): "lease",
    ("leases", "get"): "lease",
    ("leases", "update"): "renew lease",
    # The resource figures: nodes, and every namespace's pods (not only the agent's: its
    # namespaces' pods are read through this rule too).
    ("cluster-wide nodes", "list"): "report resources",
    ("cluster-wide nodes", "watch"): "report resources",
    ("cluster-wide pods", "list"): "watch jobs and pods",
    ("cluster-wide pods", "watch"): "watch jobs and pods",
}
CLUSTER_WIDE_FEATURES = {
    ("cluster-wide nodes", "list"): "create job",  # no capacity known: it takes no work
    ("cluster-wide nodes", "watch"): "report resources",
    ("cluster-wide namespaces", "create"): "create job",
}


def test_an_agent_limited_to_a_namespace_needs_every_rule_and_no_more(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    values = {"agent.namespaces": [k8s_namespace], "agent.maxConcurrentJobs": 4}
    rbac = agent_rbac(k8s_namespace, values)
    # Cluster-wide, only the reads of the resource figures.
    (reads,) = [o for o in rbac if o["kind"] == "ClusterRole"]
    assert {v for rule in reads["rules"] for v in rule["verbs"]} == {"list", "watch"}
    roles = [o["metadata"]["name"] for o in rbac if o["kind"] in ("Role", "ClusterRole")]
    run = runner(
        cluster, k8s_namespace, tmp_path, namespaces=[k8s_namespace], max_concurrent_jobs=4
    )
    try:
        assert prove(cluster, rbac, k8s_namespace, roles, run) == NAMESPACED
    finally:
        remove_cluster_wide(cluster, rbac)


def test_an_agent_that_may_read_only_its_namespaces_pods_reports_partial_resources(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    values = {
        "agent.namespaces": [k8s_namespace],
        "agent.maxConcurrentJobs": 4,
        "agent.readAllPods": False,
    }
    rbac = agent_rbac(k8s_namespace, values)
    apply(cluster, k8s_namespace, rbac)
    (account,) = [o["metadata"]["name"] for o in rbac if o["kind"] == "ServiceAccount"]
    kubeconfig = cluster.service_account_kubeconfig(k8s_namespace, account)
    forget_lease(cluster, k8s_namespace)
    agent = {"namespaces": [k8s_namespace], "max_concurrent_jobs": 4}
    try:
        with kjs_with_agent(kubeconfig, k8s_namespace, tmp_path, **agent) as client:
            resources = Steps()(
                "report resources",
                lambda: client.get(f"/api/v1/clusters/{CLUSTER_ID}").json().get("resources"),
            )
            assert resources["partial"] is True and resources["allocatable"]["cpu_millis"] > 0
    finally:
        remove_cluster_wide(cluster, rbac)


def test_node_reads_and_namespace_creation_are_needed_exactly_when_enabled(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    values = {"agent.createNamespaces": True, "agent.maxConcurrentJobs": 0}
    rbac = agent_rbac(k8s_namespace, values)
    (features,) = [
        o["metadata"]["name"]
        for o in rbac
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-cluster")
    ]
    run = runner(cluster, k8s_namespace, tmp_path, create_namespaces=True, max_concurrent_jobs=0)
    try:
        assert prove(cluster, rbac, k8s_namespace, [features], run) == CLUSTER_WIDE_FEATURES
    finally:
        remove_cluster_wide(cluster, rbac)
        for namespace in run.created:
            try:
                cluster.core.delete_namespace(namespace)
            except ApiException as e:
                assert e.status == 404
