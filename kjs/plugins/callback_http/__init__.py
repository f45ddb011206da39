"""`notifier = "http"`: signed webhooks (CONTRACT §7), guarded.

`X-Kjs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A delivery
is one POST with a timeout; 2xx is delivered, anything else (redirects included: they are not
followed) is a failure kjs retries. Unless `[webhooks] allow_private`, a URL whose host is, or
resolves to, a private, loopback or link-local address is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
import urllib.parse

import httpx

from kjs.core.backends import Backend, BuildContext
from kjs.core.config import WebhookSettings
from kjs.core.hookspecs import hookimpl
from kjs.core.webhooks import DeliveryResult, error_text

MAX_RESPONSE_BYTES = 64 * 1024


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class HttpNotifier:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.timeout_s, follow_redirects=False
            )
        return self._client

    async def _private_target(self, url: str) -> str | None:
        """Why the URL may not be called, or None."""
        if self.settings.allow_private:
            return None
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError as e:
            return f"cannot resolve {host}: {e}"
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                return f"refused: {host} resolves to the non-public address {address}"
        return None

    async def deliver(self, url: str, event_id: str, body: bytes) -> DeliveryResult:
        started = time.monotonic()

        def result(**fields: object) -> DeliveryResult:
            return DeliveryResult(duration_ms=int((time.monotonic() - started) * 1000), **fields)  # type: ignore[arg-type]

        refused = await self._private_target(url)
        if refused:
            return result(delivered=False, error=refused)
        headers = {"Content-Type": "application/json", "X-Kjs-Event-Id": event_id}
        if self.settings.secret:
            headers["X-Kjs-Signature"] = signature(self.settings.secret, int(time.time()), body)
        try:
            async with self.client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for piece in response.aiter_bytes():  # drain, but only so much
                    read += len(piece)
                    if read > MAX_RESPONSE_BYTES:
                        break
                ok = 200 <= response.status_code < 300
                return result(
                    delivered=ok,
                    status_code=response.status_code,
                    error=None if ok else f"HTTP {response.status_code}",
                )
        except Exception as e:  # httpx may raise more than HTTPError (an ExceptionGroup, …)
            return result(delivered=False, error=error_text(e))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _make(context: BuildContext) -> HttpNotifier:
    return HttpNotifier(context.settings.webhooks)


@hookimpl
def register_notifiers() -> list[Backend]:
    return [Backend("notifier", "http", _make, "signed HTTP webhooks, retried")]
