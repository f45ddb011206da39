"""The plugin manager, behind a typed facade: core code never calls `pm.hook.*` itself.

Built-in plugins are registered from `DEFAULT_PLUGINS` exactly like third-party ones, which come
from the `kjs` entry-point group. A third-party plugin that fails to import is logged and skipped;
`KJS_DISABLE_PLUGINS` (comma-separated names) and `KJS_DISABLE_PLUGIN_AUTOLOAD` turn plugins off.
The settings sections plugins declare (`register_settings`) are what `kjs.core.config.load`
validates beyond kjs's own keys.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from kjs.core import hookspecs
from kjs.core.backends import KINDS, Backend, BackendError, SettingsSection
from kjs.core.config import own_keys

if TYPE_CHECKING:
    import click

    from kjs.core.commands import CommandServices
    from kjs.core.config import Settings
    from kjs.core.protocols import ClusterView, JobView

log = logging.getLogger(__name__)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "kjs.plugins.store_sqlite",
    "kjs.plugins.store_mysql",
    "kjs.plugins.queue_memory",
    "kjs.plugins.queue_nsq",
    "kjs.plugins.balance_leastload",
    "kjs.plugins.logs_db",
    "kjs.plugins.logs_memory",
    "kjs.plugins.election_db",
    "kjs.plugins.election_lease",
    "kjs.plugins.election_single",
    "kjs.plugins.callback_http",
    "kjs.plugins.compat",
    "kjs.plugins.ui",
)
ENTRY_POINT_GROUP = "kjs"


@dataclass
class PluginInfo:
    """A registered plugin: its name, the distribution it came from, its backends and the
    settings sections it reads."""

    name: str
    distribution: str
    backends: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def disabled_names(value: str) -> set[str]:
    """The plugin names of a `KJS_DISABLE_PLUGINS` value (comma-separated)."""
    return {p.strip() for p in value.split(",") if p.strip()}


def _disabled_from_env() -> set[str]:
    return disabled_names(os.environ.get("KJS_DISABLE_PLUGINS", ""))


class Plugins:
    """One application's plugins: built once, queried through typed methods."""

    def __init__(
        self,
        *,
        builtins: Sequence[str] = DEFAULT_PLUGINS,
        extra: Iterable[object] = (),
        autoload: bool | None = None,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}
        self._disabled = set(disabled) if disabled is not None else _disabled_from_env()
        # Disabled plugins at hand (built-in, inline), asked only which sections they read, and
        # disabled entry points, never imported.
        self._disabled_objects: dict[str, object] = {}
        self._disabled_entry_points: set[str] = set()
        for module_name in builtins:
            self._register(importlib.import_module(module_name), module_name, "kjs")
        if autoload is None:
            autoload = not os.environ.get("KJS_DISABLE_PLUGIN_AUTOLOAD")
        if autoload:
            self._load_entry_points()
        for plugin in extra:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self._register(plugin, name, "(inline)")
        self._pm.check_pending()  # a misspelled hook name fails here, not silently
        self._backends = {kind: self._collect(kind) for kind in KINDS}
        self._sections = self._collect_sections()

    def implements(self, hook: str) -> bool:
        """Whether any plugin implements `hook` (e.g. whether a decision hook can have an
        opinion at all, so that work it could change is not skipped)."""
        return bool(getattr(self._pm.hook, hook).get_hookimpls())

    def _register(self, plugin: object, name: str, distribution: str) -> None:
        # A built-in is named by its module (`kjs.plugins.compat`) or its short name (`compat`).
        short = name.removeprefix("kjs.plugins.") if distribution == "kjs" else name
        if name in self._disabled or short in self._disabled:
            log.debug("plugin %s disabled by KJS_DISABLE_PLUGINS", name)
            self._disabled_objects[name] = plugin
            return
        self._pm.register(plugin, name=name)
        self._info[name] = PluginInfo(name, distribution)

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._disabled:
                self._disabled_entry_points.add(ep.name)
                continue
            if self._pm.has_plugin(ep.name):
                continue
            distribution = ep.dist.name if ep.dist else "?"
            try:
                plugin = ep.load()
                self._register(plugin, ep.name, distribution)
            except Exception:
                log.exception("plugin %s from %s failed to load; skipped", ep.name, distribution)

    def _collect(self, kind: str) -> dict[str, tuple[Backend, str]]:
        hook_name = KINDS[kind][0]
        found: dict[str, tuple[Backend, str]] = {}
        for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
            for backend in impl.function() or ():
                if backend.kind != kind:
                    raise BackendError(
                        f"plugin {impl.plugin_name} returned a {backend.kind} backend "
                        f"from {hook_name}"
                    )
                if backend.name in found:
                    other = found[backend.name][1]
                    raise BackendError(
                        f"{kind} backend {backend.name!r} is registered twice: by "
                        f"{self._describe(other)} and by {self._describe(impl.plugin_name)}"
                    )
                found[backend.name] = (backend, impl.plugin_name)
                self._info[impl.plugin_name].backends.append(f"{kind}:{backend.name}")
        return found

    def _collect_sections(self) -> dict[str, tuple[SettingsSection, str]]:
        own = own_keys()
        found: dict[str, tuple[SettingsSection, str]] = {}
        for impl in self._pm.hook.register_settings.get_hookimpls():
            returned: Any = impl.function()
            for section in returned or ():
                if not isinstance(section, SettingsSection):
                    raise BackendError(
                        f"plugin {impl.plugin_name} returned {section!r} from register_settings "
                        "(a kjs.core.backends.SettingsSection)"
                    )
                name = section.name
                # kjs's own keys keep their meaning; a built-in may claim its own section.
                if name in own and own[name] is not section.schema:
                    raise BackendError(
                        f"settings section [{name}] of plugin {self._describe(impl.plugin_name)} "
                        "is one of kjs's own keys"
                    )
                if name in found:
                    other = found[name][1]
                    raise BackendError(
                        f"settings section [{name}] is declared twice: by "
                        f"{self._describe(other)} and by {self._describe(impl.plugin_name)}"
                    )
                found[name] = (section, impl.plugin_name)
                self._info[impl.plugin_name].sections.append(name)
        return found

    def _describe(self, plugin_name: str) -> str:
        info = self._info.get(plugin_name)
        return f"{plugin_name} ({info.distribution})" if info else plugin_name

    # -- backends --------------------------------------------------------------------------------

    def backend_names(self, kind: str) -> list[str]:
        return sorted(self._backends[kind])

    def backend(self, kind: str, name: str) -> Backend:
        """The backend of `kind` registered as `name`, or an error listing what is installed."""
        try:
            return self._backends[kind][name][0]
        except KeyError:
            installed = ", ".join(self.backend_names(kind)) or "none"
            key = KINDS[kind][1]
            raise BackendError(
                f"{key} = {name!r}: no such {kind} backend is installed (installed: {installed})"
            ) from None

    def plugins(self) -> list[PluginInfo]:
        return sorted(self._info.values(), key=lambda p: p.name)

    # -- settings --------------------------------------------------------------------------------

    def settings_sections(self) -> list[SettingsSection]:
        """The sections the enabled plugins read, by name."""
        return [self._sections[name][0] for name in sorted(self._sections)]

    def disabled_sections(self) -> dict[str, str]:
        """Section name -> the disabled plugin it belongs to: what a disabled plugin at hand
        declares, and for a disabled entry point (never imported) a section of its own name."""
        found = {name: name for name in self._disabled_entry_points}
        for plugin_name, sections in self._ask_disabled("register_settings"):
            for section in sections or ():
                if isinstance(section, SettingsSection):
                    found[section.name] = plugin_name
        return found

    def _ask_disabled(self, hook: str) -> Iterator[tuple[str, Any]]:
        """(plugin name, answer) of each disabled plugin at hand that implements `hook` (one
        that fails is logged and left out): what a disabled plugin would have declared."""
        for plugin_name, plugin in self._disabled_objects.items():
            declare = getattr(plugin, hook, None)
            if declare is None or not hasattr(declare, f"{hookspecs.PROJECT}_impl"):
                continue
            try:
                yield plugin_name, declare()
            except Exception:
                log.exception("disabled plugin %s failed in %s", plugin_name, hook)

    # -- migrations ------------------------------------------------------------------------------

    def migrations(self) -> list[Path]:
        """The directories of the enabled plugins' own Alembic branches (`register_migrations`)."""
        found = []
        for impl in self._pm.hook.register_migrations.get_hookimpls():
            location: Any = impl.function()
            if location is not None:
                found.append(self._migration_dir(impl.plugin_name, location))
        return found

    def disabled_migrations(self) -> list[Path]:
        """The branches of the disabled plugins at hand: known, so that a database one of them
        migrated still reads, but never upgraded."""
        return [
            self._migration_dir(plugin_name, location)
            for plugin_name, location in self._ask_disabled("register_migrations")
            if location is not None
        ]

    @staticmethod
    def _migration_dir(plugin_name: str, location: Path | str) -> Path:
        path = Path(location)
        if not path.is_dir():
            raise BackendError(
                f"plugin {plugin_name} returned {str(location)!r} from register_migrations "
                "(a directory of Alembic revisions)"
            )
        return path

    def disabled_moved_keys(self) -> dict[str, str]:
        """Keys of kjs's own sections that moved to a disabled plugin's section (`moved`) ->
        that plugin: ignored, with a warning."""
        found = {}
        for plugin_name, sections in self._ask_disabled("register_settings"):
            for section in sections or ():
                if isinstance(section, SettingsSection):
                    found.update({old: plugin_name for old, _ in section.moved})
        return found

    # -- extension points ------------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """Give every plugin the loaded settings (`configure`); one that fails is logged and
        does not stop the others."""
        for impl in self._pm.hook.configure.get_hookimpls():
            try:
                impl.function(*({"settings": settings}[name] for name in impl.argnames))
            except Exception:
                log.exception("plugin %s failed in configure", impl.plugin_name)

    def select_cluster(self, job: JobView, clusters: Sequence[ClusterView]) -> str | None:
        result: str | None = self._pm.hook.select_cluster(job=job, clusters=clusters)
        return result

    def prepare_manifest(self, job: JobView, manifest: dict[str, Any]) -> None:
        self._pm.hook.prepare_manifest(job=job, manifest=manifest)

    def webhook_payload(self, job: JobView) -> dict[str, Any] | None:
        """The first plugin's webhook body for `job` (None: kjs's own); one that fails is
        logged and skipped."""
        for impl in reversed(self._pm.hook.webhook_payload.get_hookimpls()):  # pluggy's order
            try:
                payload: Any = impl.function(job=job)
            except Exception:
                log.exception("plugin %s failed in webhook_payload", impl.plugin_name)
                continue
            if payload is not None:
                return dict(payload)
        return None

    def job_state_changed(self, job: JobView, old_state: str, new_state: str) -> None:
        """Notify every plugin; one that fails is logged and does not stop the others."""
        from kjs.core import metrics

        metrics.STATE_CHANGES.labels(state=new_state).inc()
        for impl in self._pm.hook.on_job_state_changed.get_hookimpls():
            try:
                impl.function(job=job, old_state=old_state, new_state=new_state)
            except Exception:
                log.exception("plugin %s failed in on_job_state_changed", impl.plugin_name)

    def routes(self, services: Any) -> list[Any]:
        """Every plugin's routes, built for the server that `services` belong to."""
        batches = self._pm.hook.register_routes(services=services)
        return [route for batch in batches for route in batch or ()]

    def add_commands(self, cli: click.Group, services: CommandServices) -> None:
        self._pm.hook.register_commands(cli=cli, services=services)

    def hook_names(self) -> list[str]:
        return sorted(
            name
            for name in dir(hookspecs)
            if getattr(getattr(hookspecs, name), "kjs_spec", None) is not None
        )
