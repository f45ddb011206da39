"""kjs in its production shape, for end-to-end tests and `bench/e2e_distributed.py`: server
replicas on one MariaDB database, NSQ, one agent per test cluster, and a webhook receiver that
checks every signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from kjs.testing.procs import free_port
from tests.processes import KjsProcess, Server, nsq_environment

WEBHOOK_SECRET = "e2e-webhook-secret"


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty MariaDB database for one deployment; its URL."""
    name = f"kjs_e2e_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, pool_pre_ping=True)  # the server may restart meanwhile
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        yield admin_url + name
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


@dataclass(frozen=True)
class Delivery:
    event_id: str
    job_id: str
    event: str
    received_at: float


class WebhookReceiver:
    """Accepts signed webhooks on a fixed port; can go down (connections refused) and come back."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        self.secret = secret.encode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.deliveries: list[Delivery] = []
        self.rejected: list[str] = []  # why each refused request was refused
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def _check(self, headers: Any, body: bytes) -> Delivery | str:
        try:
            fields = dict(part.split("=", 1) for part in headers["X-Kjs-Signature"].split(","))
            payload = json.loads(body)
        except (AttributeError, ValueError) as e:
            return f"malformed: {e}"
        expected = hmac.new(self.secret, f"{fields.get('t')}.".encode() + body, hashlib.sha256)
        if not hmac.compare_digest(fields.get("v1", ""), expected.hexdigest()):
            return "bad signature"
        if headers["X-Kjs-Event-Id"] != payload["event_id"]:
            return "event id header and body differ"
        return Delivery(payload["event_id"], payload["job"]["id"], payload["event"], time.time())

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a killed leader): no answer
                    return
                checked = receiver._check(self.headers, body)
                with receiver._lock:
                    if isinstance(checked, Delivery):
                        receiver.deliveries.append(checked)
                    else:
                        receiver.rejected.append(checked)
                self.send_response(204 if isinstance(checked, Delivery) else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def first_delivery(self) -> dict[str, Delivery]:
        """The first delivery of each event id."""
        with self._lock:
            first: dict[str, Delivery] = {}
            for d in self.deliveries:
                first.setdefault(d.event_id, d)
            return first

    @property
    def duplicates(self) -> int:
        with self._lock:
            return len(self.deliveries) - len({d.event_id for d in self.deliveries})


class Deployment:
    """Server replicas and agents as real processes, sharing one database and NSQ."""

    def __init__(
        self,
        environment: dict[str, Any],
        database_url: str,
        workdir: Path,
        namespace: str,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.environment, self.workdir = environment, workdir
        self.env = {
            **nsq_environment(environment["nsq"]),
            "KJS_STORE": "mysql",
            "KJS_MYSQL__URL": database_url,
            "KJS_AGENT__LEASE_NAMESPACE": namespace,
            "KJS_AGENT__HEARTBEAT_S": "1",
            "KJS_WEBHOOKS__SECRET": WEBHOOK_SECRET,
            "KJS_WEBHOOKS__ALLOW_PRIVATE": "true",
            **(settings or {}),
        }
        self.replicas: list[Server] = []
        self.agents: dict[str, KjsProcess] = {}

    def start_replica(self) -> Server:
        replica = Server(self.workdir / f"server{len(self.replicas) + 1}", self.env)
        # One after the other: the first one to start migrates the database.
        self.replicas.append(replica)
        replica.start()
        return replica

    def start_agent(self, cluster_id: str, capacity: int) -> KjsProcess:
        """The agent of one test cluster; a restart reuses its arguments and data directory."""
        (cluster,) = [c for c in self.environment["clusters"] if c["id"] == cluster_id]
        agent = self.agents.get(cluster_id)
        if agent is None:
            agent = KjsProcess(
                [
                    "agent",
                    "--cluster-id",
                    cluster_id,
                    "--kubeconfig",
                    cluster["kubeconfig"],
                    "--data-dir",
                    str(self.workdir / f"agent-{cluster_id}"),
                    "--metrics-port",
                    str(free_port()),
                ],
                {**self.env, "KJS_AGENT__MAX_CONCURRENT_JOBS": str(capacity)},
                self.workdir / f"agent-{cluster_id}.log",
                ready=lambda p: True,
            )
            self.agents[cluster_id] = agent
        return agent.start()

    def live_replicas(self) -> list[Server]:
        return [r for r in self.replicas if r.proc is not None and r.proc.poll() is None]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer of the first replica that answers at all (any replica serves any route)."""
        error: Exception | None = None
        for replica in self.live_replicas():
            try:
                return replica.api(method, path, **kwargs)
            except httpx.TransportError as e:
                error = e
        raise AssertionError(f"no replica answers {method} {path}: {error}")

    def submit(self, job: dict[str, Any], key: str, deadline_s: float = 120) -> dict[str, Any]:
        """Submit until a replica accepts it, as a careful client does through outages: the
        Idempotency-Key makes every retry the same submission."""
        deadline = time.monotonic() + deadline_s
        while True:
            for replica in self.live_replicas():
                try:
                    r = replica.api("POST", "/jobs", json=job, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    continue
                if r.status_code in (200, 201):
                    return dict(r.json())
                assert r.status_code >= 500, r.text  # a 4xx would be a bug of the test
            assert time.monotonic() < deadline, f"no replica accepted {key} in {deadline_s} s"
            time.sleep(0.5)  # every replica is down or failing: the outage has to end first

    def jobs(self, ids: list[str]) -> list[dict[str, Any]]:
        return [self.api("GET", f"/jobs/{job_id}").json() for job_id in ids]

    def stop(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        for replica in reversed(self.replicas):
            replica.stop()
