"""Who is calling (CONTRACT §6): bearer tokens, stored as SHA-256 hashes, with scopes and
namespace and queue allow-lists. What a caller may do is decided in one place, `kjs.api.policy`.

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
from litestar.exceptions import NotAuthorizedException

from kjs.core.config import Settings, Token

SCOPES = ("read", "submit", "admin")
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/schema")


@dataclass(frozen=True)
class Principal:
    """A caller: a token's name, scopes and namespaces, or an anonymous principal."""

    name: str
    scopes: frozenset[str]
    namespaces: frozenset[str]  # empty: all
    # Confined to the jobs of one realm: the routes of the plugin that made this principal (the
    # compat plugin's `[compat] open` client, realm "compatibility"). None: every job.
    realm: str | None = None
    anonymous: bool = False
    queues: frozenset[str] = frozenset()  # the queues it may submit to; empty: all

    def may_submit_to(self, queue: str) -> bool:
        return not self.queues or queue in self.queues

    def may(self, scope: str) -> bool:
        # admin implies submit implies read
        rank = {s: i for i, s in enumerate(SCOPES)}
        return any(rank.get(s, -1) >= rank[scope] for s in self.scopes)

    def may_use(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    @property
    def label(self) -> str:
        """How refusals name it."""
        return f"the {self.name}" if self.anonymous else f"token {self.name!r}"


OPEN = Principal("anonymous (open mode)", frozenset(SCOPES), frozenset(), anonymous=True)


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
        from kjs.core.config import ConfigExit  # a usage error: exit code 2, one line

        raise ConfigExit(
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
    return Principal(
        token.name,
        frozenset(token.scopes),
        frozenset(token.namespaces),
        queues=frozenset(token.queues),
    )
