"""The SDK's exceptions: one per kind of refusal, each carrying the server's problem details
(RFC 9457: status, title, detail and each offending field)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import httpx
import msgspec


class KjsError(Exception):
    """The base of every error the SDK raises."""


class FieldError(msgspec.Struct, frozen=True):
    """One offending input: its JSON path (`name`, `env.FOO`, `items[3].image`) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ApiError(KjsError):
    """The server refused the request (4xx) or failed (5xx); its problem details."""

    def __init__(
        self, status: int, title: str, detail: str, errors: Sequence[FieldError] = ()
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors: list[FieldError] = list(errors)
        super().__init__(status, title, detail, self.errors)

    def __str__(self) -> str:
        # The field errors say it best ("400: name: …; image: …"); the detail otherwise.
        said = "; ".join(map(str, self.errors)) or self.detail or self.title
        return f"{self.status}: {said}"


class InvalidRequest(ApiError):
    """400: bad input; `errors` names each offending field."""


class Unauthorized(ApiError):
    """401: no token, or an unknown one."""


class Forbidden(ApiError):
    """403: the token lacks the scope, or may not use the namespace."""


class NotFound(ApiError):
    """404: no such job, cron job or cluster."""


class Conflict(ApiError):
    """409: conflicts with the current state (e.g. editing a finished job)."""


class WatchExpired(ApiError):
    """410: the watch cursor is too old or unknown: list again, then watch from that list's
    `watch_cursor`."""


class ServerUnreachable(KjsError):
    """The server could not be reached (or stopped answering); the httpx error is the cause."""

    def __init__(self, url: str, error: Exception) -> None:
        self.url = url
        self.error = error
        super().__init__(url, error)  # as constructed: what pickling rebuilds it from

    def __str__(self) -> str:
        # A read timeout's text is empty: name its kind then.
        return f"kjs server at {self.url} unreachable: {self.error or type(self.error).__name__}"


class UnexpectedResponse(KjsError):
    """The server answered something the SDK cannot read (not a kjs server, or a proxy's
    page)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: WatchExpired,
}


class _Problem(msgspec.Struct):
    title: str = ""
    detail: str = ""
    errors: list[FieldError] | None = None


def error_for(response: httpx.Response) -> ApiError:
    """The exception for an error response (its body read): its problem details if it has
    them, else its status and the start of its text."""
    kind = _BY_STATUS.get(response.status_code, ApiError)
    try:
        problem = msgspec.json.decode(response.content, type=_Problem)
    except msgspec.DecodeError:  # not problem details: a proxy's page, a bare text
        text = " ".join(response.text.split())[:300]
        return kind(response.status_code, response.reason_phrase, text or response.reason_phrase)
    return kind(response.status_code, problem.title, problem.detail, problem.errors or ())


def shift_items(error: ApiError, offset: int) -> ApiError:
    """`error` of one chunk of a batch, with its `items[i]` paths (and detail) counted from
    the start of the caller's whole list instead of the chunk's."""
    if not offset:
        return error

    def shifted(text: str) -> str:
        return re.sub(r"items\[(\d+)\]", lambda m: f"items[{int(m[1]) + offset}]", text)

    error.errors = [FieldError(shifted(e.field), e.message) for e in error.errors]
    error.detail = shifted(error.detail)
    error.args = (error.status, error.title, error.detail, error.errors)
    return error


def item_error(error: ApiError, index: int) -> ApiError:
    """`error` of item `index` submitted on its own, its fields named as a batch names them
    (`items[3].name`; `items[3].job` for the job as a whole)."""
    error.errors = [
        FieldError(
            f"items[{index}].job" if e.field == "$" else f"items[{index}].{e.field}", e.message
        )
        for e in error.errors
    ]
    error.args = (error.status, error.title, error.detail, error.errors)
    return error
