"""Submit-time validation, judged as Kubernetes would judge the objects kjs will create.

Every problem is reported with the JSON path of the offending input (`namespace`, `env.FOO`,
`labels.bad key!`) so the API can answer 400 naming the field, never a failed Job later.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import typing
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from kjs.core import cron
from kjs.core.manifest import RESERVED_LABEL_PREFIXES, RESERVED_LABELS
from kjs.core.models import CronSpec, JobSpec
from kjs.core.quantity import QuantityError, cpu_millicores, memory_bytes

MAX_BODY_BYTES = 1024 * 1024
"""A request body's limit (the app's), and a job's: also each job of a batch, as JSON."""
MAX_BATCH_ITEMS = 1000
"""Jobs in one `POST /api/v1/jobs:batch`."""
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024
"""The body limit of `POST /api/v1/jobs:batch`."""
MAX_RUN_AT_AHEAD = dt.timedelta(days=366)
MAX_ANNOTATIONS_BYTES = 256 * 1024

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = _QUALIFIED_NAME
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CLUSTER_ID = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# The distribution/reference grammar for image references.
_IMAGE = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_SECURITY_CONTEXT_FIELDS = {
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "fsGroup",
    "fsGroupChangePolicy",
    "supplementalGroups",
    "supplementalGroupsPolicy",
    "seccompProfile",
    "seLinuxOptions",
    "seLinuxChangePolicy",
    "sysctls",
    "windowsOptions",
    "appArmorProfile",
}

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com')"
)


@dataclass(frozen=True)
class FieldError:
    """One problem with the input: the JSON path of the field, and why."""

    field: str
    message: str


class InvalidInput(ValueError):
    """The input breaks one or more rules; `errors` names each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


T = TypeVar("T", bound=msgspec.Struct)

_MSGSPEC_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]*)`")


def _path_to_field(path: str) -> str:
    # msgspec writes `$.env[...]`-style paths; we write `env.FOO`.
    return re.sub(r"\[(\d+)\]", r"[\1]", path).lstrip(".")


def _field_error(error: msgspec.ValidationError) -> FieldError:
    m = _MSGSPEC_ERROR.match(str(error))
    assert m is not None
    field = _path_to_field(m.group("path") or "")
    named = _NAMED_FIELD.search(m.group("msg"))
    if named:
        field = f"{field}.{named.group('name')}" if field else named.group("name")
    return FieldError(field or "$", m.group("msg"))


def _name_the_key(body: bytes, kind: type[msgspec.Struct], found: FieldError) -> FieldError:
    """msgspec says `env[...]` for a bad map value; find which key it was (`env.FOO`)."""
    attribute = found.field.split("[...]", 1)[0]
    try:
        hint = typing.get_type_hints(kind, include_extras=True)[attribute]
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        item_type = typing.get_args(hint)[1]
        for key, value in msgspec.json.decode(body)[attribute].items():
            try:
                msgspec.convert(value, item_type)
            except msgspec.ValidationError as e:
                inner = _field_error(e)
                field = f"{attribute}.{key}" + ("" if inner.field == "$" else f".{inner.field}")
                return FieldError(field, inner.message)
    # UnicodeDecodeError: msgspec before 0.23 on bytes that are not UTF-8 (found is enough).
    except (
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
        msgspec.DecodeError,
        UnicodeDecodeError,
    ):
        pass
    return found


def not_utf8(body: bytes | msgspec.Raw) -> str | None:
    """Why `body` is no JSON text by its encoding alone (JSON is UTF-8), or None."""
    data = bytes(body)
    if data.isascii():  # the usual body, checked without a copy
        return None
    try:
        data.decode()
    except UnicodeDecodeError as e:
        return f"invalid JSON: the body is not UTF-8 (byte 0x{data[e.start]:02x} at {e.start})"
    return None


def unreadable(body: bytes | msgspec.Raw, error: Exception) -> InvalidInput:
    """The 400 for a body a JSON decoder could not read. msgspec's own words for bytes that are
    not UTF-8 changed between releases (a UnicodeDecodeError, later a DecodeError), so those are
    named here, alike for every version."""
    return InvalidInput([FieldError("$", not_utf8(body) or f"invalid JSON: {error}")])


def decode_json(body: bytes) -> Any:
    """Any JSON value, or InvalidInput naming what is wrong with the body."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise unreadable(body, e) from e


def decode(body: bytes, kind: type[T]) -> T:
    """Decode JSON into `kind`, turning msgspec's error into a named-field InvalidInput."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as e:
        error = _field_error(e)
        if "[...]" in error.field:
            error = _name_the_key(body, kind, error)
        raise InvalidInput([error]) from e
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise unreadable(body, e) from e


class _Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def dns_label(self, field: str, value: str) -> None:
        if len(value) > 63:
            self.add(field, "must be no more than 63 characters")
        if not DNS1123_LABEL.fullmatch(value):
            self.add(field, LABEL_MSG)

    def subdomain(self, field: str, value: str) -> None:
        if len(value) > 253:
            self.add(field, "must be no more than 253 characters")
        if not DNS1123_SUBDOMAIN.fullmatch(value):
            self.add(field, SUBDOMAIN_MSG)

    def qualified_name(self, field: str, key: str) -> None:
        prefix, slash, name = key.rpartition("/")
        if slash and not prefix:
            self.add(field, "prefix part must be non-empty")
        if prefix:
            self.subdomain(field, prefix)
        if not name:
            self.add(field, "name part must be non-empty")
        elif len(name) > 63:
            self.add(field, "name part must be no more than 63 characters")
        elif not _QUALIFIED_NAME.fullmatch(name):
            self.add(
                field,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character",
            )

    def labels(self, field: str, labels: dict[str, str], *, reserved: bool = False) -> None:
        for key, value in labels.items():
            path = f"{field}.{key}"
            self.qualified_name(path, key)
            if len(value) > 63:
                self.add(path, "a label value must be no more than 63 characters")
            elif value and not _LABEL_VALUE.fullmatch(value):
                self.add(
                    path,
                    "a label value must be empty or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character",
                )
            if reserved and (key in RESERVED_LABELS or key.startswith(RESERVED_LABEL_PREFIXES)):
                self.add(path, "is reserved for kjs's own labels")

    def env_name(self, field: str, name: str) -> None:
        # Kubernetes' relaxed rule (GA since 1.34): printable ASCII except '='.
        if not name or any(not 32 <= ord(ch) <= 126 or ch == "=" for ch in name):
            self.add(field, "must consist of printable ASCII characters except '='")

    def quantity(self, field: str, value: str) -> int | None:
        """The amount in millicores (`cpu`) or bytes (`memory`): the parser placement counts
        with (`kjs.core.quantity`), so what is accepted here is what is counted."""
        parse = cpu_millicores if field.endswith("cpu") else memory_bytes
        try:
            return parse(value)
        except QuantityError as e:
            self.add(field, str(e))
            return None


def _check_env(c: _Checker, spec: JobSpec) -> None:
    for name, value in spec.env.items():
        path = f"env.{name}"
        c.env_name(path, name)
        if isinstance(value, str):
            continue
        refs = [r for r in (value.secret, value.config_map) if r is not None]
        if len(refs) != 1:
            c.add(path, "must name exactly one of secret or config_map")
            continue
        c.subdomain(f"{path}.{'secret' if value.secret else 'config_map'}.name", refs[0].name)
        if not _CONFIG_KEY.fullmatch(refs[0].key) or len(refs[0].key) > 253:
            c.add(f"{path}.key", "must consist of alphanumeric characters, '-', '_' or '.'")
    for i, source in enumerate(spec.env_from):
        path = f"env_from[{i}]"
        names = [n for n in (source.secret, source.config_map) if n is not None]
        if len(names) != 1:
            c.add(path, "must name exactly one of secret or config_map")
        else:
            c.subdomain(f"{path}.{'secret' if source.secret else 'config_map'}", names[0])
        if source.prefix:
            c.env_name(f"{path}.prefix", source.prefix)


def _check_resources(c: _Checker, spec: JobSpec) -> None:
    if spec.resources is None:
        return
    parsed: dict[str, dict[str, int | None]] = {}
    for part in ("requests", "limits"):
        quantities = getattr(spec.resources, part)
        if quantities is None:
            continue
        parsed[part] = {
            res: c.quantity(f"resources.{part}.{res}", value)
            for res in ("cpu", "memory")
            if (value := getattr(quantities, res)) is not None
        }
    for res in ("cpu", "memory"):
        request = parsed.get("requests", {}).get(res)
        limit = parsed.get("limits", {}).get(res)
        if request is not None and limit is not None and request > limit:
            c.add(f"resources.requests.{res}", f"must be less than or equal to {res} limit")


def _check_tolerations(c: _Checker, spec: JobSpec) -> None:
    for i, t in enumerate(spec.tolerations):
        path = f"tolerations[{i}]"
        if t.key:
            c.qualified_name(f"{path}.key", t.key)
        elif t.operator != "Exists":
            c.add(f"{path}.operator", "must be Exists when key is empty")
        if t.operator == "Exists" and t.value:
            c.add(f"{path}.value", "must be empty when operator is Exists")
        if t.toleration_seconds is not None and t.effect != "NoExecute":
            c.add(f"{path}.effect", "must be NoExecute when toleration_seconds is set")


# IPv6 forms that carry an IPv4 address a packet may end up at: judged by that address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, RFC 4291
# Refused whatever they carry: where the IPv4 address sits depends on the operator's prefix
# length (RFC 8215 local-use NAT64), or the tunnel goes wherever its server sends it (Teredo).
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(
    address: ipaddress.IPv6Address,
) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address leads to, and the form that embeds it."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return "NAT64", low32
    if address in _IPV4_TRANSLATED:
        return "IPv4-translated", low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # `::` and `::1` are themselves
        return "IPv4-compatible", low32
    return None


def non_public_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not go to `address` without `[webhooks] allow_private`, or None.

    Besides private, loopback, link-local, shared, reserved and multicast addresses, an IPv6
    address that embeds a non-public IPv4 address (IPv4-mapped or -compatible, NAT64, 6to4,
    SIIT) is refused, and so are Teredo and local-use NAT64 addresses."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return f"the non-public address {address} (local-use NAT64)"
        if address.teredo is not None:
            return f"the non-public address {address} (Teredo)"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            form, ipv4 = embedded
            if non_public_reason(ipv4) is None:
                return None
            return f"the non-public address {address} ({form} {ipv4})"
    if (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return f"the non-public address {address}"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a URL's host is written as, including the numeric forms the resolver reads
    as IPv4 (`2130706433`, `0x7f.1`, `127.1`); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # what getaddrinfo would make of it, without asking any resolver
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _check_callback(c: _Checker, url: str, *, allow_private: bool) -> None:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        c.add("callback_url", "must not contain spaces or control characters")
        return
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        c.add("callback_url", "must be an absolute http:// or https:// URL with a host")
        return
    try:
        valid_port = parsed.port != 0
    except ValueError:  # not a number, or out of range
        valid_port = False
    if not valid_port:
        c.add("callback_url", "the port must be a number from 1 to 65535")
        return
    try:  # what the notifier will call must parse there too
        httpx.URL(url)
    except httpx.InvalidURL as e:
        c.add("callback_url", f"is not a valid URL: {e}")
        return
    address = _literal_address(parsed.hostname)
    if address is None or allow_private:
        return  # a name: checked where it resolves, at delivery
    reason = non_public_reason(address)
    if reason is not None:
        c.add("callback_url", f"points at a private, loopback or link-local address: {reason}")


def _check_time(c: _Checker, field: str, value: dt.datetime | None, now: dt.datetime) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        c.add(field, "must be an RFC 3339 time with a UTC offset")
    elif value - now > MAX_RUN_AT_AHEAD:
        c.add(field, "must be at most 366 days ahead")


def _check_placement(c: _Checker, spec: JobSpec) -> None:
    routes = [spec.cluster] if isinstance(spec.cluster, str) else spec.cluster or []
    if isinstance(spec.cluster, list) and not spec.cluster:
        c.add("cluster", "must name at least one cluster when given as a list")
    if len(set(routes)) != len(routes):
        c.add("cluster", "names a cluster twice")
    for i, route in enumerate(routes):
        path = "cluster" if isinstance(spec.cluster, str) else f"cluster[{i}]"
        if len(route) > 40 or not _CLUSTER_ID.fullmatch(route):
            c.add(path, "a cluster id is a lowercase RFC 1123 label of at most 40 characters")
    c.labels("cluster_selector", spec.cluster_selector)


def check_job(
    spec: JobSpec, *, now: dt.datetime, allow_private_callbacks: bool = False
) -> list[FieldError]:
    """Every rule a one-off job's fields break (empty when it is valid)."""
    c = _Checker()
    c.dns_label("name", spec.name)
    c.dns_label("namespace", spec.namespace)
    if not spec.image or not _IMAGE.fullmatch(spec.image):
        c.add("image", "must be a valid image reference (e.g. 'registry.example.com/app:1.2')")
    _check_env(c, spec)
    _check_resources(c, spec)
    c.labels("labels", spec.labels, reserved=True)
    for key in spec.annotations:
        c.qualified_name(f"annotations.{key}", key)
    if sum(len(k) + len(v) for k, v in spec.annotations.items()) > MAX_ANNOTATIONS_BYTES:
        c.add("annotations", "total size must be no more than 262144 bytes")
    if spec.completion_mode == "Indexed" and spec.completions is None:
        c.add("completions", "is required when completion_mode is Indexed")
    for i, secret in enumerate(spec.image_pull_secrets):
        c.subdomain(f"image_pull_secrets[{i}]", secret)
    if spec.service_account is not None:
        c.subdomain("service_account", spec.service_account)
    c.labels("node_selector", spec.node_selector)
    _check_tolerations(c, spec)
    if spec.security_context is not None:
        for key in spec.security_context:
            if key not in _SECURITY_CONTEXT_FIELDS:
                c.add(f"security_context.{key}", "is not a field of a pod security context")
    _check_time(c, "run_at", spec.run_at, now)
    _check_placement(c, spec)
    c.dns_label("queue", spec.queue)
    if spec.gang is not None:
        c.dns_label("gang", spec.gang)
    if (spec.gang is None) != (spec.gang_size is None):  # the one without the other
        c.add("gang" if spec.gang is None else "gang_size", "gang and gang_size go together")
    if spec.callback_url is not None:
        _check_callback(c, spec.callback_url, allow_private=allow_private_callbacks)
    return c.errors


def check_cron(
    spec: CronSpec, *, now: dt.datetime, allow_private_callbacks: bool = False
) -> list[FieldError]:
    """Every rule a cron job's fields break: its job template's and its schedule's."""
    errors = check_job(spec, now=now, allow_private_callbacks=allow_private_callbacks)
    errors = [e for e in errors if e.field != "run_at"]
    c = _Checker()
    try:
        cron.parse_schedule(spec.schedule)
    except cron.CronError as e:
        c.add("schedule", str(e))
    if spec.time_zone is not None:
        try:
            cron.check_time_zone(spec.time_zone)
        except cron.CronError as e:
            c.add("time_zone", str(e))
    if spec.mode == "native" and isinstance(spec.cluster, list) and len(spec.cluster) > 1:
        c.add("cluster", "a native cron job lives on one cluster: name one, or use mode managed")
    _check_time(c, "start_at", spec.start_at, now)
    if spec.gang is not None or spec.gang_size is not None:
        c.add("gang" if spec.gang is not None else "gang_size", "a cron job cannot be a gang")
    return errors + c.errors


def require_valid(errors: Iterable[FieldError]) -> None:
    """Raise InvalidInput if there is any error."""
    found = list(errors)
    if found:
        raise InvalidInput(found)


def problem(errors: list[FieldError], status: int = 400) -> dict[str, Any]:
    """RFC 9457 problem details for invalid input (CONTRACT §6)."""
    return {
        "type": "about:blank",
        "title": "Invalid input",
        "status": status,
        "detail": "; ".join(f"{e.field}: {e.message}" for e in errors),
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }
