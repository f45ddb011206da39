"""`notifier = "http"`: signed webhooks (CONTRACT §7), guarded.

`X-Kjs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. A delivery
is one POST with a timeout; 2xx is delivered, anything else (redirects included: they are not
followed) is a failure kjs retries. Unless `[webhooks] allow_private`, a URL whose host is, or
resolves to, a non-public address (`kjs.core.validation.non_public_reason`) is refused.

The host is resolved once per connection, and the connection goes to the addresses that were
checked: a name cannot pass the check and then resolve elsewhere for the connection (DNS
rebinding). TLS still verifies the certificate against the URL's host name. Proxies from the
environment are not used (they would resolve the name themselves).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import AsyncIterable, AsyncIterator

import httpcore
import httpx

from kjs.core.backends import Backend, BuildContext
from kjs.core.config import WebhookSettings
from kjs.core.errors import error_text
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import DeliveryResult
from kjs.core.validation import non_public_reason

MAX_RESPONSE_BYTES = 64 * 1024


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class NotAttempted(Exception):
    """The callback's host cannot be called (refused, or not resolvable): one line."""


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Opens connections to the addresses a host resolved to, once, after checking them: what
    was checked is what is connected to."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._network = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, in the resolver's order; NotAttempted if one is refused
        (a name that resolves to any non-public address is refused as a whole)."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as e:
            raise NotAttempted(f"cannot resolve {host}: {e}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            for address in addresses:
                reason = non_public_reason(ipaddress.ip_address(address))
                if reason is not None:
                    raise NotAttempted(f"refused: {host} resolves to {reason}")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout:g} s") from None
        failure: Exception | None = None
        for address in addresses:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            try:
                return await self._network.connect_tcp(
                    address,
                    port,
                    timeout=left,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e  # the next address, like a client connecting by name would
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotAttempted("webhooks are not sent over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._stream:
            yield piece

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class CheckedTransport(httpx.AsyncBaseTransport):
    """httpx over a connection pool whose every connection goes through CheckedNetwork."""

    def __init__(self, allow_private: bool, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=CheckedNetwork(allow_private),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, AsyncIterable)
        response = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class HttpNotifier:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=CheckedTransport(self.settings.allow_private),
                timeout=self.settings.timeout_s,
                follow_redirects=False,
            )
        return self._client

    async def deliver(self, url: str, event_id: str, body: bytes) -> DeliveryResult:
        started = time.monotonic()

        def result(**fields: object) -> DeliveryResult:
            return DeliveryResult(duration_ms=int((time.monotonic() - started) * 1000), **fields)  # type: ignore[arg-type]

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
        except NotAttempted as e:
            return result(delivered=False, error=str(e))
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
