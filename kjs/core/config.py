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
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from kjs.core import priorities
from kjs.core.priorities import PriorityClass
from kjs.core.quantity import QuantityError, cpu_millicores, memory_bytes
from kjs.core.queues import ClusterLimits, QueueDefinition, limit_problems, name_problem, problems
from kjs.core.requests import DEFAULT_CPU, DEFAULT_MEMORY, Requests, default_requests

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
    """The SQLite store (`store = "sqlite"`): one file, for one server process."""

    path: str = "kjs.db"
    """The database file, read by the server and `kjs up`; a relative path is inside
    `data_dir`. Change it to keep the database elsewhere (e.g. on a backed-up volume)."""


class MysqlSettings(Struct, forbid_unknown_fields=True):
    """The MySQL/MariaDB store (`store = "mysql"`), shared by every server replica."""

    url: str = ""
    """SQLAlchemy URL of the database, `mysql+pymysql://user:password@host:3306/kjs`; read by
    the server, `kjs up` and `kjs migrate`. Required when `store = "mysql"`."""
    pool_size: int = 10
    """Database connections each server process keeps open (as many again may be opened
    under load). Raise it for a busy server, within the database's `max_connections`."""


class NsqSettings(Struct, forbid_unknown_fields=True):
    """The NSQ queue (`queue = "nsq"`) between the servers and the agents."""

    nsqd_tcp: list[str] = field(default_factory=list)
    """`host:port` TCP addresses of the nsqd daemons to consume from, read by the server and
    the agents; leave empty when `lookupd_http` finds them."""
    nsqd_http: list[str] = field(default_factory=list)
    """`host:port` HTTP addresses of the nsqd daemons to publish to (round robin, the next
    one when one fails); at least one is required with `queue = "nsq"`."""
    lookupd_http: list[str] = field(default_factory=list)
    """`host:port` HTTP addresses of nsqlookupd, to discover the nsqd daemons to consume from
    instead of listing them in `nsqd_tcp`."""


class WebhookSettings(Struct, forbid_unknown_fields=True):
    """The webhooks the server sends when a job reaches its final state."""

    secret: str = ""
    """Key of the `X-Kjs-Signature` HMAC-SHA256 header on every webhook (empty: unsigned).
    Set it, and check the signature in the receiver, whenever webhooks leave the host."""
    timeout_s: float = 10.0
    """Seconds one delivery attempt may take before it counts as failed and is retried."""
    retry_for_s: float = 86400.0
    """Seconds after the job's final state during which failed deliveries are retried; after
    that the webhook is given up (with a warning in the server's log)."""
    max_backoff_s: float = 600.0
    """Cap, in seconds, of the exponential backoff between two attempts (full jitter below
    it). Lower it to retry a flaky receiver more often."""
    allow_private: bool = False
    """Allow callback URLs on private and loopback addresses. Off, a literal such address is a
    400 at submit and a hostname resolving to one is refused at delivery; turn it on only when
    the receivers are inside your network."""


class Token(Struct, forbid_unknown_fields=True):
    """One API token of `[auth] tokens`: who it is, what it may do, and where."""

    name: str
    """Who holds the token: named in the messages of the requests it is refused."""
    sha256: str
    """The token's SHA-256 as 64 hex digits (`printf %s TOKEN | sha256sum`), never the token."""
    scopes: list[str] = field(default_factory=lambda: ["read"])
    """What the token may do: `read`, `submit` (and read), `admin` (everything, cordoning
    clusters included)."""
    namespaces: list[str] = field(default_factory=list)
    """The namespaces the token may read and submit to. Empty: every namespace."""
    queues: list[str] = field(default_factory=list)
    """The queues the token may submit jobs and cron jobs to (or move a job into): another is a
    403 naming it. Empty: every queue. Listing queues and reading jobs are not limited by it."""


class DefaultRequests(Struct, forbid_unknown_fields=True):
    """`[scheduling.default_requests]`: one pod's request when its job names none."""

    cpu: str = DEFAULT_CPU
    """CPU, a Kubernetes quantity (`"100m"`, `"0.5"`)."""
    memory: str = DEFAULT_MEMORY
    """Memory, a Kubernetes quantity (`"128Mi"`, `"1Gi"`)."""

    def requests(self) -> Requests:
        return default_requests(self.cpu, self.memory)


class SchedulingSettings(Struct, forbid_unknown_fields=True):
    """How jobs share the clusters: the queues they are submitted to (docs/queues.md)."""

    queues: dict[str, QueueDefinition] = field(default_factory=dict)
    """Queues defined here, one table each: `[scheduling.queues.gpu]` with `weight` (> 0,
    default 1), `limits` (`max_running`, `max_cpu`, `max_memory`, and `per_cluster` with the same
    keys; quantities as strings, `"8"`, `"16Gi"`), `namespaces` (the namespaces it takes; empty:
    every one), `priority_class` (the class of its jobs that name none; it must be defined
    in `priority_classes`) and `preemption` (default true: its jobs that fit nowhere may preempt
    running jobs of a lower, preemptible class). They are read-only over the API. The queue
    `default` always exists (no limits, weight 1) unless defined here."""
    priority_classes: dict[str, PriorityClass] = field(default_factory=dict)
    """Priority classes, one table each: `[scheduling.priority_classes.high]` with `value` (an
    integer, -1,000,000,000 … 1,000,000,000: within a queue, higher is placed first),
    `preemptible` (default false) and an optional `description`. Names are DNS-1123 subdomains.
    A job names one in `priority_class` (else it takes its queue's; else none: priority 0).
    The value is read when a job is written: a new value applies to jobs written after it
    changes. Read-only over the API (`GET /api/v1/priority-classes`)."""
    default_requests: DefaultRequests = field(default_factory=lambda: DefaultRequests())
    """What one pod of a job that names no `resources.requests` (nor limits) counts as, for
    queue and namespace limits and for placement on clusters that report their free resources
    (`cpu`, `memory`: Kubernetes quantities). Applies to jobs written after it changes."""
    namespaces: dict[str, ClusterLimits] = field(default_factory=dict)
    """Limits per Kubernetes namespace, whatever the queue: `[scheduling.namespaces.ml]` with
    `max_running`, `max_cpu`, `max_memory` (as a queue's). A namespace at a limit keeps its jobs
    pending (`NamespaceLimitReached`) while others proceed. Not listed: no limit."""


class AuthSettings(Struct, forbid_unknown_fields=True):
    """Who may call the server's API."""

    tokens: list[Token] = field(default_factory=list)
    """The API tokens the server accepts as `Authorization: Bearer …`, each a table of `name`,
    `sha256`, `scopes`, `namespaces` and `queues`. With none, the server refuses to listen beyond
    loopback unless `insecure` is set."""


class HttpSettings(Struct, forbid_unknown_fields=True):
    """Limits on what one client may hold of the server's connections."""

    header_timeout_s: _Seconds = 10.0
    """Seconds (server): a request's line and headers must be complete within this long of the
    connection opening (or of its first byte, on a kept-alive connection); else 408 and the
    connection is closed. Lower it against clients that hold connections open."""
    body_timeout_s: _Seconds = 30.0
    """Seconds (server): a request's whole body must arrive within this long of its headers;
    else 408. Raise it for large batches over slow links."""


class DispatchSettings(Struct, forbid_unknown_fields=True):
    """How the server's leader places jobs and judges silent clusters."""

    unreachable_after_s: float = 30.0
    """Seconds without a heartbeat after which a cluster is unreachable: it gets no new jobs,
    and its dispatched jobs that no agent took yet move to another cluster."""
    lost_after_s: float = 300.0
    """Seconds without a heartbeat after which the jobs still running on a cluster are marked
    lost (they may be running there, unobserved). Keep it well above `unreachable_after_s`."""
    ack_timeout_s: float = 30.0
    """Seconds a dispatch message is valid: unacknowledged by then, the server publishes it
    again, and an agent drops a copy that arrives later."""
    clock_skew_s: float = 5.0
    """How far apart, in seconds, server and agent clocks may be: a dispatch moves off a silent
    cluster only this long after the expiry of the last copy published to it."""
    sweep_s: float = 2.0
    """Seconds between two runs of the leader's safety sweep (placement, outbox, liveness), for
    work nothing woke it up for."""
    reconcile_s: float = 30.0
    """Seconds between two lists of its active jobs sent to each ready cluster's agent, to find
    those whose Kubernetes Job was deleted while no agent watched (they fail, `JobDeleted`)."""


class LogSettings(Struct, forbid_unknown_fields=True):
    """The container logs the agents collect and the server keeps."""

    cap_bytes_per_container: int = 10 * 1024 * 1024
    """Bytes of log kept per container and attempt (the agent stops collecting beyond it, the
    server's log routes say it was cut). Raise it for chatty jobs, at the store's expense."""
    retention_days: float = 30.0
    """Days a finished job, its events and its log are kept; the leader removes older ones
    hourly (and log chunks this old of jobs still running)."""
    final_wait_s: float = 10.0
    """Seconds the server holds a job's final state back until all its log chunks are stored;
    after that the state is stored with "log incomplete" in its message."""


class LoggingSettings(Struct, forbid_unknown_fields=True):
    """What kjs's own log lines look like: one format for kjs, uvicorn and Litestar."""

    format: Literal["text", "json"] = "text"
    """`text`: one readable line per event (for a terminal); `json`: one JSON object per line
    (for a log collector; the Helm chart's choice). Read by every process (server, agent,
    `kjs up`)."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The least severe level written, by every process. INFO has one line per job state
    change; DEBUG is for chasing a problem."""


class AgentSettings(Struct, forbid_unknown_fields=True):
    """One cluster's agent (`kjs agent`, and the one `kjs up` runs)."""

    namespaces: list[str] = field(default_factory=list)
    """The namespaces the agent watches and may create Jobs in. Empty: every namespace (the
    agent then needs cluster-wide permissions)."""
    create_namespaces: bool = False
    """Let the agent create a job's namespace when it does not exist (it needs the permission
    to); off, the namespace must exist beforehand."""
    max_concurrent_jobs: int = 0
    """Most jobs the cluster is offered at once. 0: the pods its ready, schedulable nodes can
    hold; set it to keep part of a cluster for other work."""
    heartbeat_s: float = 5.0
    """Seconds between two heartbeats (capacity, load, labels) to the server. Keep it well
    below `[dispatch] unreachable_after_s`."""
    resync_s: float = 60.0
    """Seconds between two full reports of every tracked job's status, besides the changes
    sent as they happen (level-triggered: a lost message is repaired)."""
    labels: dict[str, str] = field(default_factory=dict)
    """This cluster's labels, sent with each heartbeat: a job's `cluster_selector` places it
    only on clusters whose labels match (e.g. `{gpu = "true"}`)."""
    lease_namespace: str = "default"
    """Where the agents' Lease lives (in a cluster: set it to the agent's own namespace)."""
    lease_s: float = 15.0
    """Seconds the agents' Lease is held without renewal (`election = "lease"`): how long a
    standby agent waits before taking over from a dead one."""


class Settings(Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """Every configuration key of kjs itself, with the embedded defaults; plugins' sections
    through `section()`. (`dict=True`: the plugins' sections ride along, not as keys.)"""

    store: str = "sqlite"
    """The store backend keeping jobs, cron jobs and clusters: `sqlite` (one server) or `mysql`
    (replicas; `[mysql] url`). Read by the server, `kjs up` and `kjs migrate`."""
    queue: str = "memory"
    """The queue between server and agents: `memory` (one process, `kjs up`) or `nsq`
    (separate processes; `[nsq]`). Server and agents must name the same one."""
    balancer: str = "leastload"
    """How the server chooses among the clusters that fit a job: `leastload`, the one with the
    most free capacity."""
    log_sink: str = "db"
    """Where the server keeps collected container logs: `db` (the store's tables) or `memory`
    (this process only: for trials)."""
    notifier: str = "http"
    """How the server announces finished jobs: `http`, the webhooks of `[webhooks]`."""
    election: str = "db"
    """Who does the work that must happen once: `db` (the server's default: a lease row in the
    store), `lease` (the agent's default: a Kubernetes Lease), `single` (`kjs up`'s: no
    election)."""
    data_dir: str = ".kjs"
    """Directory of the process's local files: the SQLite database for the server (`.kjs`), the
    spool of unsent messages for an agent (its default is `.kjs-agent`). Flag `--data-dir`."""
    host: str = "127.0.0.1"
    """Address the server listens on (an agent: its `/metrics`). Flag `--host`; a non-loopback
    address needs `[auth] tokens` or `insecure`."""
    port: int = 8080
    """TCP port of the server's API. Flag `--port`."""
    insecure: bool = False
    """Let the server listen beyond loopback without API tokens: anyone who reaches it may do
    anything. Only behind something else that authenticates. Flag `--insecure`."""
    sqlite: SqliteSettings = field(default_factory=SqliteSettings)
    mysql: MysqlSettings = field(default_factory=MysqlSettings)
    nsq: NsqSettings = field(default_factory=NsqSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    scheduling: SchedulingSettings = field(default_factory=SchedulingSettings)

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


_QUANTITY_KEYS = ("max_cpu", "max_memory")


def _values(table: Any) -> list[Any]:
    return list(table.values()) if isinstance(table, dict) else []


def _queue_tables(merged: dict[str, Any]) -> None:
    """Each `[scheduling.queues.<name>]` read on its own, so that an error names its key (msgspec
    would say `queues[...]`); a quantity written as a TOML number (`max_cpu = 8`, or from a
    variable) is taken as the string it reads as."""
    scheduling = merged.get("scheduling")
    if not isinstance(scheduling, dict):
        return
    # Quantities written as TOML numbers (`cpu = 1`, `max_cpu = 8`) read as their strings.
    tables = [scheduling.get("default_requests"), *_values(scheduling.get("namespaces"))]
    for table in tables:
        if isinstance(table, dict):
            for key in ("cpu", "memory", *_QUANTITY_KEYS):
                value = table.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    table[key] = str(value)
    classes = scheduling.get("priority_classes")
    if isinstance(classes, dict):
        for name, table in list(classes.items()):
            where = f"scheduling.priority_classes.{name}"
            classes[name] = _validate_section(where, PriorityClass, table)
    queues = scheduling.get("queues")
    if not isinstance(queues, dict):
        return
    for name, table in list(queues.items()):
        limits = table.get("limits") if isinstance(table, dict) else None
        if isinstance(limits, dict):
            per_cluster = limits.get("per_cluster")
            for level in (limits, per_cluster) if isinstance(per_cluster, dict) else (limits,):
                for key in _QUANTITY_KEYS:
                    value = level.get(key)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        level[key] = str(value)
        queues[name] = _validate_section(f"scheduling.queues.{name}", QueueDefinition, table)


def _check_queues(scheduling: SchedulingSettings, tokens: list[Token]) -> None:
    """A queue that could not be defined over the API stops the process, naming the key."""
    for name, definition in scheduling.queues.items():
        for key, why in problems(definition, name)[:1]:
            where = f"scheduling.queues.{name}" + (
                "" if key == "name" and name_problem(name) else f".{key}"
            )
            raise ConfigError(f"{where}: {why}")
    for name in scheduling.priority_classes:
        if (bad := priorities.name_problem(name)) is not None:
            raise ConfigError(f"scheduling.priority_classes.{name}: {bad}")
    for name, definition in scheduling.queues.items():
        pc = definition.priority_class
        if pc is not None and (bad := priorities.unknown(pc, scheduling.priority_classes)):
            raise ConfigError(f"scheduling.queues.{name}.priority_class: {bad}")
    for key, parse in (("cpu", cpu_millicores), ("memory", memory_bytes)):
        try:
            parse(getattr(scheduling.default_requests, key))
        except QuantityError as e:
            raise ConfigError(f"scheduling.default_requests.{key}: {e}") from e
    for namespace, limits in scheduling.namespaces.items():
        if (bad := name_problem(namespace)) is not None:
            raise ConfigError(f"scheduling.namespaces.{namespace}: {bad}")
        for key, why in limit_problems("", limits)[:1]:
            raise ConfigError(f"scheduling.namespaces.{namespace}.{key}: {why}")
    for i, token in enumerate(tokens):
        for j, queue in enumerate(token.queues):
            if (bad := name_problem(queue)) is not None:
                raise ConfigError(f"auth.tokens[{i}].queues[{j}]: {bad}")


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

    _queue_tables(merged)
    try:
        settings = msgspec.convert(merged, Settings)
    except msgspec.ValidationError as e:
        message = str(e).split(" - at `", 1)[0]
        raise ConfigError(f"{_field_of(e)}: {message}") from e
    _check_tokens(settings.auth.tokens)
    _check_queues(settings.scheduling, settings.auth.tokens)
    known = {name: raw[name] for name in declared.keys() & raw.keys()}
    state = vars(settings)
    state["_raw_sections"] = known
    state["_declared"] = declared
    state["_sections"] = {
        name: _validate_section(name, declared[name].schema, data)
        for name, data in sorted(known.items())
    }
    return settings
