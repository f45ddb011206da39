"""Reading a watch (`?watch=true`): NDJSON lines, the cursor to resume from, when to reconnect
and when to give up. Shared by `Client` and `AsyncClient`, which only do the I/O."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx
import msgspec

from kjs.client._calls import Params
from kjs.client._errors import ApiError, ServerUnreachable, UnexpectedResponse
from kjs.client._models import Event, Job, WatchEvent

BOOKMARK = "BOOKMARK"
CHANGES = frozenset({"ADDED", "MODIFIED", "DELETED"})

READ_TIMEOUT_S = 30.0
"""Silence after which a watch connection counts as dead: the server sends a bookmark after
~10 s without news, so three missed bookmarks mean the connection is gone, not quiet."""
RECONNECT_FOR_S = 30.0
"""How long a dropped watch keeps trying to reconnect before it raises ServerUnreachable."""
_FIRST_DELAY_S = 0.2
_MAX_DELAY_S = 2.0
_OVERSHOOT_S = 1.0
"""How far past its deadline a `wait` may read before it reconnects with a shorter timeout."""
# What a server that is restarting (or a proxy in front of it) answers for a while.
_TRANSIENT = frozenset({502, 503, 504})


class Line(msgspec.Struct, kw_only=True):
    """One line of a watch stream (jobs carry `job`, a job's events `event`)."""

    type: str
    seq: int | None = None
    job: Job | None = None
    event: Event | None = None


_read_line = msgspec.json.Decoder(Line).decode


def check_stream(response: httpx.Response, url: str) -> None:
    """Refuse an answer that is not a stream of lines: a server from before the watch API
    ignores `watch=true` and lists instead."""
    kind = response.headers.get("content-type", "")
    if "ndjson" not in kind:
        raise UnexpectedResponse(
            f"the kjs server at {url} answered {kind or 'no content type'} to a watch, "
            "not application/x-ndjson: it predates the watch API"
        )


def read_line(raw: str) -> Line:
    try:
        return _read_line(raw)
    except msgspec.DecodeError as e:
        raise UnexpectedResponse(f"unreadable watch line {raw[:200]!r}: {e}") from e


def job_change(line: Line, bookmarks: bool) -> WatchEvent | None:
    """What `watch` hands over for a line: a change with its job, a bookmark if asked for,
    nothing for a kind of line this SDK does not know (a newer server's)."""
    if line.seq is None:
        return None
    if line.type in CHANGES and line.job is not None:
        return WatchEvent(type=line.type, seq=line.seq, job=line.job)
    if line.type == BOOKMARK and bookmarks:
        return WatchEvent(type=BOOKMARK, seq=line.seq)
    return None


def job_event(line: Line) -> Event | None:
    """The event of an `ADDED` line of a job's event stream, with its seq (the line's)."""
    if line.type != "ADDED" or line.event is None:
        return None
    if line.event.seq is None:
        return msgspec.structs.replace(line.event, seq=line.seq)
    return line.event


class Resume:
    """Where a watch stands (the last seq seen) and how it reconnects: after a dropped
    connection it waits a short, growing, jittered delay and resumes from that seq, until
    it has failed for `reconnect_for` seconds in a row."""

    def __init__(
        self,
        url: str,
        cursor: str | int | None,
        *,
        reconnect_for: float = RECONNECT_FOR_S,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cursor = None if cursor is None else str(cursor)
        self.reconnect_for = reconnect_for
        self.deadline = deadline
        self.clock = clock
        self.connected = False
        self._failing_since: float | None = None
        self._delay = _FIRST_DELAY_S

    def params(self, query: Params) -> Params:
        """The query of the next connection: the filters, `watch=true`, and the cursor."""
        cursor = [] if self.cursor is None else [("watch_cursor", self.cursor)]
        return [*query, ("watch", "true"), *cursor]

    def read_timeout(self) -> float:
        """The read timeout of the next connection: never past the deadline."""
        if self.deadline is None:
            return READ_TIMEOUT_S
        return min(READ_TIMEOUT_S, max(0.0, self.deadline - self.clock()) + 0.05)

    def saw(self, line: Line) -> None:
        """A line arrived: the connection works, and a resume starts after it."""
        if line.seq is not None:
            self.cursor = str(line.seq)
        self.connected = True
        self._failing_since = None
        self._delay = _FIRST_DELAY_S

    def reconnect_now(self, read_timeout: float) -> bool:
        """After a line: whether to reconnect at once, so that the next read cannot wait
        past the deadline by more than a second. Raises TimeoutError once it has passed."""
        self.check_deadline()
        if self.deadline is None:
            return False
        return read_timeout > self.deadline - self.clock() + _OVERSHOOT_S

    def check_deadline(self) -> None:
        if self.deadline is not None and self.clock() >= self.deadline:
            raise TimeoutError("the deadline passed")

    def retry_after(self, error: Exception | None) -> float:
        """After the connection ended (`error` None: the server closed the stream) or failed:
        the delay before reconnecting. Raises what cannot be retried: a refusal (4xx, e.g.
        WatchExpired), a first connection that failed, or failures for `reconnect_for`."""
        self.check_deadline()
        if isinstance(error, ApiError) and not (error.status in _TRANSIENT and self.connected):
            raise error
        cause = error or ConnectionError("the server ended the watch stream")
        if not self.connected:
            # Never reached it: a wrong URL says so at once rather than after retrying.
            raise ServerUnreachable(self.url, cause) from error
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= self.reconnect_for:
            raise ServerUnreachable(self.url, cause) from error
        delay = random.uniform(self._delay / 2, self._delay)  # jitter: clients spread out
        self._delay = min(self._delay * 2, _MAX_DELAY_S)
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - now))
        return delay
