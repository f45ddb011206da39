"""The watch API (`GET /api/v1/jobs?watch=true`, `GET /api/v1/jobs/{id}/events?watch=true`) on
a real socket: NDJSON lines, resuming from the last seq across a server restart, 410 for a cursor
the server cannot resume from, tokens' namespaces."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kjs.api.auth import hash_token
from kjs.core.config import load
from kjs.server import create_app
from kjs.testing.waiting import wait_until
from tests.live import LiveServer, live_server

JOB = {"name": "hello", "namespace": "ops", "image": "busybox", "command": ["true"]}
TOKENS = [
    {"name": "root", "sha256": hash_token("root"), "scopes": ["admin"]},
    {"name": "ops", "sha256": hash_token("ops"), "scopes": ["read"], "namespaces": ["ops"]},
]


@contextmanager
def server(data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    settings = load(environ={}, overrides={"data_dir": str(data_dir), **overrides})
    with live_server(create_app(settings)) as live:
        yield live


class Stream:
    """The lines of a streaming answer, read by a thread of its own as they arrive."""

    def __init__(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.status: int | None = None
        self._started = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=30))
        # A daemon: a test that is done with a stream leaves it (a blocked read is not
        # interrupted by closing the client); the server ends it when it stops.
        self._thread = threading.Thread(target=self._read, args=(url, params, headers), daemon=True)
        self._thread.start()
        self._started.wait(10)

    def _read(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, params=params, headers=headers) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self._started.set()
                for line in response.iter_lines():
                    if line:
                        self.lines.put(json.loads(line))
        except httpx.HTTPError:
            pass  # closed by the test, or the server stopped
        finally:
            self._started.set()
            self.lines.put(None)  # the end

    def next(self, timeout: float = 10) -> dict[str, Any] | None:
        return self.lines.get(timeout=timeout)

    def items(self, count: int) -> list[dict[str, Any]]:
        """The next `count` lines that are not bookmarks."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            line = self.next()
            assert line is not None, f"the stream ended after {found}"
            if line["type"] != "BOOKMARK":
                found.append(line)
        return found

    def close(self) -> None:
        self._client.close()


@contextmanager
def watching(
    live: LiveServer, path: str = "/api/v1/jobs", token: str | None = None, **params: Any
) -> Iterator[Stream]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    stream = Stream(live.url + path, {"watch": "true", **params}, headers)
    try:
        yield stream
    finally:
        stream.close()


def submit(live: LiveServer, token: str | None = None, **fields: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = live.post("/api/v1/jobs", json={**JOB, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def cancel(live: LiveServer, job_id: str) -> None:
    assert httpx.delete(f"{live.url}/api/v1/jobs/{job_id}", timeout=10).status_code in (200, 202)


def test_a_watch_from_a_list_s_cursor_sees_each_change_after_the_list(tmp_path: Path) -> None:
    with server(tmp_path) as live:
        before = submit(live, name="before")
        page = live.get("/api/v1/jobs").json()
        assert [j["id"] for j in page["items"]] == [before["id"]]
        with watching(live, watch_cursor=page["watch_cursor"]) as stream:
            assert stream.status == 200 and stream.content_type.startswith("application/x-ndjson")
            first = stream.next()
            assert first == {"type": "BOOKMARK", "seq": int(page["watch_cursor"])}
            new = submit(live, name="new")
            cancel(live, before["id"])
            added, modified = stream.items(2)
        assert (added["type"], added["job"]["id"], added["job"]["state"]) == (
            "ADDED",
            new["id"],
            "pending",
        )
        assert (modified["type"], modified["job"]["id"], modified["job"]["state"]) == (
            "MODIFIED",
            before["id"],
            "cancelled",
        )
        assert first["seq"] < added["seq"] < modified["seq"]


def test_a_watch_resumed_after_a_server_restart_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    with server(tmp_path) as live:
        start = live.get("/api/v1/jobs").json()["watch_cursor"]
        with watching(live, watch_cursor=start) as stream:
            for i in range(3):
                submit(live, name=f"a{i}")
            seen = stream.items(3)
        last = seen[-1]["seq"]
        # While nobody watches: more changes, then the server goes away.
        later = [submit(live, name=f"b{i}") for i in range(2)]
        cancel(live, seen[0]["job"]["id"])
    with server(tmp_path) as live:  # a new process on the same store
        cancel(live, later[0]["id"])
        with watching(live, watch_cursor=str(last)) as stream:
            resumed = stream.items(3)
            submit(live, name="c")
            (live_item,) = stream.items(1)
    assert [(i["type"], i["job"]["name"], i["job"]["state"]) for i in resumed] == [
        ("ADDED", "b1", "pending"),
        ("MODIFIED", "a0", "cancelled"),
        ("ADDED", "b0", "cancelled"),  # created and cancelled since: one item, as it is now
    ]
    assert (live_item["type"], live_item["job"]["name"]) == ("ADDED", "c")
    seqs = [i["seq"] for i in [*seen, *resumed, live_item]]
    assert seqs == sorted(set(seqs))  # increasing: nothing repeated


def test_a_watch_takes_the_list_filters(tmp_path: Path) -> None:
    with (
        server(tmp_path) as live,
        watching(live, watch_cursor="0", label="team=data", state="pending") as stream,
    ):
        submit(live, name="other", labels={"team": "web"})
        wanted = submit(live, name="wanted", labels={"team": "data"})
        (item,) = stream.items(1)
        assert item["job"]["id"] == wanted["id"]
        cancel(live, wanted["id"])  # no longer pending: the filter drops it
        marker = submit(live, name="marker", labels={"team": "data"})
        (next_item,) = stream.items(1)
        assert next_item["job"]["id"] == marker["id"]


def test_a_cursor_the_server_cannot_resume_from_is_410_and_a_malformed_one_400(
    tmp_path: Path,
) -> None:
    with server(tmp_path) as live:
        position = int(live.get("/api/v1/jobs").json()["watch_cursor"])
        future = live.get("/api/v1/jobs", params={"watch": "true", "watch_cursor": position + 5})
        assert future.status_code == 410
        assert future.headers["content-type"].startswith("application/problem+json")
        assert "list again" in future.json()["detail"]
        bad = live.get("/api/v1/jobs", params={"watch": "true", "watch_cursor": "-1"})
        assert bad.status_code == 400
        assert [e["field"] for e in bad.json()["errors"]] == ["watch_cursor"]


def test_a_token_watches_only_its_namespaces(tmp_path: Path) -> None:
    with (
        server(tmp_path, auth={"tokens": TOKENS}) as live,
        watching(live, token="ops", watch_cursor="0") as stream,
    ):
        submit(live, token="root", name="hidden", namespace="dev")
        shown = submit(live, token="root", name="shown", namespace="ops")
        (item,) = stream.items(1)
        assert item["job"]["id"] == shown["id"]
        assert live.get("/api/v1/jobs", params={"watch": "true"}).status_code == 401


def test_the_events_watch_gives_the_history_then_each_new_event(tmp_path: Path) -> None:
    with server(tmp_path) as live:
        job = submit(live)
        with watching(live, f"/api/v1/jobs/{job['id']}/events") as stream:
            (accepted,) = stream.items(1)
            cancel(live, job["id"])
            (cancelled,) = stream.items(1)
        assert (accepted["type"], accepted["event"]["state"]) == ("ADDED", "pending")
        assert (cancelled["event"]["state"], cancelled["event"]["reason"]) == (
            "cancelled",
            "CancelRequested",
        )
        assert accepted["seq"] < cancelled["seq"] == cancelled["event"]["seq"]
        # From a seq read: only what came after it.
        with watching(
            live, f"/api/v1/jobs/{job['id']}/events", watch_cursor=accepted["seq"]
        ) as stream:
            assert stream.items(1) == [cancelled]
        missing = live.get("/api/v1/jobs/nope/events", params={"watch": "true"})
        assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/jobs/{id}/events"])
def test_a_watch_ends_when_the_server_stops_and_does_not_hold_it(tmp_path: Path, path: str) -> None:
    with server(tmp_path) as live:
        job = submit(live)
        stream = Stream(live.url + path.format(id=job["id"]), {"watch": "true"}, {})
        assert stream.next() is not None  # the stream is open
    # The server stopped (live_server joins it): the stream ended, it did not hold the stop.
    wait_until(lambda: not stream._thread.is_alive(), timeout=10, what="the stream to end")
    stream.close()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"watch_cursor": "²"}, "watch_cursor"),  # a digit to str.isdigit, not a number
        ({"watch_cursor": "١٢٣"}, "watch_cursor"),
        ({"watch_cursor": "9999999999999999999"}, "watch_cursor"),  # over the store's 2**63
        ({"cursor": "abc"}, "cursor"),  # a list's page cursor means nothing to a watch
    ],
)
def test_a_watch_request_that_cannot_be_served_is_a_400_naming_the_field(
    tmp_path: Path, params: dict[str, str], field: str
) -> None:
    with server(tmp_path) as live:
        job = submit(live)
        for path in ("/api/v1/jobs", f"/api/v1/jobs/{job['id']}/events"):
            if field == "cursor" and "events" in path:
                continue
            answer = live.get(path, params={"watch": "true", **params})
            assert answer.status_code == 400, (path, answer.text)
            assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_a_watch_answer_tells_proxies_not_to_buffer_or_cache_it(tmp_path: Path) -> None:
    with (
        server(tmp_path) as live,
        httpx.stream(
            "GET", f"{live.url}/api/v1/jobs", params={"watch": "true"}, timeout=10
        ) as answer,
    ):
        assert answer.headers["cache-control"] == "no-cache"
        assert answer.headers["x-accel-buffering"] == "no"
