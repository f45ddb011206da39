"""Leases and RBAC on the test clusters are the real thing, as the agent will meet them."""

from __future__ import annotations

import datetime as dt

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kjs.testing.pytest_plugin import Cluster

pytestmark = pytest.mark.k8s


def lease_body(holder: str, renewed: dt.datetime) -> dict[str, object]:
    return {
        "metadata": {"name": "kjs-agent"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": renewed.isoformat(),
            "renewTime": renewed.isoformat(),
        },
    }


def test_a_lease_can_be_created_and_renewed(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    leases = k8s_clusters[0].coordination
    first = dt.datetime.now(dt.UTC).replace(microsecond=123000)
    created = leases.create_namespaced_lease(k8s_namespace, lease_body("agent-a", first))
    later = first + dt.timedelta(seconds=5)
    renewed_body = lease_body("agent-a", later)
    renewed_body["metadata"] = {
        "name": "kjs-agent",
        "resourceVersion": created.metadata.resource_version,
    }
    leases.replace_namespaced_lease("kjs-agent", k8s_namespace, renewed_body)
    lease = leases.read_namespaced_lease("kjs-agent", k8s_namespace)
    assert lease.spec.holder_identity == "agent-a"
    assert lease.spec.renew_time == later
    # A writer holding the old resourceVersion loses: this is what makes the election safe.
    stale = lease_body("agent-b", later)
    stale["metadata"] = {"name": "kjs-agent", "resourceVersion": created.metadata.resource_version}
    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease("kjs-agent", k8s_namespace, stale)
    assert conflict.value.status == 409


def test_rbac_is_enforced_for_service_account_tokens(
    k8s_clusters: list[Cluster], k8s_namespace: str
) -> None:
    cluster = k8s_clusters[0]
    cluster.rbac.create_namespaced_role(
        k8s_namespace,
        {
            "metadata": {"name": "job-reader"},
            "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]}],
        },
    )
    cluster.rbac.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "job-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "job-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": k8s_namespace}],
        },
    )
    kubeconfig = cluster.service_account_kubeconfig(k8s_namespace, "reader")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        batch = client.BatchV1Api(api)
        assert batch.list_namespaced_job(k8s_namespace).items == []  # allowed by the Role
        job = {
            "metadata": {"name": "nope"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
                }
            },
        }
        with pytest.raises(ApiException) as refused:
            batch.create_namespaced_job(k8s_namespace, job)
        assert refused.value.status == 403
        assert f"system:serviceaccount:{k8s_namespace}:reader" in refused.value.body
    finally:
        api.close()
