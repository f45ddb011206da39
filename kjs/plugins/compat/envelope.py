"""The original system's response envelope: HTTP 200, `{code, cause, error_msg, data}`.

Codes are the documented table (docs/code.proto of the original), not its code constants, which
are off by one from 104 on; the original itself put -1 on the wire for every failure (D4).
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Response

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
