"""A real `kjs server`: clients that hold connections without finishing a request are cut off
(`[http] header_timeout_s`, `body_timeout_s`), and SIGTERM does not wait for log followers."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Server

TIMEOUT_S = 1.0  # both limits, in these tests
JOB = {"name": "followed", "namespace": "ops", "image": "busybox"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(
        tmp_path_factory.mktemp("slow") / "data",
        {"KJS_HTTP__HEADER_TIMEOUT_S": str(TIMEOUT_S), "KJS_HTTP__BODY_TIMEOUT_S": str(TIMEOUT_S)},
    )
    s.start()
    yield s
    s.stop()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(conn: socket.socket) -> tuple[bytes, float]:
    """All the server sends until it closes the connection, and how long that took."""
    started, data = time.monotonic(), b""
    while chunk := conn.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def read_headers(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed before the headers: {data!r}"
        data += chunk
    return data


def test_a_client_that_trickles_its_request_line_is_cut_off(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /healthz HT")
        data, took = read_until_closed(conn)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert TIMEOUT_S * 0.8 <= took < TIMEOUT_S + 2


def test_a_client_that_connects_and_sends_nothing_is_cut_off(server: Server) -> None:
    with connect(server) as conn:
        data, took = read_until_closed(conn)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert TIMEOUT_S * 0.8 <= took < TIMEOUT_S + 2


def test_a_kept_alive_connection_that_trickles_its_next_request_is_cut_off(
    server: Server,
) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: kjs\r\n\r\n")
        assert read_headers(conn).startswith(b"HTTP/1.1 200 OK\r\n")
        conn.sendall(b"GET /hea")
        data, took = read_until_closed(conn)
    assert data.endswith(
        b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert TIMEOUT_S * 0.8 <= took < TIMEOUT_S + 2


def test_headers_in_pieces_within_the_limit_are_served(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(TIMEOUT_S / 2)  # a slow client, not a stalled one
        conn.sendall(b"Host: kjs\r\nConnection: close\r\n\r\n")
        data, _ = read_until_closed(conn)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_client_that_stalls_its_body_gets_a_408(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: kjs\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"name": "'
        )
        data, took = read_until_closed(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"\r\nconnection: close" in head.lower()
    assert body == (
        b'{"type":"about:blank","title":"Request timeout","status":408,'
        b'"detail":"the request body did not arrive within 1 s ([http] body_timeout_s)"}'
    )
    assert TIMEOUT_S * 0.8 <= took < TIMEOUT_S + 2


def test_sigterm_ends_log_followers_and_exits_at_once(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", {})
    server.start()
    try:
        job = server.api("POST", "/jobs", json=JOB).json()  # pending for ever: no cluster
        with connect(server) as conn:
            path = f"/api/v1/jobs/{job['id']}/logs?follow=true"
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: kjs\r\n\r\n".encode())
            assert read_headers(conn).startswith(b"HTTP/1.1 200 OK\r\n")  # following
            started = time.monotonic()
            code = server.kill(signal.SIGTERM)
            took = time.monotonic() - started
            rest, _ = read_until_closed(conn)
    finally:
        server.stop()
    assert code == 0
    assert took < 5, f"SIGTERM took {took:.1f} s with a log follower"
    assert rest.endswith(b"0\r\n\r\n")  # the stream was ended, not cut: a complete response
    assert "kjs server stopped" in server.log.read_text()
