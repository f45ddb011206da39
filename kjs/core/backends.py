"""Named backend descriptors: what the registration hooks return, and how one is picked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


class BackendError(LookupError):
    """A backend name that nothing registers, or that two plugins both register."""
