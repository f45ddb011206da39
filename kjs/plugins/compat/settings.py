"""`[compat]`: the compat plugin's settings, and the anonymous client they may open the
original's routes to (`open`, formerly `[auth] compat_open`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from msgspec import Struct, field

from kjs.core.backends import SettingsSection
from kjs.core.config import ConfigError, Settings
from kjs.core.queues import name_problem

# The anonymous `[compat] open` client may only use the jobs made through these routes.
REALM = "compatibility"

if TYPE_CHECKING:
    from kjs.api.auth import Principal

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class CompatSettings(Struct, forbid_unknown_fields=True):
    """The original system's routes (`/api/once_job/…`)."""

    open: bool = False
    """A caller of these routes that sends no token is an anonymous client that may read and
    submit only the jobs created through them, in `open_namespaces` (formerly `[auth]
    compat_open`, still accepted)."""
    delete_wait_s: float = 15.0
    """Seconds a delete through these routes waits for its cluster to confirm (the original's
    `operate_max_timeout`)."""
    open_namespaces: list[str] = field(default_factory=list)
    """With `open`: the namespaces the anonymous compat client may use (required then)."""
    queue: str = "default"
    """The queue of the jobs and cron jobs created through these routes (the original's
    requests name none). It must exist when they are submitted (`[scheduling.queues]`, or
    defined over the API), and a token limited to queues must be allowed it."""


def compat_settings(settings: Settings) -> CompatSettings:
    return settings.section("compat", CompatSettings)


def check_compat_open(settings: Settings) -> None:
    """`[compat] open` needs `[compat] open_namespaces`: the namespaces an anonymous client
    may use. Raises ConfigError naming the key (the process exits 2)."""
    compat = compat_settings(settings)
    if (why := name_problem(compat.queue)) is not None:
        raise ConfigError(f"compat.queue: {why}")
    if not compat.open:
        return
    if not compat.open_namespaces:
        raise ConfigError(
            "compat.open_namespaces: must name the namespaces the anonymous client may use "
            "when [compat] open (formerly [auth] compat_open) is true (it is empty)"
        )
    for i, namespace in enumerate(compat.open_namespaces):
        if not _NAMESPACE.fullmatch(namespace):
            raise ConfigError(
                f"compat.open_namespaces[{i}]: {namespace!r} is not a namespace name "
                "(a lowercase RFC 1123 label)"
            )


SECTION = SettingsSection(
    "compat",
    CompatSettings,
    "the original system's routes",
    moved=(("auth.compat_open", "open"),),
    check=check_compat_open,
)


def anonymous_client(settings: Settings) -> Principal | None:
    """The anonymous client of the compatibility routes (`[compat] open`), for a caller that
    sends no token; None when the routes are not open."""
    from litestar.exceptions import NotAuthorizedException

    from kjs.api.auth import Principal

    compat = compat_settings(settings)
    if not compat.open:
        return None
    if not compat.open_namespaces:  # never "every namespace": fail closed
        raise NotAuthorizedException(
            "a bearer token is required ([compat] open_namespaces is empty)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(
        "anonymous compatibility client ([auth] compat_open)",
        frozenset({"submit"}),
        frozenset(compat.open_namespaces),
        realm=REALM,
        anonymous=True,
    )
