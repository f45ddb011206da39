"""What the web UI's browser tests share: `kjs up` with tokens, a tab that records what a page
did wrong, and how a test signs in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kjs.api.auth import hash_token
from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.browser import PageWatch
from tests.live import LiveServer, kjs_up_app, live_server

ADMIN_TOKEN = "ui-admin-token"
READ_TOKEN = "ui-reader-token"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TOKENS = [
    {"name": "admin", "sha256": hash_token(ADMIN_TOKEN), "scopes": ["admin"]},
    {"name": "reader", "sha256": hash_token(READ_TOKEN), "scopes": ["read"]},
]
FINAL = ("succeeded", "failed", "cancelled", "lost")


@dataclass
class KjsUi:
    """`kjs up` on a real socket, with the API at hand as the admin."""

    live: LiveServer
    cluster_id: str

    @property
    def url(self) -> str:
        return self.live.url

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def submit(self, namespace: str, name: str, script: str, **spec: Any) -> str:
        """Submit a job that runs `sh -c script` (the test kubelet runs it as a local process)
        and return its id."""
        body = {
            "name": name,
            "namespace": namespace,
            "image": "busybox",
            "command": ["sh", "-c", script],
            **spec,
        }
        response = self.api("POST", "/api/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        job_id: str = response.json()["id"]
        return job_id

    def state(self, job_id: str) -> str:
        state: str = self.api("GET", f"/api/v1/jobs/{job_id}").json()["state"]
        return state

    def wait_for_state(self, job_id: str, *states: str, timeout: float = 60) -> str:
        def reached() -> str | None:
            state = self.state(job_id)
            return state if state in states else None

        return wait_until(
            reached,
            timeout=timeout,
            what=f"job {job_id} to be {' or '.join(states)}",
        )


def kjs_up_with_tokens(
    data_dir: Path, cluster: Cluster, extra_tokens: Sequence[dict[str, Any]] = (), **settings: Any
) -> Iterator[KjsUi]:
    """`kjs up` with the admin and read-only tokens (and `extra_tokens`, e.g. `TEAM_A`), once
    the agent's first heartbeat came."""
    tokens = [*TOKENS, *extra_tokens]
    app = kjs_up_app(data_dir, cluster.id, cluster.kubeconfig, auth={"tokens": tokens}, **settings)
    with live_server(app) as live:
        ui = KjsUi(live, cluster.id)
        wait_until(
            lambda: ui.api("GET", f"/api/v1/clusters/{cluster.id}").status_code == 200,
            timeout=30,
            what="the agent's first heartbeat",
        )
        yield ui


def expect(target: Any) -> Any:
    """Playwright's `expect` (imported when a browser test runs, not when tests are collected)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class Tab:
    """A page and what it did wrong; `allow_console` names console errors a test provokes on
    purpose (Chromium logs a 4xx answer to fetch as a failed resource)."""

    def __init__(self, page: Any, watch: PageWatch) -> None:
        self.page = page
        self.watch = watch
        self.allowed: tuple[str, ...] = ()

    def allow_console(self, *fragments: str) -> None:
        self.allowed += fragments


def sign_in(page: Any, token: str) -> None:
    """Keep `token` in the tab's sessionStorage, as the sign-in form does, before each load."""
    page.add_init_script(f"sessionStorage.setItem('kjs.token', {token!r})")


def mark_loaded(page: Any) -> None:
    """A mark a reload would wipe out: `still_loaded` tells whether the page was reloaded."""
    page.evaluate("window.__kjsNoReload = true")


def still_loaded(page: Any) -> bool:
    return bool(page.evaluate("window.__kjsNoReload === true"))


TEAM_A_TOKEN = "ui-team-a-token"
TEAM_A = {
    "name": "team-a",
    "sha256": hash_token(TEAM_A_TOKEN),
    "scopes": ["submit"],
    "namespaces": ["team-a"],
}
