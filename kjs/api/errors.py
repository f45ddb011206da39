"""Every error as RFC 9457 problem details (CONTRACT §6); never a traceback to the client."""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.utils.scope.state import ScopeState

from kjs.core.errors import Conflict, Gone, NotFound
from kjs.core.validation import FieldError, InvalidInput, not_utf8

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
# Handler arguments whose Python name differs from the query parameter (`state` is reserved).
_PARAMETERS = {"job_state": "state"}
# A body nested deeper than this that made a decoder recurse too far is the client's fault.
MAX_JSON_DEPTH = 256
_JSON_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)

_TITLES = {
    400: "Invalid input",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    503: "Service unavailable",
    500: "Internal server error",
}


def problem(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def invalid(_: Request[Any, Any, Any], exc: InvalidInput) -> Response[dict[str, Any]]:
    return problem(400, str(exc), exc.errors)


def not_found(_: Request[Any, Any, Any], exc: NotFound) -> Response[dict[str, Any]]:
    return problem(404, str(exc))


def conflict(_: Request[Any, Any, Any], exc: Conflict) -> Response[dict[str, Any]]:
    return problem(409, str(exc))


def gone(_: Request[Any, Any, Any], exc: Gone) -> Response[dict[str, Any]]:
    return problem(410, str(exc))


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


def bad_parameter(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own validation of query, path and header parameters, named like ours."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        FieldError(
            _PARAMETERS.get(str(e.get("key")), str(e.get("key", "$"))),
            str(e.get("message", "invalid")),
        )
        for e in extra
        if isinstance(e, dict)
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or str(exc.detail)
    return problem(400, detail, errors or None)


def store_down(request: Request[Any, Any, Any], exc: sa.exc.DBAPIError) -> Response[dict[str, Any]]:
    where = getattr(request.app.state, "store_description", "the store")
    log.warning("store error: %s", exc)
    return problem(503, f"{where} unavailable: {exc.orig.__class__.__name__}: {exc.orig}")


def queue_down(_: Request[Any, Any, Any], exc: ConnectionError) -> Response[dict[str, Any]]:
    return problem(503, f"queue unavailable: {exc}")


def _nested_deeper_than(body: bytes, limit: int) -> bool:
    depth = 0
    for token in _JSON_NESTING.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


def _body_fault(body: bytes, exc: Exception) -> str | None:
    """What is wrong with a body that made a decoder fail this way, or None if it is not the
    body's fault (then it is ours: a 500)."""
    if isinstance(exc, UnicodeDecodeError):
        return not_utf8(body)
    elif isinstance(exc, RecursionError) and _nested_deeper_than(body, MAX_JSON_DEPTH):
        return (
            f"invalid JSON: the body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"
        )
    return None


def unreadable_body(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A decoder that failed on bytes no JSON text may hold (CONTRACT §6: never a 500 for what
    a client sent), whichever route read them."""
    body = ScopeState.from_scope(request.scope).body  # as the handler read it
    fault = _body_fault(body, exc) if isinstance(body, bytes) else None
    if fault is None:
        return unexpected(request, exc)
    return problem(400, f"$: {fault}", [FieldError("$", fault)])


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "unexpected server error; it has been logged")


HANDLERS: dict[type[Exception] | int, Any] = {
    InvalidInput: invalid,
    NotFound: not_found,
    Conflict: conflict,
    Gone: gone,
    ValidationException: bad_parameter,
    HTTPException: http_error,
    sa.exc.DBAPIError: store_down,
    ConnectionError: queue_down,
    UnicodeDecodeError: unreadable_body,
    RecursionError: unreadable_body,
    Exception: unexpected,
}
