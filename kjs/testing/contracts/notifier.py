"""The notifier contract (`kjs.core.protocols.Notifier`, CONTRACT §7): what every notifier
must do.

`deliver(url, event_id, body)` tries once and returns a `kjs.core.protocols.DeliveryResult`: it
POSTs `body` unchanged to `url` with `Content-Type: application/json`, `X-Kjs-Event-Id` and,
when a secret is set, `X-Kjs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>` (none without one). A 2xx answer is delivered (with its status code); any
other answer (redirects too: not followed) is a failed result with its status code and an
error; a transport failure (refused, dropped, no answer within the timeout, a URL that cannot
be called) is a failed result with an error and no status code. It never raises: kjs retries
what failed.

Needs a fixture `notifier_factory`: a callable `(secret, timeout_s)` returning a new notifier
of your backend with that secret ("": none) and timeout, allowed to call 127.0.0.1 (the suite's
receiver). The suite closes what it makes. The tests are async (pytest-asyncio, any mode).
Then::

    from kjs.testing.contracts.notifier import *  # noqa: F403
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kjs.core.protocols import DeliveryResult, Notifier

SECRET = "contract-secret"
BODY = b'{"event_id": "e", "event": "job.succeeded", "job": {"id": "j"}, "logs_url": "/x"}'
NotifierFactory = Callable[[str, float], Notifier]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers what it is told: `answers` (status codes,
    then 204 once they run out), `hang_s` before answering, or `drop` the connection."""

    answers: list[int] = field(default_factory=list)
    hang_s: float = 0.0
    drop: bool = False
    received: list[Request] = field(default_factory=list)
    url: str = ""

    def url_for(self, path: str) -> str:
        return self.url.rsplit("/", 1)[0] + path


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The suite's receiver, at `receiver.url`."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(Request(self.path, dict(self.headers), body))
            if receiver.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            time.sleep(receiver.hang_s)
            status = receiver.answers.pop(0) if receiver.answers else 204
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url_for("/moved"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@contextlib.asynccontextmanager
async def made(
    factory: NotifierFactory, secret: str = "", timeout_s: float = 5.0
) -> AsyncIterator[Notifier]:
    """A notifier from `factory`, closed afterwards."""
    notifier = factory(secret, timeout_s)
    try:
        yield notifier
    finally:
        await notifier.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def failed(result: Any, status_code: int | None) -> None:
    assert isinstance(result, DeliveryResult), f"deliver returned {result!r}"
    assert result.delivered is False and result.status_code == status_code, result
    assert isinstance(result.error, str) and result.error, result
    assert result.duration_ms >= 0


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_a_2xx_answer_is_a_delivery_of_the_body_as_it_was(
    notifier_factory: NotifierFactory, receiver: Receiver, status: int
) -> None:
    receiver.answers = [status]
    event_id = str(uuid.uuid4())
    async with made(notifier_factory) as notifier:
        result = await notifier.deliver(receiver.url, event_id, BODY)
    assert isinstance(result, DeliveryResult), f"deliver returned {result!r}"
    assert result.delivered is True and result.status_code == status, result
    assert result.error is None and result.duration_ms >= 0
    (request,) = receiver.received
    assert request.path == "/hook" and request.body == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Kjs-Event-Id"] == event_id


@pytest.mark.asyncio
async def test_a_secret_signs_the_timestamp_and_the_raw_body(
    notifier_factory: NotifierFactory, receiver: Receiver
) -> None:
    async with made(notifier_factory, SECRET) as notifier:
        result = await notifier.deliver(receiver.url, str(uuid.uuid4()), BODY)
    assert isinstance(result, DeliveryResult) and result.delivered, result
    (request,) = receiver.received
    fields = dict(part.split("=", 1) for part in request.headers["X-Kjs-Signature"].split(","))
    assert set(fields) == {"t", "v1"}
    assert abs(int(fields["t"]) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + BODY, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())


@pytest.mark.asyncio
async def test_without_a_secret_nothing_is_signed(
    notifier_factory: NotifierFactory, receiver: Receiver
) -> None:
    async with made(notifier_factory) as notifier:
        await notifier.deliver(receiver.url, str(uuid.uuid4()), BODY)
    (request,) = receiver.received
    assert "X-Kjs-Signature" not in request.headers


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [301, 302, 307, 400, 404, 410, 500, 503])
async def test_any_other_answer_is_a_failed_result_and_redirects_are_not_followed(
    notifier_factory: NotifierFactory, receiver: Receiver, status: int
) -> None:
    receiver.answers = [status]
    async with made(notifier_factory) as notifier:
        result = await notifier.deliver(receiver.url, str(uuid.uuid4()), BODY)
    failed(result, status)
    assert [r.path for r in receiver.received] == ["/hook"]  # never /moved


@pytest.mark.asyncio
async def test_a_transport_failure_is_a_failed_result_not_an_exception(
    notifier_factory: NotifierFactory, receiver: Receiver
) -> None:
    async with made(notifier_factory) as notifier:
        refused = await notifier.deliver(f"http://127.0.0.1:{closed_port()}/hook", "e1", BODY)
        failed(refused, None)
        receiver.drop = True  # the connection closes without an answer
        failed(await notifier.deliver(receiver.url, "e2", BODY), None)
        failed(await notifier.deliver("ftp://127.0.0.1/hook", "e3", BODY), None)
        failed(await notifier.deliver("not a url", "e4", BODY), None)


@pytest.mark.asyncio
async def test_no_answer_within_the_timeout_is_a_failed_result(
    notifier_factory: NotifierFactory, receiver: Receiver
) -> None:
    receiver.hang_s = 3.0
    async with made(notifier_factory, timeout_s=0.5) as notifier:
        started = time.monotonic()
        result = await notifier.deliver(receiver.url, str(uuid.uuid4()), BODY)
        took = time.monotonic() - started
    failed(result, None)
    assert took < 2.5, f"deliver took {took:.1f} s with a 0.5 s timeout"


# The suite itself: what `from kjs.testing.contracts.notifier import *` brings into a module.
__all__ = ["receiver", *(name for name in list(globals()) if name.startswith("test_"))]
