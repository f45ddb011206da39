"""The original system's response envelope: HTTP 200, `{code, cause, error_msg, data}`.

Codes are the documented table (docs/code.proto of the original), not its code constants, which
are off by one from 104 on; the original itself put -1 on the wire for every failure (D4).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Response
from msgspec import Meta, Struct

OK = 200  # a response carrying data
MESSAGE = 0  # a response carrying a message text
INVALID_PARAMETER = 100
JOB_ID_EMPTY = 101
BODY_READ = 102
BODY_DECODE = 103
VERIFY_JOB = 104
ALREADY_EXISTS = 105
SERVER_CLOSED = 106
PUBLISH = 251  # the job could not be accepted (store or queue unavailable)
DELETE_TIMEOUT = 253


class CompatEnvelope(Struct):
    """The original system's answer: always HTTP 200; `code` says how it went."""

    code: Annotated[
        int,
        Meta(
            description=(
                "200 data, 0 a message in `data`; failures: 100 invalid parameter, 101 job_id "
                "empty, 102/103 body unreadable, 104 invalid job, 105 name taken, 251 not "
                "accepted, 253 delete timed out (docs/compat.md)."
            )
        ),
    ]
    cause: Annotated[str, Meta(description="Why it failed; empty on success.")]
    error_msg: Annotated[str, Meta(description="Always empty (kept for the original's clients).")]
    data: Annotated[Any, Meta(description="The answer: an object, a list, a message, or null.")]


class CompatRequest(Struct, kw_only=True):
    """A request body of the original system's routes: each route reads the fields it needs
    (keys matched case-insensitively, others ignored); a failure is an envelope, not a 4xx."""

    job_id: str | None = None
    job_name: str | None = None
    job_exec_time: Annotated[int | None, Meta(description="Epoch seconds: when to run.")] = None
    namespace: str | None = None
    image: str | None = None
    command: Annotated[str | None, Meta(description="Comma-separated.")] = None
    timeout: int | None = None
    metadata: Annotated[
        dict[str, str] | None, Meta(description="The original's extra job settings.")
    ] = None
    route: str | None = None
    schedule: str | None = None
    page_num: int | None = None
    page_size: int | None = None


class CompatError(Exception):
    def __init__(self, code: int, cause: str) -> None:
        super().__init__(cause)
        self.code, self.cause = code, cause


def envelope(code: int, *, cause: str = "", data: Any = None) -> Response[bytes]:
    body = {"code": code, "cause": cause, "error_msg": "", "data": data}
    return Response(
        json.dumps(body, indent=4, ensure_ascii=False).encode(),
        status_code=200,
        media_type="application/json",
    )


def ok(data: Any) -> Response[bytes]:
    return envelope(OK, data=data)


def message(text: str) -> Response[bytes]:
    return envelope(MESSAGE, data=text)


def failure(error: CompatError) -> Response[bytes]:
    return envelope(error.code, cause=error.cause)
