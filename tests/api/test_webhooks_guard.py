"""Without `allow_private`, a callback host that is, or resolves to, a non-public address is
refused (at submit for a literal address, at delivery for a name), and a delivery connects to
the address that was checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.core.config import WebhookSettings
from kjs.core.validation import non_public_reason
from kjs.plugins.callback_http import HttpNotifier
from kjs.testing.waiting import wait_until
from tests.api.conftest import FakeAgent, wait_state

JOB = {"name": "hook", "namespace": "ops", "image": "busybox"}


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    client: TestClient[Any],
    agent: FakeAgent,
) -> None:
    agent.heartbeat()
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "hook",
            "namespace": "ops",
            "image": "busybox",
            "callback_url": "http://localhost:9/hook",
        },
    ).json()
    assert "id" in job  # a name is accepted at submit; it is checked where it resolves
    wait_state(client, job["id"], "dispatched")
    agent.status(job, "failed")
    attempts = wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}/callbacks").json()["items"],
        timeout=10,
        what="the refused attempt",
    )
    attempt = attempts[0]  # retries (with jitter) may follow; each is refused the same way
    assert attempt["delivered"] is False and attempt["status_code"] is None
    assert attempt["error"].startswith("refused: localhost resolves to the non-public address")


# IPv6 forms that lead to an IPv4 address (and the tunnels that lead anywhere): each with a
# private IPv4 inside is refused; with a public one it is judged by that address.
EMBEDDED_PRIVATE = {
    "NAT64": "64:ff9b::a00:1",  # 10.0.0.1
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "local-use NAT64": "64:ff9b:1::808:808",  # refused whatever it carries
    "6to4": "2002:a00:1::1",  # 10.0.0.1
    "6to4 of the metadata service": "2002:a9fe:a9fe::1",  # 169.254.169.254
    "IPv4-mapped": "::ffff:127.0.0.1",
    "IPv4-compatible": "::127.0.0.1",
    "IPv4-translated (SIIT)": "::ffff:0:c0a8:101",  # 192.168.1.1
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}
EMBEDDED_PUBLIC = {
    "NAT64": "64:ff9b::808:808",  # 8.8.8.8: how an IPv6-only network reaches IPv4 hosts
    "6to4": "2002:808:808::1",
    "IPv4-mapped": "::ffff:8.8.8.8",
}


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE.values(), ids=EMBEDDED_PRIVATE.keys())
def test_ipv6_forms_of_private_ipv4_addresses_are_not_public(address: str) -> None:
    reason = non_public_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert reason.startswith(f"the non-public address {ipaddress.ip_address(address)}")


@pytest.mark.parametrize("address", EMBEDDED_PUBLIC.values(), ids=EMBEDDED_PUBLIC.keys())
def test_ipv6_forms_of_public_ipv4_addresses_are_public(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        *(f"http://[{a}]/hook" for a in EMBEDDED_PRIVATE.values()),
        "http://2130706433/hook",  # 127.0.0.1, as the resolver reads a number
        "http://0x7f.1:8080/hook",
        "http://127.1/hook",
        "https://[fe80::1%25eth0]/hook",
    ],
)
def test_a_literal_non_public_address_is_refused_at_submit(
    client: TestClient[Any], url: str
) -> None:
    response = client.post("/api/v1/jobs", json={**JOB, "callback_url": url})
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "callback_url"
    assert error["message"].startswith(
        "points at a private, loopback or link-local address: the non-public address"
    )


def test_a_literal_nat64_address_of_a_public_host_is_accepted(client: TestClient[Any]) -> None:
    url = f"http://[{EMBEDDED_PUBLIC['NAT64']}]/hook"
    assert client.post("/api/v1/jobs", json={**JOB, "callback_url": url}).status_code == 201


class Resolver:
    """The system resolver, answering for `*.test` names from a script: answers[name][i] is
    the address of the i-th lookup (the last one repeats)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):  # anyio looks names up IDNA-encoded
            host = host.decode()
        if host not in self.answers:
            return self._real(host, port, *args, **kwargs)
        seen = self.lookups.count(host)
        self.lookups.append(host)
        address = self.answers[host][min(seen, len(self.answers[host]) - 1)]
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE.values(), ids=EMBEDDED_PRIVATE.keys())
async def test_a_name_resolving_to_an_embedded_private_address_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    Resolver(monkeypatch, {"hooks.test": [address]})
    notifier = HttpNotifier(WebhookSettings(timeout_s=2))
    try:
        result = await notifier.deliver("http://hooks.test/hook", "event-1", b"{}")
    finally:
        await notifier.close()
    assert result.delivered is False and result.status_code is None
    assert result.error == (
        f"refused: hooks.test resolves to {non_public_reason(ipaddress.ip_address(address))}"
    )


class Receiver:
    """An HTTP endpoint on one loopback address that answers 204 and keeps what it got."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_delivery_connects_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name answers a public address to the check, then a private one. The
    connection must go where the check was made, not to a second lookup's answer."""
    # 127.0.0.2 plays a public address (a receiver can listen there); 127.0.0.1 stays private.
    is_global = ipaddress.IPv4Address.is_global
    monkeypatch.setattr(
        ipaddress.IPv4Address,
        "is_global",
        property(lambda a: str(a) == "127.0.0.2" or is_global.fget(a)),  # type: ignore[attr-defined]
    )
    public, private = Receiver(), Receiver()
    port = await public.start("127.0.0.2", 0)
    await private.start("127.0.0.1", port)
    resolver = Resolver(monkeypatch, {"rebind.test": ["127.0.0.2", "127.0.0.1"]})
    notifier = HttpNotifier(WebhookSettings(timeout_s=5))
    try:
        result = await notifier.deliver(f"http://rebind.test:{port}/hook", "event-1", b"{}")
    finally:
        await notifier.close()
        public.close()
        private.close()
    assert private.requests == []
    assert result.delivered is True and result.status_code == 204
    (request,) = public.requests
    assert f"\r\nHost: rebind.test:{port}\r\n".encode() in request  # the URL's name, kept
    assert resolver.lookups == ["rebind.test"]  # resolved once: nothing to rebind
