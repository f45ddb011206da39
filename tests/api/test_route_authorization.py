"""Every route of the server against one table: the scope it needs, where its namespace comes
from, or that it is open — for no token, a `read`, a `submit` and an `admin` token (each limited
to namespace `team-a`), on a job (cron job, …) in `team-a` and in `team-b`; then in open mode (no
tokens) and for the anonymous `[auth] compat_open` client. A route the table does not name fails
the test: add its row, and make it ask `kjs.api.policy`."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core.config import load
from kjs.core.plugins import Plugins
from kjs.core.records import ClusterRecord
from kjs.server import create_app
from tests.compat_plugin import COMPAT, needs_compat

OWN, OTHER = "team-a", "team-b"


class From(enum.Enum):
    """Where a route's namespace comes from."""

    OPEN = "open: no token needed"
    BODY = "the request body"
    BATCH = "every item of the request body (one refused namespace refuses the batch)"
    LIST = "a list: other namespaces are left out"
    JOB = "the job named in the path"
    JOB_MOVE = "the job named in the path, and the body's namespace (an edit)"
    CRON = "the cron job named in the path"
    CRON_MOVE = "the cron job named in the path, and the body's namespace (an edit)"
    CLUSTERS = "none: every namespace (clusters)"
    QUEUES = "none: every namespace (queue definitions)"
    SELF = "none: the caller itself (whoami)"
    COMPAT_BODY = "the body (compatibility create)"
    COMPAT_ONCE = "the compat once job named in the path or body"
    COMPAT_CRON = "the compat cron job named in the path or body"
    COMPAT_ONCE_MOVE = "the compat once job named in the body, and the body's namespace"
    COMPAT_CRON_MOVE = "the compat cron job named in the body, and the body's namespace"
    COMPAT_LOGS = "the job or cron job named in the path or body (native ones too)"


@dataclass(frozen=True)
class Row:
    scope: str | None  # None: open
    source: From
    ok: tuple[int, ...]  # the answer when allowed (compatibility routes: HTTP 200 + envelope)


def row(scope: str | None, source: From, *ok: int) -> Row:
    return Row(scope, source, ok or (200,))


OPEN = row(None, From.OPEN)
J, C = "/api/v1/jobs", "/api/v1/cronjobs"
ROUTES: dict[tuple[str, str], Row] = {
    ("POST", J): row("submit", From.BODY, 201),
    ("POST", J + ":batch"): row("submit", From.BATCH, 201),
    ("GET", J): row("read", From.LIST),
    ("GET", J + "/{job_id:str}"): row("read", From.JOB),
    ("PATCH", J + "/{job_id:str}"): row("submit", From.JOB_MOVE),
    ("DELETE", J + "/{job_id:str}"): row("submit", From.JOB, 200, 202),
    ("POST", J + "/{job_id:str}/rerun"): row("submit", From.JOB, 201),
    ("GET", J + "/{job_id:str}/events"): row("read", From.JOB),
    ("GET", J + "/{job_id:str}/logs"): row("read", From.JOB),
    ("GET", J + "/{job_id:str}/callbacks"): row("read", From.JOB),
    # 404: the fresh job was never dispatched (no cluster has room), so it has no manifest.
    ("GET", J + "/{job_id:str}/manifest"): row("read", From.JOB, 404),
    ("POST", J + "/{job_id:str}/callbacks/redeliver"): row("submit", From.JOB, 409),
    ("POST", C): row("submit", From.BODY, 201),
    ("GET", C): row("read", From.LIST),
    ("GET", C + "/{cron_id:str}"): row("read", From.CRON),
    ("PATCH", C + "/{cron_id:str}"): row("submit", From.CRON_MOVE),
    ("DELETE", C + "/{cron_id:str}"): row("submit", From.CRON),
    ("POST", C + "/{cron_id:str}/suspend"): row("submit", From.CRON),
    ("POST", C + "/{cron_id:str}/resume"): row("submit", From.CRON),
    ("POST", C + "/{cron_id:str}/trigger"): row("submit", From.CRON, 201),
    ("GET", C + "/{cron_id:str}/runs"): row("read", From.CRON),
    ("GET", "/api/v1/clusters"): row("read", From.CLUSTERS),
    ("GET", "/api/v1/clusters/{cluster_id:str}"): row("read", From.CLUSTERS),
    ("POST", "/api/v1/clusters/{cluster_id:str}/cordon"): row("admin", From.CLUSTERS),
    ("POST", "/api/v1/clusters/{cluster_id:str}/uncordon"): row("admin", From.CLUSTERS),
    ("GET", "/api/v1/queues"): row("read", From.QUEUES),
    ("GET", "/api/v1/queues/{name:str}"): row("read", From.QUEUES),
    ("PUT", "/api/v1/queues/{name:str}"): row("admin", From.QUEUES),
    ("DELETE", "/api/v1/queues/{name:str}"): row("admin", From.QUEUES, 204),
    ("GET", "/api/v1/priority-classes"): row("read", From.QUEUES),
    ("GET", "/api/v1/whoami"): row("read", From.SELF),
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/schema"): OPEN,
    ("GET", "/schema/openapi.json"): OPEN,
    ("GET", "/schema/openapi.yaml"): OPEN,
    ("GET", "/schema/openapi.yml"): OPEN,
    ("GET", "/schema/swagger"): OPEN,
    ("GET", "/schema/redoc"): OPEN,
    ("GET", "/schema/{path:str}"): row(None, From.OPEN, 404),
    ("GET", "/schema/assets/{file:str}"): row(None, From.OPEN, 404),  # the docs' bundled files
    # The web UI plugin: its page (for every page path) and files; the data is the API's.
    ("GET", "/ui"): OPEN,
    ("GET", "/ui/{path:path}"): OPEN,
    ("GET", "/ui/assets/{file:str}"): row(None, From.OPEN, 404),
}
# The compat plugin's routes (when it is enabled: KJS_DISABLE_PLUGINS=compat runs without).
if COMPAT:
    ROUTES |= {
        ("GET", "/api/job_logs/{job_id:str}"): row("read", From.COMPAT_LOGS),
        ("POST", "/api/job_logs/{job_id:str}"): row("read", From.COMPAT_LOGS),
        ("POST", "/api/job_logs"): row("read", From.COMPAT_LOGS),
    }
for kind in ("once", "cron") if COMPAT else ():
    one = From.COMPAT_ONCE if kind == "once" else From.COMPAT_CRON
    move = From.COMPAT_ONCE_MOVE if kind == "once" else From.COMPAT_CRON_MOVE
    base = f"/api/{kind}_job"
    ROUTES |= {
        ("POST", f"{base}/create"): row("submit", From.COMPAT_BODY),
        ("POST", f"{base}/update"): row("submit", move),
        ("GET", f"{base}/lists"): row("read", From.LIST),
        ("POST", f"{base}/lists"): row("read", From.LIST),
        ("GET", f"{base}/describe/{{job_id:str}}"): row("read", one),
        ("POST", f"{base}/describe/{{job_id:str}}"): row("read", one),
        ("POST", f"{base}/describe"): row("read", one),
        ("DELETE", f"{base}/delete/{{job_id:str}}"): row("submit", one),
        ("POST", f"{base}/delete/{{job_id:str}}"): row("submit", one),
        ("POST", f"{base}/delete"): row("submit", one),
    }

# Tokens limited to team-a, one per scope; `root` (admin, every namespace) sets things up.
TOKENS = {
    "read": {"name": "r", "scopes": ["read"], "namespaces": [OWN]},
    "submit": {"name": "s", "scopes": ["submit"], "namespaces": [OWN]},
    "admin": {"name": "a", "scopes": ["admin"], "namespaces": [OWN]},
    "root": {"name": "root", "scopes": ["admin"]},
}
RANK = {"read": 0, "submit": 1, "admin": 2}
PRINCIPALS = (None, "read", "submit", "admin")  # None: no token


def headers(principal: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer secret-{principal}"} if principal else {}


def routes_of(client: TestClient[Any]) -> dict[tuple[str, str], Any]:
    """(method, path) → handler, OPTIONS (Litestar's own, for every path) left out."""
    found = {}
    for route in client.app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method != "OPTIONS":
                found[(method, route.path)] = handler
    return found


def server(
    tmp_path: Path,
    *,
    tokens: bool = True,
    compat_open: bool = False,
    open_namespaces: tuple[str, ...] = (),
) -> Iterator[TestClient[Any]]:
    configured = [{**t, "sha256": hash_token(f"secret-{key}")} for key, t in TOKENS.items()]
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path),
            "auth": {"tokens": configured if tokens else [], "compat_open": compat_open},
            "compat": {"delete_wait_s": 1.0, "open_namespaces": list(open_namespaces)},
        },
    )
    with TestClient(create_app(settings, plugins=Plugins(autoload=False))) as client:
        client.app.state.components.store.upsert_cluster(ClusterRecord(id="c1", capacity=0))
        yield client


@pytest.fixture(scope="module")
def with_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    yield from server(tmp_path_factory.mktemp("tokens"))


@pytest.fixture(scope="module")
def open_mode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    yield from server(tmp_path_factory.mktemp("open"), tokens=False)


@pytest.fixture(scope="module")
def compat_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    yield from server(tmp_path_factory.mktemp("compat"), compat_open=True, open_namespaces=(OWN,))


# -- what a request needs: a fresh job (cron job, compat record) where the case says ----------


def made(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def new_job(client: TestClient[Any], namespace: str) -> str:
    job = {"name": "j", "namespace": namespace, "image": "busybox"}
    return str(made(client.post(J, json=job, headers=headers("root")))["id"])


def cron_body(namespace: str) -> dict[str, Any]:
    return {"name": "c", "namespace": namespace, "image": "busybox", "schedule": "0 3 * * *"}


def new_cron(client: TestClient[Any], namespace: str) -> str:
    return str(made(client.post(C, json=cron_body(namespace), headers=headers("root")))["id"])


def compat_body(kind: str, namespace: str) -> dict[str, Any]:
    body = {
        "job_name": f"j-{uuid.uuid4().hex[:12]}",
        "namespace": namespace,
        "image": "busybox",
        "command": "echo,hi",
    }
    return {**body, "schedule": "0 3 * * *"} if kind == "cron" else body


def new_compat(client: TestClient[Any], kind: str, namespace: str) -> str:
    answer = made(
        client.post(
            f"/api/{kind}_job/create",
            json=compat_body(kind, namespace),
            headers=headers("root"),
        ),
        200,
    )
    assert answer["code"] == 200, answer
    return str(answer["data"]["job_id"])


Request = tuple[str, dict[str, Any] | None]


def queue_request(client: TestClient[Any], path: str) -> Request:
    """A fresh queue (made as root) to read, define again or delete."""
    if "{name:str}" not in path:
        return path, None
    name = f"q-{uuid.uuid4().hex[:12]}"
    made(client.put(f"/api/v1/queues/{name}", json={}, headers=headers("root")))
    return path.replace("{name:str}", name), {}


def request_for(client: TestClient[Any], path: str, source: From, where: str, to: str) -> Request:
    """The URL and body of a request on something in namespace `where` (moving it to `to`)."""

    def at(identifier: str, body: dict[str, Any] | None = None) -> Request:
        url = path
        for name in ("{job_id:str}", "{cron_id:str}", "{cluster_id:str}", "{path:str}"):
            url = url.replace(name, identifier)
        return url, body

    def compat_id(kind: str) -> Request:
        job_id = new_compat(client, kind, where)
        return at(job_id, {"job_id": job_id})

    builders: dict[From, Callable[[], Request]] = {
        From.OPEN: lambda: at("nothing-here"),
        From.BODY: lambda: (
            path,
            cron_body(where) if path == C else {"name": "j", "namespace": where, "image": "b"},
        ),
        From.BATCH: lambda: (
            path,
            {
                "items": [
                    {"job": {"name": "j", "namespace": ns, "image": "b"}} for ns in (OWN, where)
                ]
            },
        ),
        From.LIST: lambda: (path, {}),
        From.JOB: lambda: at(new_job(client, where)),
        From.JOB_MOVE: lambda: at(new_job(client, where), {"namespace": to}),
        From.CRON: lambda: at(new_cron(client, where)),
        From.CRON_MOVE: lambda: at(new_cron(client, where), {"namespace": to}),
        From.CLUSTERS: lambda: at("c1"),
        From.QUEUES: lambda: queue_request(client, path),
        From.SELF: lambda: (path, None),
        From.COMPAT_BODY: lambda: (path, compat_body(path.split("/")[2][:4], where)),
        From.COMPAT_ONCE: lambda: compat_id("once"),
        From.COMPAT_CRON: lambda: compat_id("cron"),
        From.COMPAT_ONCE_MOVE: lambda: (
            path,
            {**compat_body("once", to), "job_id": new_compat(client, "once", where)},
        ),
        From.COMPAT_CRON_MOVE: lambda: (
            path,
            {**compat_body("cron", to), "job_id": new_compat(client, "cron", where)},
        ),
        From.COMPAT_LOGS: lambda: compat_id("once"),
    }
    return builders[source]()


# -- what the table says a principal gets --------------------------------------------------------

MOVES = {From.JOB_MOVE, From.CRON_MOVE, From.COMPAT_ONCE_MOVE, From.COMPAT_CRON_MOVE}
# (where it is, where it goes): in one's namespace; in another; for an edit, also moved out of
# one's own, and moved from another into one's own.
TARGETS = ((OWN, OWN), (OTHER, OTHER), (OWN, OTHER), (OTHER, OWN))


def targets(source: From) -> tuple[tuple[str, str], ...]:
    if source in (From.OPEN, From.CLUSTERS, From.QUEUES, From.LIST, From.SELF):
        return ((OWN, OWN),)  # no namespace to vary (lists: both are checked in one go)
    return TARGETS if source in MOVES else TARGETS[:2]


def expected(row: Row, principal: str | None, where: str, to: str) -> int | str:
    """401, 403, or "ok" — for a token limited to team-a (`principal` its scope)."""
    if row.scope is None:
        return "ok"
    if principal is None:
        return 401
    if RANK[principal] < RANK[row.scope]:
        return 403
    if row.source in (From.CLUSTERS, From.QUEUES):
        return 403 if row.scope == "admin" else "ok"  # every namespace: not for a bound token
    return "ok" if OTHER not in (where, to) else 403


def send(client: TestClient[Any], method: str, request: Request, who: str | None) -> Any:
    url, body = request
    if method == "GET" and body:
        return client.get(url, params=body, headers=headers(who))
    return client.request(method, url, json=body, headers=headers(who))


def check(response: Any, row: Row, outcome: int | str, what: str) -> None:
    if outcome != "ok":
        assert response.status_code == outcome, (what, response.text)
        return
    assert response.status_code in row.ok, (what, response.status_code, response.text)
    if row.source.name.startswith("COMPAT"):  # the original's envelope: a success code
        assert response.json()["code"] in (0, 200), (what, response.text)


def listed_ids(client: TestClient[Any], method: str, path: str, who: str | None) -> set[str]:
    """Every id the list shows `who`, page after page."""
    found: set[str] = set()
    compat = "_job" in path
    page: dict[str, Any] = {"page_num": 1, "page_size": 500} if compat else {"limit": 500}
    while True:
        response = send(client, method, (path, page), who)
        assert response.status_code == 200, response.text
        body = response.json()
        if compat:  # the original's envelope, pages in creation order
            rows = body["data"]["data"] or []
            found |= {r["job_id"] for r in rows}
            if not rows:
                return found
            page["page_num"] += 1
        else:
            found |= {item["id"] for item in body["items"]}
            if not body["next_cursor"]:
                return found
            page["cursor"] = body["next_cursor"]


def resources_for_list(client: TestClient[Any], path: str) -> dict[str, str]:
    """One thing to list in each namespace."""
    if path == J:
        return {ns: new_job(client, ns) for ns in (OWN, OTHER)}
    if path == C:
        return {ns: new_cron(client, ns) for ns in (OWN, OTHER)}
    kind = path.split("/")[2][:4]
    return {ns: new_compat(client, kind, ns) for ns in (OWN, OTHER)}


# -- the tests ---------------------------------------------------------------------------------


def test_every_route_has_a_row_and_asks_the_policy(with_tokens: TestClient[Any]) -> None:
    served = routes_of(with_tokens)
    assert sorted(set(served) - set(ROUTES)) == [], "routes without a row: add them to ROUTES"
    assert sorted(set(ROUTES) - set(served)) == [], "rows of routes that are gone"
    for key, handler in served.items():
        actions = [g.kjs_action for g in handler.guards or [] if hasattr(g, "kjs_action")]
        scope = ROUTES[key].scope
        if scope is None:
            assert actions == [], key
        else:
            # One guard from kjs.api.policy, for the action whose scope the table names.
            from kjs.api.policy import SCOPE_OF

            assert [SCOPE_OF[a] for a in actions] == [scope], key


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_each_route_with_tokens(with_tokens: TestClient[Any], key: tuple[str, str]) -> None:
    method, path = key
    row_ = ROUTES[key]
    if row_.source is From.LIST:
        owned = resources_for_list(with_tokens, path)
        for principal in PRINCIPALS:
            outcome = expected(row_, principal, OWN, OWN)
            if outcome != "ok":
                response = send(with_tokens, method, (path, {}), principal)
                assert response.status_code == outcome, (key, principal, response.text)
                continue
            seen = listed_ids(with_tokens, method, path, principal)
            assert owned[OWN] in seen and owned[OTHER] not in seen, (key, principal)
        assert set(owned.values()) <= listed_ids(with_tokens, method, path, "root")
        return
    for principal in PRINCIPALS:
        for where, to in targets(row_.source):
            request = request_for(with_tokens, path, row_.source, where, to)
            outcome = expected(row_, principal, where, to)
            what = f"{method} {path} as {principal} on {where}->{to}"
            check(send(with_tokens, method, request, principal), row_, outcome, what)


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_each_route_in_open_mode(open_mode: TestClient[Any], key: tuple[str, str]) -> None:
    """No tokens configured: every route is open, in every namespace."""
    method, path = key
    row_ = ROUTES[key]
    if row_.source is From.LIST:
        owned = resources_for_list(open_mode, path)
        assert set(owned.values()) <= listed_ids(open_mode, method, path, None)
        return
    for where, to in targets(row_.source):
        request = request_for(open_mode, path, row_.source, where, to)
        what = f"{method} {path} open on {where}->{to}"
        check(send(open_mode, method, request, None), row_, "ok", what)


def compat_open_outcome(row: Row, where: str, to: str) -> int | str:
    """The anonymous compat_open client: compatibility routes only, `read` and `submit`, only
    in [compat] open_namespaces (team-a here)."""
    if row.scope is None:
        return "ok"
    if not row.source.name.startswith("COMPAT") and row.source is not From.LIST:
        return 401
    if row.scope == "admin":
        return 403
    return "ok" if OTHER not in (where, to) else 403


@needs_compat
@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_each_route_for_the_compat_open_client(
    compat_open: TestClient[Any], key: tuple[str, str]
) -> None:
    method, path = key
    row_ = ROUTES[key]
    compat_route = not path.startswith("/api/v1/")
    if row_.source is From.LIST:
        owned = resources_for_list(compat_open, path)
        if not compat_route:
            assert send(compat_open, method, (path, {}), None).status_code == 401
            return
        seen = listed_ids(compat_open, method, path, None)
        assert owned[OWN] in seen and owned[OTHER] not in seen
        return
    for where, to in targets(row_.source):
        request = request_for(compat_open, path, row_.source, where, to)
        what = f"{method} {path} anonymous on {where}->{to}"
        check(
            send(compat_open, method, request, None),
            row_,
            compat_open_outcome(row_, where, to),
            what,
        )


def test_options_preflights_are_open_and_show_nothing(with_tokens: TestClient[Any]) -> None:
    for _, path in ROUTES:
        url = path.replace("{job_id:str}", "x").replace("{cron_id:str}", "x")
        url = url.replace("{cluster_id:str}", "x").replace("{path:str}", "x")
        url = url.replace("{name:str}", "x")
        response = with_tokens.options(url)
        assert response.status_code == 204 and response.content == b"", (path, response.text)
