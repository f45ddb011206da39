"""Named descriptors: what the registration hooks return (backends, and the settings sections
plugins read), and how one is picked."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

# Backend kind -> (registration hook, configuration key that selects one).
KINDS: dict[str, tuple[str, str]] = {
    "store": ("register_stores", "store"),
    "queue": ("register_queues", "queue"),
    "balancer": ("register_balancers", "balancer"),
    "log_sink": ("register_log_sinks", "log_sink"),
    "election": ("register_elections", "election"),
    "notifier": ("register_notifiers", "notifier"),
}


@dataclass(frozen=True)
class BuildContext:
    """What a backend factory gets: the settings, and the store for backends that use it."""

    settings: Any  # kjs.core.config.Settings
    store: Any = None  # kjs.core.protocols.Store, once built
    kube: Any = None  # an agent's kubernetes.aio ApiClient
    cluster_id: str | None = None  # an agent's cluster
    plugins: Any = None  # kjs.core.plugins.Plugins: e.g. the plugins' migrations, for a store


@dataclass(frozen=True)
class Backend:
    """One implementation of a contract, registered under a name.

    `factory` receives a BuildContext and returns the backend object; it imports heavy or
    optional libraries itself, so listing backends stays cheap."""

    kind: str
    name: str
    factory: Callable[[BuildContext], Any]
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown backend kind {self.kind!r}; one of {', '.join(KINDS)}")


# `[name]` in the file, `KJS_<NAME>__<KEY>` in the environment: the name must survive both.
_SECTION_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


@dataclass(frozen=True)
class SettingsSection:
    """A configuration section a plugin reads: `[name]` in the TOML file, `KJS_<NAME>__<KEY>`
    in the environment, validated by `schema` (a msgspec Struct) when the settings are loaded.

    The plugin reads it with `settings.section(name, schema)`: its struct, with the schema's
    defaults when neither the file nor the environment has the section."""

    name: str
    schema: type[msgspec.Struct]
    description: str = ""
    moved: tuple[tuple[str, str], ...] = ()
    """Keys of kjs's own sections that are now this section's, by old and new name
    (`("auth.compat_open", "open")`): the old key is still accepted, as the new one (which wins
    when both are given)."""
    check: Callable[[Any], None] | None = None
    """`check(settings)` at server start, for what the schema cannot say (one key needs
    another): raises `kjs.core.config.ConfigError` naming the key (exit 2). It must pass on the
    schema's defaults."""

    def __post_init__(self) -> None:
        if not _SECTION_NAME.fullmatch(self.name):
            raise ValueError(
                f"settings section {self.name!r}: a lowercase name of letters, digits and single "
                "underscores, starting with a letter (it is also KJS_<NAME>__<KEY>)"
            )
        if not (isinstance(self.schema, type) and issubclass(self.schema, msgspec.Struct)):
            raise ValueError(f"settings section {self.name!r}: schema must be a msgspec Struct")


class BackendError(LookupError):
    """A backend name that nothing registers, or a backend name or settings section that two
    plugins both register."""


async def subscribe_with(
    queue: Any, topic: str, channel: str, handler: Any, *, max_in_flight: int | None
) -> None:
    """`queue.subscribe` with `max_in_flight` when one is asked and the backend takes it (an
    optional keyword of `kjs.core.protocols.Queue.subscribe`; a backend written before it, or
    None asked, gets the backend's default)."""
    takes = "max_in_flight" in inspect.signature(queue.subscribe).parameters
    if max_in_flight is not None and takes:
        await queue.subscribe(topic, channel, handler, max_in_flight=max_in_flight)
    else:
        await queue.subscribe(topic, channel, handler)
