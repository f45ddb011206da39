"""`queue = "nsq"`: NSQ through pynsq, driven inside the application's asyncio loop.

Publishing goes through nsqd's HTTP `/pub` (an awaited answer per message, failing over to the
next nsqd), with aiohttp: a fraction of httpx's CPU per request, and the agent publishes a
message for every Job it creates; consuming uses pynsq Readers created in the running loop
(never `nsq.run()`), with pynsq's defaults set for this use: no give-up after N tries (a
message is never dropped), a short requeue delay and backoff, a short lookupd poll,
`max_in_flight` at least the number of nsqd. Topics and channels are created up front so
discovery does not wait for a first message.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kjs.core.backends import Backend, BuildContext, SettingsSection
from kjs.core.config import ConfigError, NsqSettings
from kjs.core.hookspecs import hookimpl
from kjs.core.protocols import Handler

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
REQUEUE_DELAY_S = 0.5


def _errors() -> tuple[type[Exception], ...]:
    """What a failed call to nsqd raises (aiohttp is imported once the queue is in use)."""
    import aiohttp

    return (aiohttp.ClientError, TimeoutError)


@dataclass
class NsqDelivery:
    body: bytes
    attempts: int


class NsqQueue:
    def __init__(
        self, settings: NsqSettings, *, lookupd_poll_s: int = 5, max_in_flight: int = 16
    ) -> None:
        if not settings.nsqd_http:
            raise ConfigError("nsq.nsqd_http: at least one nsqd HTTP address is required")
        if not settings.nsqd_tcp and not settings.lookupd_http:
            raise ConfigError("nsq: give lookupd_http (discovery) or nsqd_tcp addresses")
        self.settings = settings
        self.lookupd_poll_s = lookupd_poll_s
        self.max_in_flight = max_in_flight
        self._http: aiohttp.ClientSession | None = None
        self._next = itertools.cycle(range(len(settings.nsqd_http)))
        self._readers: list[Any] = []

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            import aiohttp  # only where the NSQ queue is used: not in every server

            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10.0, connect=3.0),
                trust_env=False,  # nsqd addresses are reached directly, never via a proxy
            )
        return self._http

    async def start(self) -> None:
        try:
            import nsq  # noqa: F401
        except ImportError as e:
            raise ConfigError("queue = 'nsq' needs pynsq: pip install 'kjs[nsq]'") from e

    async def _post(self, path: str, **kwargs: Any) -> None:
        """POST to one nsqd after another until one answers 200."""
        errors = []
        for _ in self.settings.nsqd_http:
            address = self.settings.nsqd_http[next(self._next)]
            try:
                async with self.http.post(f"http://{address}{path}", **kwargs) as response:
                    if response.status == 200:
                        return
                    text = (await response.text()).strip()
                    errors.append(f"{address}: HTTP {response.status} {text}")
            except _errors() as e:
                errors.append(f"{address}: {e.__class__.__name__}: {e}")
        raise ConnectionError(f"NSQ: no nsqd accepted {path.split('?')[0]}: {'; '.join(errors)}")

    async def publish(self, topic: str, body: bytes) -> None:
        await self._post("/pub", params={"topic": topic}, data=body)

    async def ping(self) -> None:
        errors = []
        for address in self.settings.nsqd_http:
            try:
                async with self.http.get(f"http://{address}/ping") as response:
                    if response.status == 200:
                        return
                    errors.append(f"{address}: HTTP {response.status}")
            except _errors() as e:
                errors.append(f"{address}: {e.__class__.__name__}: {e}")
        raise ConnectionError(f"NSQ unreachable: {'; '.join(errors)}")

    async def _ensure(self, topic: str, channel: str) -> None:
        for address in self.settings.nsqd_http:
            with contextlib.suppress(*_errors()):
                url = f"http://{address}"
                async with self.http.post(f"{url}/topic/create", params={"topic": topic}):
                    pass
                channel_params = {"topic": topic, "channel": channel}
                async with self.http.post(f"{url}/channel/create", params=channel_params):
                    pass

    async def subscribe(
        self, topic: str, channel: str, handler: Handler, *, max_in_flight: int | None = None
    ) -> None:
        import nsq

        await self._ensure(topic, channel)

        async def on_message(message: Any) -> bool:
            try:
                done = bool(await handler(NsqDelivery(message.body, message.attempts)))
            except Exception:
                log.exception("handler failed; message requeued (attempt %d)", message.attempts)
                done = False
            if not done:
                # No backoff: "not yet" is not a failing downstream, and pynsq's backoff probes
                # one nsqd at a time, stranding messages on the others for 10 s or more.
                message.requeue(backoff=False, delay=min(message.attempts, 10) * REQUEUE_DELAY_S)
            return done

        discovery: dict[str, Any] = (
            {
                "lookupd_http_addresses": [f"http://{a}" for a in self.settings.lookupd_http],
                "lookupd_poll_interval": self.lookupd_poll_s,
                "lookupd_poll_jitter": 0.0,
            }
            if self.settings.lookupd_http
            else {"nsqd_tcp_addresses": self.settings.nsqd_tcp}
        )
        reader = nsq.Reader(
            topic=topic,
            channel=channel,
            message_handler=on_message,
            # At least one message in flight per nsqd (pynsq spreads its RDY count over them).
            max_in_flight=max(
                max_in_flight or self.max_in_flight,
                len(self.settings.nsqd_tcp),
                len(self.settings.nsqd_http),
            ),
            max_tries=0,  # 0: never give up on a message
            requeue_delay=1,
            max_backoff_duration=2,
            **discovery,
        )
        self._readers.append(reader)

    async def close(self) -> None:
        for reader in self._readers:
            # pynsq would reconnect later otherwise (it has no clean shutdown of its own).
            reader.connect_to_nsqd = lambda *a, **k: None
            with contextlib.suppress(Exception):
                reader.close()
        self._readers.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None


def _make(context: BuildContext) -> NsqQueue:
    return NsqQueue(context.settings.section("nsq", NsqSettings))


@hookimpl
def register_settings() -> list[SettingsSection]:
    return [SettingsSection("nsq", NsqSettings, "the NSQ queue's nsqd and nsqlookupd addresses")]


@hookimpl
def register_queues() -> list[Backend]:
    return [Backend("queue", "nsq", _make, "NSQ (nsqd, nsqlookupd) through pynsq")]
