"""Kubernetes control planes for the agent tests: one etcd, and per cluster a kube-apiserver,
a kube-controller-manager and our process-running kubelet (`kjs.testing.kubelet`)."""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kjs.testing import certs, procs
from kjs.testing.build import binary

CONTROLLERS = (
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",  # completes the foreground deletions of ttl-after-finished
    "namespace-controller",
)
# Only written into the `kubernetes` Service's endpoints, which nothing here dials; loopback is
# refused there, and with `--endpoint-reconciler-type=none` no route to it is needed.
_ADVERTISE_ADDRESS = "198.18.0.1"


def _get(
    url: str,
    *,
    token: str | None = None,
    ca_file: Path | None = None,
    method: str = "GET",
    body: dict[str, Any] | None = None,
) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    if url.startswith("https") and ctx is None:
        ctx = ssl._create_unverified_context()  # self-signed probe target of our own
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10, context=ctx) as resp:
        return int(resp.status), resp.read()


def write_kubeconfig(path: Path, name: str, server: str, ca_file: Path, token: str) -> Path:
    """A kubeconfig (JSON is valid YAML) with one cluster, one token user and one context."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(json.dumps(config, indent=1))
    path.chmod(0o600)
    return path


def start_etcd(directory: Path) -> str:
    """One etcd for every cluster (each apiserver has its own prefix); returns its client URL."""
    client, peer = procs.free_port(), procs.free_port()
    url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    proc = procs.start(
        directory,
        "etcd",
        [
            str(binary("etcd")),
            "--name=testenv",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=testenv={peer_url}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
    )
    procs.wait_ready(proc, lambda: b'"health":"true"' in _get(f"{url}/health")[1])
    return url


def start_cluster(
    directory: Path, cluster_id: str, etcd_url: str, *, compacts: bool, node_pods: int = 110
) -> dict[str, Any]:
    """Start one cluster's apiserver, controller-manager and kubelet; returns its env.json entry."""
    home = directory / cluster_id
    home.mkdir(parents=True, exist_ok=True)
    ca = certs.make_ca(home, f"{cluster_id}-ca")
    api_cert, api_key = certs.make_serving_cert(home, "apiserver", ca, "kube-apiserver")
    sa_pub, sa_key = certs.make_signing_keypair(home)
    tokens = {who: secrets.token_hex(16) for who in ("admin", "kcm", "kubelet")}
    (home / "tokens.csv").write_text(
        "".join(f'{t},{who},{who},"system:masters"\n' for who, t in tokens.items())
    )
    port = procs.free_port()
    server = f"https://127.0.0.1:{port}"
    apiserver = procs.start(
        directory,
        f"{cluster_id}-apiserver",
        [
            str(binary("kube-apiserver")),
            f"--etcd-servers={etcd_url}",
            f"--etcd-prefix=/{cluster_id}",
            # Each apiserver compacts the whole shared keyspace; one doing it is enough.
            *([] if compacts else ["--etcd-compaction-interval=0"]),
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={home}",
            f"--tls-cert-file={api_cert}",
            f"--tls-private-key-file={api_key}",
            f"--advertise-address={_ADVERTISE_ADDRESS}",
            "--endpoint-reconciler-type=none",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            f"--token-auth-file={home / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            # No ServiceAccount controller runs, so no `default` SA exists to admit pods against.
            "--disable-admission-plugins=ServiceAccount",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            "--v=1",
        ],
    )
    procs.wait_ready(
        apiserver,
        lambda: _get(f"{server}/readyz", token=tokens["admin"], ca_file=ca[0])[0] == 200,
        timeout=120,
    )
    admin_kubeconfig = write_kubeconfig(
        home / "admin.kubeconfig", cluster_id, server, ca[0], tokens["admin"]
    )
    kcm_kubeconfig = write_kubeconfig(
        home / "kcm.kubeconfig", cluster_id, server, ca[0], tokens["kcm"]
    )
    kcm_port = procs.free_port()
    kcm = procs.start(
        directory,
        f"{cluster_id}-controller-manager",
        [
            str(binary("kube-controller-manager")),
            f"--kubeconfig={kcm_kubeconfig}",
            f"--authentication-kubeconfig={kcm_kubeconfig}",
            f"--authorization-kubeconfig={kcm_kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={home / 'kcm'}",
            "--kube-api-qps=100",
            "--kube-api-burst=200",
            "--profiling=false",
            "--v=1",
        ],
    )
    procs.wait_ready(kcm, lambda: _get(f"https://127.0.0.1:{kcm_port}/healthz")[0] == 200)
    node = f"{cluster_id}-node"
    kubelet_cert, kubelet_key = certs.make_serving_cert(home, "kubelet", ca, node)
    kubelet_port = procs.free_port()
    kubelet_kubeconfig = write_kubeconfig(
        home / "kubelet.kubeconfig", cluster_id, server, ca[0], tokens["kubelet"]
    )
    kubelet = procs.start(
        directory,
        f"{cluster_id}-kubelet",
        [
            sys.executable,
            "-m",
            "kjs.testing.kubelet",
            f"--kubeconfig={kubelet_kubeconfig}",
            f"--node={node}",
            f"--port={kubelet_port}",
            f"--pods={node_pods}",
            f"--tls-cert={kubelet_cert}",
            f"--tls-key={kubelet_key}",
            f"--work-dir={home / 'kubelet'}",
        ],
    )

    def node_ready() -> bool:
        status, body = _get(f"{server}/api/v1/nodes/{node}", token=tokens["admin"], ca_file=ca[0])
        conditions = json.loads(body).get("status", {}).get("conditions", [])
        return status == 200 and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )

    procs.wait_ready(kubelet, node_ready, timeout=60)
    return {
        "id": cluster_id,
        "kubeconfig": str(admin_kubeconfig),
        "server": server,
        "ca_file": str(ca[0]),
        "token": tokens["admin"],
        "node": node,
    }


def up(directory: Path, clusters: int) -> dict[str, Any]:
    """Start etcd and `clusters` control planes; returns the `etcd` and `clusters` sections."""
    etcd_url = start_etcd(directory)
    entries = [
        start_cluster(directory, f"c{i}", etcd_url, compacts=(i == 1))
        for i in range(1, clusters + 1)
    ]
    return {"etcd": etcd_url, "clusters": entries}


def service_account_kubeconfig(
    directory: Path,
    cluster: dict[str, Any],
    namespace: str,
    service_account: str,
    *,
    expiration_seconds: int = 86400,
) -> Path:
    """A kubeconfig that acts as `namespace/service_account`, with a TokenRequest token.

    The namespace and ServiceAccount are created when missing; RBAC is left to the caller."""
    server, ca, admin = cluster["server"], Path(cluster["ca_file"]), cluster["token"]

    def create(path: str, body: dict[str, Any]) -> None:
        try:
            _get(server + path, token=admin, ca_file=ca, method="POST", body=body)
        except urllib.error.HTTPError as e:
            if e.code != 409:  # already there
                raise

    create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": service_account}}
    )
    _, body = _get(
        f"{server}/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
        token=admin,
        ca_file=ca,
        method="POST",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        },
    )
    token = json.loads(body)["status"]["token"]
    out = directory / "tokens"
    out.mkdir(parents=True, exist_ok=True)
    name = f"{cluster['id']}-{namespace}-{service_account}"
    return write_kubeconfig(out / f"{name}.kubeconfig", cluster["id"], server, ca, token)
