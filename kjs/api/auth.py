"""Bearer tokens (CONTRACT §6): stored as SHA-256 hashes, with scopes and namespace allow-lists.

With no token configured the server runs open (any Authorization header is ignored), which is
allowed on a loopback address and elsewhere only with `--insecure`. Tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from kjs.core.config import Settings, Token

SCOPES = ("read", "submit", "admin")
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/schema")


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]
    namespaces: frozenset[str]  # empty: all

    def may(self, scope: str) -> bool:
        # admin implies submit implies read
        rank = {s: i for i, s in enumerate(SCOPES)}
        return any(rank.get(s, -1) >= rank[scope] for s in self.scopes)

    def may_use(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces


OPEN = Principal("anonymous (open mode)", frozenset(SCOPES), frozenset())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_open_mode(settings: Settings) -> None:
    """Refuse to serve without tokens on a non-loopback address unless told to."""
    if settings.auth.tokens or settings.insecure:
        return
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback:
        raise SystemExit(
            f"refusing to listen on {settings.host} without API tokens ([auth] tokens): "
            "configure tokens, or pass --insecure to run open"
        )


def _match(tokens: list[Token], presented: str) -> Token | None:
    digest = hash_token(presented)
    for token in tokens:
        if hmac.compare_digest(token.sha256.lower(), digest):
            return token
    return None


def authenticate(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> Principal:
    if not settings.auth.tokens:
        return OPEN
    header = connection.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise NotAuthorizedException(
            "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    token = _match(settings.auth.tokens, presented.strip())
    if token is None:
        raise NotAuthorizedException("invalid token", headers={"WWW-Authenticate": "Bearer"})
    return Principal(token.name, frozenset(token.scopes), frozenset(token.namespaces))


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    found: Principal = connection.scope["state"]["kjs_principal"]
    return found


def require(scope: str) -> Any:
    """A Litestar guard: the caller's token must carry `scope` (or a stronger one)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        who = authenticate(connection, connection.app.state.settings)
        if not who.may(scope):
            raise PermissionDeniedException(f"token {who.name!r} lacks the {scope!r} scope")
        connection.scope.setdefault("state", {})["kjs_principal"] = who

    return guard


def require_namespace(connection: ASGIConnection[Any, Any, Any, Any], namespace: str) -> None:
    who = principal(connection)
    if not who.may_use(namespace):
        raise PermissionDeniedException(f"token {who.name!r} may not use namespace {namespace!r}")
