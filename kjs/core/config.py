"""Configuration (CONTRACT §2): a TOML file, then `KJS_*` environment variables, then flags.

`KJS_MYSQL__URL=…` sets `[mysql] url`; values from the environment are parsed as TOML values
when they parse (numbers, booleans, arrays) and taken as strings otherwise. Invalid values stop
the process with one line naming the key and the reason.

Besides kjs's own keys (`Settings`), a plugin may read a section of its own: it declares it with
the `register_settings` hook (a `SettingsSection(name, schema)`), `load` validates it with the
plugin's schema, and the plugin reads it with `settings.section(name, schema)`. A section no
installed plugin declares stops the process when it comes from the file (a misspelling), and is
warned about when it comes from the environment (like other unknown `KJS_*` variables).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
from msgspec import Meta, Struct, field

if TYPE_CHECKING:
    from kjs.core.backends import SettingsSection
    from kjs.core.plugins import Plugins

log = logging.getLogger(__name__)
_S = TypeVar("_S", bound=Struct)

# Client-side and plugin-manager variables: not server keys, never warned about.
_NOT_KEYS = {
    "KJS_URL",
    "KJS_TOKEN",
    "KJS_CONFIG",
    "KJS_DISABLE_PLUGINS",
    "KJS_DISABLE_PLUGIN_AUTOLOAD",
    "KJS_TESTENV_CACHE",
    "KJS_TESTENV_DIR",
}
# What a token may be granted (`admin` ⊃ `submit` ⊃ `read`).
TOKEN_SCOPES = ("read", "submit", "admin")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_Seconds = Annotated[float, Meta(gt=0)]


class SqliteSettings(Struct, forbid_unknown_fields=True):
    path: str = "kjs.db"
    """Relative paths are inside the data directory."""


class MysqlSettings(Struct, forbid_unknown_fields=True):
    url: str = ""
    """SQLAlchemy URL, `mysql+pymysql://user:password@host:3306/kjs`."""
    pool_size: int = 10


class NsqSettings(Struct, forbid_unknown_fields=True):
    nsqd_tcp: list[str] = field(default_factory=list)
    nsqd_http: list[str] = field(default_factory=list)
    lookupd_http: list[str] = field(default_factory=list)


class WebhookSettings(Struct, forbid_unknown_fields=True):
    secret: str = ""
    timeout_s: float = 10.0
    retry_for_s: float = 86400.0
    # Cap of the exponential backoff between two attempts (full jitter below it).
    max_backoff_s: float = 600.0
    allow_private: bool = False


class Token(Struct, forbid_unknown_fields=True):
    name: str
    sha256: str
    """The token's SHA-256 as 64 hex digits (`printf %s TOKEN | sha256sum`), never the token."""
    scopes: list[str] = field(default_factory=lambda: ["read"])
    namespaces: list[str] = field(default_factory=list)
    """Empty: every namespace."""


class AuthSettings(Struct, forbid_unknown_fields=True):
    tokens: list[Token] = field(default_factory=list)


class HttpSettings(Struct, forbid_unknown_fields=True):
    """Limits on what one client may hold of the server's connections."""

    header_timeout_s: _Seconds = 10.0
    """A request's line and headers must be complete within this long of the connection opening
    (or of its first byte, on a kept-alive connection); else 408 and the connection is closed."""
    body_timeout_s: _Seconds = 30.0
    """A request's whole body must arrive within this long of its headers; else 408."""


class DispatchSettings(Struct, forbid_unknown_fields=True):
    unreachable_after_s: float = 30.0
    lost_after_s: float = 300.0
    ack_timeout_s: float = 30.0
    # How far apart server and agent clocks may be: a dispatch moves off a silent cluster only
    # this long after the expiry of the last copy published to it.
    clock_skew_s: float = 5.0
    # The leader's safety sweep, for work nothing woke it up for.
    sweep_s: float = 2.0
    # How often each ready cluster's agent is sent the list of its active jobs, to find those
    # whose Kubernetes Job was deleted while no agent watched (they become failed, JobDeleted).
    reconcile_s: float = 30.0


class LogSettings(Struct, forbid_unknown_fields=True):
    cap_bytes_per_container: int = 10 * 1024 * 1024
    retention_days: float = 30.0
    final_wait_s: float = 10.0


class AgentSettings(Struct, forbid_unknown_fields=True):
    namespaces: list[str] = field(default_factory=list)
    create_namespaces: bool = False
    max_concurrent_jobs: int = 0
    heartbeat_s: float = 5.0
    resync_s: float = 60.0
    labels: dict[str, str] = field(default_factory=dict)
    lease_namespace: str = "default"
    """Where the agents' Lease lives (in a cluster: set it to the agent's own namespace)."""
    lease_s: float = 15.0


class Settings(Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """Every configuration key of kjs itself, with the embedded defaults; plugins' sections
    through `section()`. (`dict=True`: the plugins' sections ride along, not as keys.)"""

    store: str = "sqlite"
    queue: str = "memory"
    balancer: str = "leastload"
    log_sink: str = "db"
    notifier: str = "http"
    election: str = "db"
    data_dir: str = ".kjs"
    host: str = "127.0.0.1"
    port: int = 8080
    insecure: bool = False
    sqlite: SqliteSettings = field(default_factory=SqliteSettings)
    mysql: MysqlSettings = field(default_factory=MysqlSettings)
    nsq: NsqSettings = field(default_factory=NsqSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    def data_path(self, relative: str) -> Path:
        """A path inside the data directory (created on demand)."""
        path = Path(relative)
        if path.is_absolute():
            return path
        base = Path(self.data_dir)
        base.mkdir(parents=True, exist_ok=True)
        return base / path

    def section(self, name: str, schema: type[_S]) -> _S:
        """The section `[name]` as `schema`: kjs's own (`section("mysql", MysqlSettings)` is
        `settings.mysql`) or a plugin's, validated when loaded; the schema's defaults when the
        file and the environment do not have it. A ConfigError names a key that does not fit."""
        if name in self.__struct_fields__:
            own = getattr(self, name)
            if not isinstance(own, schema):
                raise TypeError(
                    f"[{name}] is kjs's own {type(own).__name__}, not {schema.__name__}"
                )
            return own
        state = vars(self)
        validated: dict[str, Any] = state.setdefault("_sections", {})
        value = validated.get(name)
        if not isinstance(value, schema):
            value = _validate_section(name, schema, state.get("_raw_sections", {}).get(name, {}))
            validated[name] = value
        return value

    def check_sections(self) -> None:
        """The plugins' own checks of their sections (`SettingsSection.check`), at server
        start: a ConfigError names a key whose value cannot work."""
        for section in vars(self).get("_declared", {}).values():
            if section.check is not None:
                section.check(self)


class ConfigError(ValueError):
    """One line naming the key and the reason."""


class ConfigExit(SystemExit):
    """A setting that cannot work, found where it is used rather than while loading: the
    process stops with exit code 2 (CONTRACT §1) and this one line (`str()`)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if text.lstrip().startswith(("[", "{")):
        # JSON arrays and objects too: the chart passes `[auth] tokens` as a JSON list.
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def own_keys() -> dict[str, Any]:
    """kjs's own top-level keys and their types (a section's type is its Struct)."""
    return {f.name: f.type for f in msgspec.structs.fields(Settings)}


def _own_sections() -> set[str]:
    return {
        name
        for name, kind in own_keys().items()
        if isinstance(kind, type) and issubclass(kind, Struct)
    }


def _plugin_sections(values: Mapping[str, Any]) -> set[str]:
    """The tables of `values` that are not kjs's own keys: sections for plugins."""
    own = own_keys()
    return {k for k, v in values.items() if k not in own and isinstance(v, Mapping)}


def _stray_keys(values: Mapping[str, Any]) -> list[str]:
    """`section.key` of the keys in kjs's own sections that are none of theirs (perhaps one
    that moved to a plugin's section)."""
    found = []
    for name, kind in own_keys().items():
        given = values.get(name)
        if isinstance(kind, type) and issubclass(kind, Struct) and isinstance(given, Mapping):
            fields = {f.encode_name for f in msgspec.structs.fields(kind)}
            found += [f"{name}.{key}" for key in given if key not in fields]
    return found


def _move_keys(
    merged: dict[str, Any],
    raw: dict[str, Any],
    declared: Mapping[str, SettingsSection],
    disabled: Mapping[str, str],
) -> None:
    """Keys of kjs's own sections that moved to a plugin's section: to it (the new name
    wins), or ignored with a warning when the plugin is disabled."""
    for section in declared.values():
        for old, new in section.moved:
            own, key = old.split(".", 1)
            values = merged.get(own)
            if isinstance(values, dict) and key in values:
                value = values.pop(key)
                target = raw.setdefault(section.name, {})
                if isinstance(target, dict):
                    target.setdefault(new, value)
                log.debug("[%s] %s is now [%s] %s", own, key, section.name, new)
    for old, plugin in disabled.items():
        own, key = old.split(".", 1)
        values = merged.get(own)
        if isinstance(values, dict) and key in values:
            values.pop(key)
            log.warning(
                "[%s] %s: ignored: plugin %s is disabled (KJS_DISABLE_PLUGINS)", own, key, plugin
            )


def _from_env(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str], dict[str, list[str]]]:
    """The values of `KJS_*` variables; the names of those that are no key; and, per section
    that is not kjs's own (`KJS_<SECTION>__<KEY>`: perhaps a plugin's), its variables."""
    known = own_keys()
    found: dict[str, Any] = {}
    unknown = []
    sections: dict[str, list[str]] = {}
    for name, text in environ.items():
        if not name.startswith("KJS_") or name in _NOT_KEYS:
            continue
        path = [part.lower() for part in name[4:].split("__")]
        if path[0] not in known:
            if len(path) < 2 or not all(path):
                unknown.append(name)
                continue
            sections.setdefault(path[0], []).append(name)
        node = found
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(text)
    return found, unknown, sections


def _field_of(error: msgspec.ValidationError) -> str:
    text = str(error)
    path = text.rsplit(" - at `$.", 1)[1].rstrip("`") if " - at `$." in text else ""
    if "field `" in text:  # unknown or missing: the key itself
        name = text.split("field `", 1)[1].split("`", 1)[0]
        path = f"{path}.{name}" if path else name
    return path or "config"


def _validate_section(name: str, schema: type[_S], data: Any) -> _S:
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as e:
        message = str(e).split(" - at `", 1)[0]
        key = _field_of(e)
        where = f"{name}.{key}" if key != "config" else name
        raise ConfigError(f"{where}: {message}") from e


def _plugins_for(environ: Mapping[str, str]) -> Plugins:
    """The plugins `environ` would run with (its KJS_DISABLE_PLUGINS and _AUTOLOAD)."""
    from kjs.core.plugins import Plugins, disabled_names

    return Plugins(
        disabled=disabled_names(environ.get("KJS_DISABLE_PLUGINS", "")),
        autoload=not environ.get("KJS_DISABLE_PLUGIN_AUTOLOAD"),
    )


def _check_tokens(tokens: list[Token]) -> None:
    """A token that could never be used is a mistake to stop at, not to serve with."""
    for i, token in enumerate(tokens):
        key = f"auth.tokens[{i}]"
        if not _SHA256_HEX.fullmatch(token.sha256):
            # The value is not repeated: it may be the token itself, pasted by mistake.
            raise ConfigError(
                f"{key}.sha256: must be the token's SHA-256 as 64 hex digits "
                f"(got {len(token.sha256)} characters; `printf %s TOKEN | sha256sum`)"
            )
        if not token.scopes:
            raise ConfigError(f"{key}.scopes: empty ({', '.join(TOKEN_SCOPES)})")
        for scope in token.scopes:
            if scope not in TOKEN_SCOPES:
                raise ConfigError(
                    f"{key}.scopes: unknown scope {scope!r} ({', '.join(TOKEN_SCOPES)})"
                )


def load(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    plugins: Plugins | None = None,
) -> Settings:
    """Settings from defaults < file < environment < overrides (flags).

    Sections beyond kjs's own keys are checked against what `plugins` declare; without
    `plugins`, against the plugins `environ` would run with, built only when there are such
    sections (or plugins are disabled)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(defaults or {})
    explicit = _plugin_sections(merged)  # sections not from the environment: refused if unknown
    if config_file is not None:
        try:
            from_file = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"config file {config_file}: {e}") from e
        explicit |= _plugin_sections(from_file)
        _merge(merged, from_file)
    from_env, unknown_env, env_sections = _from_env(environ)
    _merge(merged, from_env)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    explicit |= _plugin_sections(flags)
    _merge(merged, flags)
    raw = {name: merged.pop(name) for name in sorted(_plugin_sections(merged))}

    present_own = _own_sections() & merged.keys()
    if plugins is None and (
        raw
        or _stray_keys(merged)
        or (present_own and environ.get("KJS_DISABLE_PLUGINS", "").strip())
    ):
        plugins = _plugins_for(environ)
    declared = {s.name: s for s in plugins.settings_sections()} if plugins is not None else {}
    disabled = plugins.disabled_sections() if plugins is not None else {}
    _move_keys(merged, raw, declared, plugins.disabled_moved_keys() if plugins else {})
    for name in sorted(present_own | raw.keys()):
        if name in declared or name not in disabled:
            continue
        log.warning(
            "[%s]: ignored: plugin %s is disabled (KJS_DISABLE_PLUGINS)", name, disabled[name]
        )
        merged.pop(name, None)  # a disabled built-in's own section: its defaults
        raw.pop(name, None)
    undeclared = sorted(raw.keys() - declared.keys())
    installed = ", ".join(sorted(_own_sections() | declared.keys()))
    for name in undeclared:
        if name in explicit:
            raise ConfigError(
                f"[{name}]: no installed plugin declares this section (installed sections: "
                f"{installed})"
            )
    if unknown_env or undeclared:
        names = sorted(unknown_env + [v for name in undeclared for v in env_sections[name]])
        why = (
            f" ({', '.join(f'[{n}]' for n in undeclared)}: no installed plugin declares "
            f"{'this section' if len(undeclared) == 1 else 'these sections'}; installed "
            f"sections: {installed})"
            if undeclared
            else ""
        )
        log.warning("ignoring unknown KJS_* environment variables: %s%s", ", ".join(names), why)

    try:
        settings = msgspec.convert(merged, Settings)
    except msgspec.ValidationError as e:
        message = str(e).split(" - at `", 1)[0]
        raise ConfigError(f"{_field_of(e)}: {message}") from e
    _check_tokens(settings.auth.tokens)
    known = {name: raw[name] for name in declared.keys() & raw.keys()}
    state = vars(settings)
    state["_raw_sections"] = known
    state["_declared"] = declared
    state["_sections"] = {
        name: _validate_section(name, declared[name].schema, data)
        for name, data in sorted(known.items())
    }
    return settings
