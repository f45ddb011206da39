"""Without `secrets.authTokens` the chart makes an admin token, so that `helm install` with
default values gives a server that starts; upgrades keep the token; the server accepts it."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kjs.core.config import load
from kjs.testing.pytest_plugin import Cluster
from tests.helm.chart import CHART, TOKENS, find, helm, render, sets
from tests.processes import Server

SECRET = "r-kjs-admin-token"  # release "r", as chart.render names it


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def auth_env(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container = find(objects, "Deployment", "-server")["spec"]["template"]["spec"]["containers"][0]
    (env,) = [e for e in container["env"] if e["name"] == "KJS_AUTH__TOKENS"]
    return dict(env["valueFrom"]["secretKeyRef"])


def admin_tokens(token: str) -> list[dict[str, Any]]:
    sha256 = hashlib.sha256(token.encode()).hexdigest()
    return [{"name": "admin", "sha256": sha256, "scopes": ["admin"], "namespaces": []}]


def test_without_auth_tokens_the_server_gets_a_generated_admin_token() -> None:
    objects = render({})
    secret = find(objects, "Secret", "-admin-token")
    assert secret["metadata"]["name"] == SECRET
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = secret_data(secret)
    assert data["token"].startswith("kjs_") and len(data["token"]) == 44
    assert json.loads(data["tokens"]) == admin_tokens(data["token"])
    # Wired as a user's Secret would be, and the server's configuration takes it.
    assert auth_env(objects) == {"name": SECRET, "key": "tokens"}
    (token,) = load(environ={"KJS_AUTH__TOKENS": data["tokens"]}).auth.tokens
    assert token.scopes == ["admin"]
    # Each install its own: not a token shipped in the chart.
    assert secret_data(find(render({}), "Secret", "-admin-token"))["token"] != data["token"]


@pytest.mark.parametrize(
    "values",
    [
        TOKENS,
        {"server.insecure": True},
        {"server.enabled": False, "agent.enabled": True, "agent.clusterId": "c1"},
        {"config.auth.tokens": [{"name": "ci", "sha256": "0" * 64, "scopes": ["admin"]}]},
    ],
    ids=["own-tokens", "insecure", "agent-only", "tokens-in-config"],
)
def test_no_token_is_generated_when_the_server_does_not_need_one(values: dict[str, Any]) -> None:
    objects = render(values)
    assert not [o for o in objects if o["kind"] == "Secret"]


def test_a_users_auth_tokens_secret_is_the_one_the_server_reads() -> None:
    assert auth_env(render(TOKENS)) == {"name": "kjs-tokens", "key": "tokens"}


@pytest.mark.k8s
def test_install_makes_a_token_that_upgrades_keep_and_the_server_accepts(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster = k8s_clusters[0]
    home = tmp_path / "helm"
    release = ["kjs", str(CHART), "--kubeconfig", cluster.kubeconfig, "-n", k8s_namespace]
    # Only the Secret matters here: the pods stay Pending rather than run on the test kubelet.
    pending = {"server.nodeSelector": {"kjs.test/no-such-node": "true"}}

    def installed_secret() -> tuple[str, str]:
        secret = cluster.core.read_namespaced_secret("kjs-admin-token", k8s_namespace)
        data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
        return data["token"], data["tokens"]

    done = helm("install", *release, *sets(pending), home=home)
    assert done.returncode == 0, done.stderr
    assert f"kubectl -n {k8s_namespace} get secret kjs-admin-token" in done.stdout  # NOTES
    token, tokens = installed_secret()
    assert json.loads(tokens) == admin_tokens(token)

    done = helm("upgrade", *release, *sets({**pending, "server.replicas": 1}), home=home)
    assert done.returncode == 0, done.stderr
    server = client.AppsV1Api(cluster.api).read_namespaced_deployment("kjs-server", k8s_namespace)
    assert server.spec.replicas == 1  # the upgrade was applied ...
    assert installed_secret() == (token, tokens)  # ... and the token is the same

    # `helm uninstall` leaves the Secret (resource-policy keep); installing again adopts it.
    done = helm("uninstall", *release[:1], *release[2:], home=home)
    assert done.returncode == 0, done.stderr
    assert installed_secret() == (token, tokens)
    done = helm("install", *release, *sets(pending), home=home)
    assert done.returncode == 0, done.stderr
    assert installed_secret() == (token, tokens)

    # A kjs server given the installed tokens accepts the token, and nothing else.
    kjs = Server(tmp_path / "server", {"KJS_AUTH__TOKENS": tokens})
    kjs.start()
    try:
        with_token = kjs.api("GET", "/clusters", headers={"Authorization": f"Bearer {token}"})
        assert with_token.status_code == 200, with_token.text
        assert kjs.api("GET", "/clusters").status_code == 401
        wrong = kjs.api("GET", "/clusters", headers={"Authorization": f"Bearer {token}x"})
        assert wrong.status_code == 401
    finally:
        kjs.stop()
