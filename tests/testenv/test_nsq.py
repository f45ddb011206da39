"""The NSQ tier: pynsq publishing to a real nsqd and consuming through nsqlookupd discovery."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import urllib.error
import urllib.request
from typing import Any

import nsq
import pytest

from kjs.testing.pytest_plugin import TestEnvironment
from kjs.testing.waiting import wait_until

pytestmark = pytest.mark.nsq


def publish(writer: nsq.Writer, topic: str, body: bytes) -> asyncio.Future[bytes]:
    """pynsq's pub, as a future of the server's answer (not merely of the socket write)."""
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def answered(_conn: object, data: object) -> None:
        if future.done():
            return
        if isinstance(data, Exception):
            future.set_exception(data)
        else:
            future.set_result(data)  # type: ignore[arg-type]

    writer.pub(topic, body, callback=answered)
    return future


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url) as r:
        data: dict[str, Any] = json.load(r)
    return data


async def test_pynsq_publishes_to_nsqd_and_consumes_through_lookupd(
    nsq_env: dict[str, list[dict[str, str]]],
) -> None:
    topic = f"kjs.test.{secrets.token_hex(4)}"
    nsqd = nsq_env["nsqd"][0]
    writer = nsq.Writer([nsqd["tcp"]], reconnect_interval=1.0)
    while not writer.conns:  # pynsq offers no event for "connected"  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    bodies = [f"message-{i}".encode() for i in range(5)]
    for body in bodies:
        assert await asyncio.wait_for(publish(writer, topic, body), 10) == b"OK"

    received: list[bytes] = []
    all_in = asyncio.Event()

    async def handle(message: nsq.Message) -> bool:
        received.append(message.body)
        if len(received) == len(bodies):
            all_in.set()
        return True

    # The reader knows only lookupd: it must discover which nsqd has the topic.
    reader = nsq.Reader(
        topic=topic,
        channel="test",
        message_handler=handle,
        lookupd_http_addresses=[f"http://{nsq_env['lookupd'][0]['http']}"],
        lookupd_poll_interval=1,
        lookupd_poll_jitter=0.0,
        max_in_flight=10,
        requeue_delay=1,
        max_backoff_duration=2,
    )
    try:
        await asyncio.wait_for(all_in.wait(), 30)
    finally:
        # pynsq would otherwise reconnect later, possibly to another test's nsqd.
        reader.connect_to_nsqd = writer.connect_to_nsqd = lambda *a, **k: None
        reader.close()
        for conn in list(writer.conns.values()):
            conn.close()
    assert sorted(received) == sorted(bodies)
    stats = await asyncio.to_thread(
        get_json, f"http://{nsqd['http']}/stats?format=json&topic={topic}"
    )
    (topic_stats,) = stats["topics"]
    assert topic_stats["message_count"] == len(bodies)
    (channel,) = topic_stats["channels"]
    assert channel["depth"] == 0 and channel["in_flight_count"] == 0


def test_each_nsqd_is_registered_with_lookupd(nsq_env: dict[str, list[dict[str, str]]]) -> None:
    nodes = get_json(f"http://{nsq_env['lookupd'][0]['http']}/nodes")["producers"]
    registered = {f"{n['broadcast_address']}:{n['tcp_port']}" for n in nodes}
    assert registered == {n["tcp"] for n in nsq_env["nsqd"]}


def test_a_killed_nsqd_comes_back_on_its_addresses_and_registers_again(
    nsq_env: dict[str, list[dict[str, str]]], testenv_session: TestEnvironment
) -> None:
    testenv_session.restart("nsqd2", signal.SIGKILL)
    nsqd, lookupd = nsq_env["nsqd"][1]["http"], nsq_env["lookupd"][0]["http"]
    topic = f"after-restart-{secrets.token_hex(4)}"
    request = urllib.request.Request(f"http://{nsqd}/pub?topic={topic}", data=b"hi", method="POST")
    with urllib.request.urlopen(request) as r:
        assert r.status == 200

    # A topic born after the restart reaches lookupd only over a new registration (until
    # then lookupd answers 404 for it).
    def registered() -> list[dict[str, Any]] | None:
        try:
            found: list[dict[str, Any]] = get_json(f"http://{lookupd}/lookup?topic={topic}")[
                "producers"
            ]
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            return None
        return found or None

    producers = wait_until(
        registered,
        timeout=20,
        what="the restarted nsqd to register its new topic with lookupd",
    )
    assert [f"127.0.0.1:{p['tcp_port']}" for p in producers] == [nsq_env["nsqd"][1]["tcp"]]
