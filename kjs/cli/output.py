"""How the client commands print what the server answers: `-o table|wide|name|json|yaml|
jsonpath=EXPR`, as kubectl does.

Everything here works on the API's JSON shape (`msgspec.to_builtins` of the SDK's models), so
`-o json` is exactly what the API answered and a table reads the same fields. Imports stay
light: `kjs --help` and completion import this module.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

FORMATS = ("table", "wide", "name", "json", "yaml")
FINAL_STATES = ("succeeded", "failed", "cancelled")


class OutputFormat(click.ParamType[str]):
    """`table`, `wide`, `name`, `json`, `yaml` or `jsonpath=EXPR` (checked when given)."""

    name = "format"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in FORMATS:
            return text
        if text.startswith("jsonpath="):
            try:
                JsonPath(text.removeprefix("jsonpath="))
            except JsonPathError as e:
                self.fail(f"{text}: {e}", param, ctx)
            return text
        self.fail(f"{text!r}: one of {', '.join(FORMATS)} or jsonpath=EXPR", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(FORMATS) + "|jsonpath=EXPR]"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [
            CompletionItem(choice, type="nospace" if choice.endswith("=") else "plain")
            for choice in (*FORMATS, "jsonpath=")
            if choice.startswith(incomplete)
        ]


def output_option(default: str = "table") -> Callable[[Any], Any]:
    return click.option(
        "-o",
        "--output",
        type=OutputFormat(),
        default=default,
        show_default=True,
        help="Output format; jsonpath=EXPR as kubectl's ({.items[*].id}, {.state}).",
    )


no_headers_option = click.option(
    "--no-headers", is_flag=True, help="Tables (table, wide) without their header line."
)


# Ages and durations as kubectl prints them (k8s.io/apimachinery's duration.HumanDuration).


def human_duration(seconds: float) -> str:
    """`5s`, `3m`, `2h`, `4d`: the precision kubectl gives an age of this many seconds."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        at = value
    else:
        try:
            at = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def age(value: Any, now: dt.datetime) -> str:
    """How long ago `value` (an RFC 3339 time) was, kubectl-style; empty when there is none."""
    at = _time(value)
    return human_duration((now - at).total_seconds()) if at else ""


def until(value: Any, now: dt.datetime) -> str:
    """How long until `value`: `in 3h` (or `now` when it is due)."""
    at = _time(value)
    if at is None:
        return ""
    seconds = (at - now).total_seconds()
    return f"in {human_duration(seconds)}" if seconds >= 1 else "now"


def between(start: Any, end: Any, now: dt.datetime) -> str:
    """A duration from `start` to `end` (or to now while it runs)."""
    began, ended = _time(start), _time(end)
    if began is None:
        return ""
    return human_duration(((ended or now) - began).total_seconds())


# Tables.


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Mapping[str, Any], dt.datetime], Any]
    wide: bool = False
    """Only with `-o wide`."""


def _field(name: str) -> Callable[[Mapping[str, Any], dt.datetime], Any]:
    return lambda row, _now: row.get(name)


def _age_of(name: str) -> Callable[[Mapping[str, Any], dt.datetime], Any]:
    return lambda row, now: age(row.get(name), now)


@dataclass(frozen=True)
class Kind:
    """What a table of one kind of object shows, and its `-o name` prefix."""

    name: str
    columns: Sequence[Column]
    name_of: Callable[[Mapping[str, Any], int], str] = field(
        default=lambda row, _i: str(row.get("id", ""))
    )


JOBS = Kind(
    "job",
    [
        Column("ID", _field("id")),
        Column("NAME", _field("name")),
        Column("NAMESPACE", _field("namespace")),
        Column("STATE", _field("state")),
        Column("QUEUE", _field("queue"), wide=True),
        Column("POSITION", _field("queue_position"), wide=True),
        Column("PRIORITY", _field("priority"), wide=True),
        Column("CLUSTER", _field("cluster_id"), wide=True),
        Column("GANG", _field("gang"), wide=True),  # placed together, on one cluster
        Column("ATTEMPT", _field("attempt"), wide=True),
        Column("REASON", _field("reason"), wide=True),
        Column("STARTED", _age_of("started_at"), wide=True),
        Column("FINISHED", _age_of("finished_at"), wide=True),
        Column(
            "DURATION",
            lambda row, now: between(row.get("started_at"), row.get("finished_at"), now),
            wide=True,
        ),
        Column("AGE", _age_of("created_at")),
    ],
)


def percent(value: float | None) -> str:
    """A share as a percentage, one decimal (`25.0%`); blank when there is none."""
    return "" if value is None else f"{value * 100:.1f}%"


def jobs_with_shares(shares: Mapping[str, float | None]) -> Kind:
    """JOBS with a SHARE column after PRIORITY (`-o wide`): the fair share of each job's queue,
    from one read of the queues for the whole listing (blank for a queue it does not name)."""
    share = Column(
        "SHARE", lambda row, _now: percent(shares.get(row.get("queue") or "default")), wide=True
    )
    at = [c.header for c in JOBS.columns].index("PRIORITY") + 1
    return Kind(JOBS.name, [*JOBS.columns[:at], share, *JOBS.columns[at:]], JOBS.name_of)


CRONJOBS = Kind(
    "cronjob",
    [
        Column("ID", _field("id")),
        Column("NAME", _field("name")),
        Column("NAMESPACE", _field("namespace")),
        Column("SCHEDULE", _field("schedule")),
        Column("TIMEZONE", _field("time_zone"), wide=True),
        Column("MODE", _field("mode")),
        Column("SUSPEND", lambda row, _now: str(bool(row.get("suspend"))).lower()),
        Column("STATE", _field("state")),
        Column("CLUSTER", _field("cluster_id"), wide=True),
        Column("LAST RUN", _age_of("last_run_at")),
        Column("NEXT RUN", lambda row, now: until(row.get("next_run_at"), now)),
        Column("RUNS", _field("runs_total"), wide=True),
        Column("SUCCEEDED", _field("runs_succeeded"), wide=True),
        Column("AGE", _age_of("created_at")),
    ],
)
EVENTS = Kind(
    "event",
    [
        Column("AGE", _age_of("at")),
        Column("AT", _field("at"), wide=True),
        Column("ATTEMPT", _field("attempt")),
        Column("STATE", _field("state")),
        Column("REASON", _field("reason")),
        Column("POD", _field("pod")),
        Column("EXIT", _field("exit_code")),
        Column("CLUSTER", _field("cluster_id")),
        Column("MESSAGE", _field("message"), wide=True),
    ],
    # Events have no id of their own: the job's, and the event's place in its history.
    name_of=lambda row, i: f"{row.get('job_id', '')}/{i + 1}",
)
CLUSTERS = Kind(
    "cluster",
    [
        Column("ID", _field("id")),
        Column("STATE", _field("state")),
        Column("CAPACITY", _field("capacity")),
        Column("RUNNING", _field("running")),
        Column("PENDING", _field("pending")),
        Column("DISPATCHED", _field("dispatched"), wide=True),
        Column("LOAD", lambda row, _now: _load(row.get("load"))),
        Column("CPU FREE", lambda row, _now: _free(row, "cpu_millis", _cores)),
        Column("MEMORY FREE", lambda row, _now: _free(row, "memory_bytes", _binary)),
        Column("PODS FREE", lambda row, _now: _free(row, "pods", str), wide=True),
        Column(
            "RESOURCES AT",
            lambda row, now: age((row.get("resources") or {}).get("at"), now),
            wide=True,
        ),
        Column("VERSION", _field("version")),
        Column(
            "LABELS",
            lambda row, _now: ",".join(f"{k}={v}" for k, v in (row.get("labels") or {}).items()),
            wide=True,
        ),
        Column("HEARTBEAT", _age_of("last_heartbeat")),
    ],
)


def _limit(name: str, per_cluster: bool = False) -> Callable[[Mapping[str, Any], dt.datetime], Any]:
    """A queue's limit, blank when it has none."""

    def value(row: Mapping[str, Any], _now: dt.datetime) -> Any:
        limits = row.get("limits") or {}
        if per_cluster:
            limits = limits.get("per_cluster") or {}
        return limits.get(name)

    return value


def _usage(
    figure: str, show: Callable[[int], str]
) -> Callable[[Mapping[str, Any], dt.datetime], Any]:
    """A figure of a queue's `usage` (CPU and memory: what its running jobs request); blank
    from a server that does not report it."""

    def value(row: Mapping[str, Any], _now: dt.datetime) -> Any:
        usage = row.get("usage")
        return show(usage.get(figure, 0)) if usage else None

    return value


PRIORITY_CLASSES = Kind(
    "priorityclass",
    [
        Column("NAME", _field("name")),
        Column("VALUE", _field("value")),
        Column("PREEMPTIBLE", _field("preemptible")),
        Column("DESCRIPTION", _field("description")),
    ],
    name_of=lambda row, _i: str(row.get("name", "")),
)
QUEUES = Kind(
    "queue",
    [
        Column("NAME", _field("name")),
        Column("SOURCE", _field("source")),
        Column("WEIGHT", lambda row, _now: f"{row.get('weight', 1):g}"),
        Column("SHARE", lambda row, _now: percent(row.get("share"))),
        Column("WEIGHTED", lambda row, _now: percent(row.get("weighted_share"))),
        Column("PENDING", _usage("pending", str)),
        Column("RUNNING", _usage("running", str)),
        Column("CPU", _usage("cpu_millis", lambda millis: _cores(millis))),
        Column("MEMORY", _usage("memory_bytes", lambda count: _binary(count))),
        Column("MAX RUNNING", _limit("max_running")),
        Column("MAX CPU", _limit("max_cpu")),
        Column("MAX MEMORY", _limit("max_memory")),
        Column("PER CLUSTER RUNNING", _limit("max_running", True), wide=True),
        Column("PER CLUSTER CPU", _limit("max_cpu", True), wide=True),
        Column("PER CLUSTER MEMORY", _limit("max_memory", True), wide=True),
        Column("NAMESPACES", lambda row, _now: ",".join(row.get("namespaces") or []) or "*"),
        Column("PRIORITY CLASS", _field("priority_class"), wide=True),
        Column("AGE", _age_of("created_at")),
    ],
    name_of=lambda row, _i: str(row.get("name", "")),
)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, …"""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_line(job: Mapping[str, Any]) -> str | None:
    """Why a pending job waits and where it stands, for a person: `pending (QueueLimitReached:
    queue team-a is at max_running 10) — 12th in queue team-a`; None unless pending."""
    if job.get("state") != "pending":
        return None
    line = "pending"
    reason, message = job.get("reason"), job.get("message")
    if reason or message:
        line += f" ({': '.join(part for part in (reason, message) if part)})"
    position = job.get("queue_position")
    if position:
        line += f" — {ordinal(position)} in queue {job.get('queue', 'default')}"
    return line


def priority_line(job: Mapping[str, Any]) -> str | None:
    """A job's priority and where it comes from, for a person: `priority 1000 (class high)`,
    `priority 1000 (queue gpu's class)`; None for a job of no class and priority 0."""
    priority, named = job.get("priority", 0), job.get("priority_class")
    if named:
        return f"priority {priority} (class {named})"
    if priority:
        return f"priority {priority} (queue {job.get('queue', 'default')}'s class)"
    return None


def _free(row: Mapping[str, Any], figure: str, show: Callable[[int], str]) -> str:
    """`free/allocatable` of one resource (`~` marks partial figures, too high); blank when
    the cluster's agent reports none."""
    resources = row.get("resources")
    if not resources:
        return ""
    free, allocatable = resources["free"][figure], resources["allocatable"][figure]
    return ("~" if resources.get("partial") else "") + f"{show(free)}/{show(allocatable)}"


def _cores(millis: int) -> str:
    return f"{millis / 1000:.2f}".rstrip("0").rstrip(".")


def _binary(count: int) -> str:
    """Bytes in the largest binary unit that leaves at least 1, one decimal (`31.9Gi`)."""
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + unit
    return str(count)


def _load(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "" if value is None else str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Table:
    """Rows of one kind, aligned kubectl-style; later rows (`-w`) keep the first widths."""

    def __init__(self, kind: Kind, *, wide: bool, headers: bool = True) -> None:
        self.columns = [c for c in kind.columns if wide or not c.wide]
        self.headers = headers
        self.widths: list[int] | None = None

    def cells(self, row: Mapping[str, Any], now: dt.datetime) -> list[str]:
        return [_cell(column.value(row, now)) for column in self.columns]

    def lines(self, rows: Iterable[Mapping[str, Any]], now: dt.datetime | None = None) -> list[str]:
        """The lines of `rows` (with the header the first time, unless `--no-headers`)."""
        now = now or utc_now()
        cells = [self.cells(row, now) for row in rows]
        first = self.widths is None
        if self.widths is None:
            self.widths = [
                max([len(column.header) if self.headers else 0] + [len(r[i]) for r in cells])
                for i, column in enumerate(self.columns)
            ]
        out = []
        if first and self.headers:
            out.append(self._line([c.header for c in self.columns]))
        out.extend(self._line(r) for r in cells)
        return out

    def _line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None
        return "   ".join(
            value.ljust(width) for value, width in zip(cells, self.widths, strict=True)
        ).rstrip()


# Everything but tables.


def dump_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)).rstrip("\n")


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


class Printer:
    """Prints objects of one kind in one format: a whole listing, one object, or (watching) one
    more object at a time."""

    def __init__(self, kind: Kind, output: str, *, headers: bool = True) -> None:
        self.kind = kind
        self.output = output
        self.jsonpath = (
            JsonPath(output.removeprefix("jsonpath=")) if output.startswith("jsonpath=") else None
        )
        self.table = (
            Table(kind, wide=output == "wide", headers=headers)
            if output in ("table", "wide")
            else None
        )
        self.printed = 0

    def one(self, item: Mapping[str, Any]) -> None:
        """One object: its row, its name, or the object itself."""
        self._emit([item], item)

    def listing(self, items: Sequence[Mapping[str, Any]], document: Mapping[str, Any]) -> None:
        """A listing: rows (or names) for the items, `document` (`{items, next_cursor}`) in json,
        yaml and jsonpath."""
        self._emit(items, document)

    def _emit(self, items: Sequence[Mapping[str, Any]], document: Mapping[str, Any]) -> None:
        if self.table is not None:
            if items or self.table.widths is not None:
                for line in self.table.lines(items):
                    click.echo(line)
        elif self.output == "name":
            for item in items:
                click.echo(f"{self.kind.name}/{self.kind.name_of(item, self.printed)}")
                self.printed += 1
        elif self.output == "json":
            click.echo(dump_json(document))
        elif self.output == "yaml":
            if self.printed:
                click.echo("---")  # one more document, when watching
            click.echo(dump_yaml(document))
            self.printed += 1
        else:
            assert self.jsonpath is not None
            text = self.jsonpath.render(document)
            click.echo(text, nl=not text.endswith("\n"))


# A subset of kubectl's JSONPath: `{.a.b[0].c}`, `[*]`, `[-1]`, `[1:3]`, `['key']`, `..name`,
# text around expressions, `{"\n"}` literals, and `{range EXPR}…{end}`. Several results of one
# expression are joined by a space, as kubectl does.


class JsonPathError(ValueError):
    pass


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Expr:
    steps: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Range:
    steps: tuple[tuple[str, Any], ...]
    body: tuple[Any, ...]


class JsonPath:
    """A template such as `{.items[*].id}` or `{range .items[*]}{.id}{"\\n"}{end}`."""

    def __init__(self, template: str) -> None:
        if not template:
            raise JsonPathError("empty template")
        self.template = template
        nodes, rest = _parse_nodes(_tokens(template), top=True)
        assert not rest
        self.nodes = nodes

    def render(self, data: Any) -> str:
        return "".join(_render(self.nodes, data))

    def values(self, data: Any) -> list[Any]:
        """The values the template's first expression selects (for tests and callers)."""
        for node in self.nodes:
            if isinstance(node, _Expr):
                return _select(node.steps, data)
        return []


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", …) and ("expr", …) pieces of a template; `{` … `}` with quotes respected."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(("text", template[i:]))
            break
        if start > i:
            out.append(("text", template[i:start]))
        j, quote = start + 1, ""
        while j < len(template):
            char = template[j]
            if quote:
                if char == "\\":
                    j += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "}":
                break
            j += 1
        else:
            raise JsonPathError(f"unclosed '{{' at {start}")
        out.append(("expr", template[start + 1 : j].strip()))
        i = j + 1
    return out


def _parse_nodes(tokens: list[tuple[str, str]], *, top: bool) -> tuple[tuple[Any, ...], list[Any]]:
    nodes: list[Any] = []
    while tokens:
        kind, text = tokens.pop(0)
        if kind == "text":
            nodes.append(_Text(text))
        elif text == "end":
            if top:
                raise JsonPathError("{end} without {range}")
            return tuple(nodes), tokens
        elif text.startswith("range "):
            body, tokens = _parse_nodes(tokens, top=False)
            nodes.append(_Range(_parse_path(text.removeprefix("range ").strip()), body))
        elif text[:1] in "'\"":
            nodes.append(_Text(_literal(text)))
        else:
            nodes.append(_Expr(_parse_path(text)))
    if not top:
        raise JsonPathError("{range} without {end}")
    return tuple(nodes), tokens


def _literal(text: str) -> str:
    if len(text) < 2 or text[-1] != text[0]:
        raise JsonPathError(f"unterminated string {text}")
    inner = text[1:-1] if text[0] == '"' else text[1:-1].replace('"', '\\"')
    try:
        return str(json.loads(f'"{inner}"'))
    except json.JSONDecodeError as e:
        raise JsonPathError(f"bad string {text}: {e}") from e


def _parse_path(text: str) -> tuple[tuple[str, Any], ...]:
    """`.a.b[0]['c'][*]..d` as steps: ("key", name), ("index", n), ("slice", (a, b)),
    ("all", None), ("descend", name)."""
    if text[:1] in ("$", "@"):  # the root, or the current item of a range: both are `data`
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("..", i):
            j = i + 2
            while j < len(text) and text[j] not in ".[":
                j += 1
            if j == i + 2:
                raise JsonPathError(f"a name must follow '..' in {text!r}")
            steps.append(("descend", text[i + 2 : j]))
            i = j
        elif char == ".":
            j = i + 1
            while j < len(text) and text[j] not in ".[":
                j += 1
            name = text[i + 1 : j]
            if name == "*":
                steps.append(("all", None))
            elif name:
                steps.append(("key", name))
            i = j
        elif char == "[":
            j = text.find("]", i)
            if j < 0:
                raise JsonPathError(f"unclosed '[' in {text!r}")
            inside = text[i + 1 : j].strip()
            steps.append(_bracket(inside, text))
            i = j + 1
        else:
            raise JsonPathError(f"unexpected {char!r} at {i} in {text!r} (paths start with '.')")
    return tuple(steps)


def _bracket(inside: str, text: str) -> tuple[str, Any]:
    if inside == "*":
        return ("all", None)
    if inside[:1] in "'\"" and inside[-1:] == inside[:1] and len(inside) >= 2:
        return ("key", inside[1:-1])
    try:
        if ":" in inside:
            start, _, stop = inside.partition(":")
            return (
                "slice",
                (int(start) if start.strip() else None, int(stop) if stop.strip() else None),
            )
        return ("index", int(inside))
    except ValueError:
        raise JsonPathError(f"unsupported [{inside}] in {text!r}") from None


def _select(steps: Sequence[tuple[str, Any]], data: Any) -> list[Any]:
    current = [data]
    for kind, arg in steps:
        following: list[Any] = []
        for value in current:
            if kind == "key":
                if isinstance(value, Mapping) and arg in value:
                    following.append(value[arg])
            elif kind == "index":
                if isinstance(value, list) and -len(value) <= arg < len(value):
                    following.append(value[arg])
            elif kind == "slice":
                if isinstance(value, list):
                    following.extend(value[arg[0] : arg[1]])
            elif kind == "all":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, Mapping):
                    following.extend(value.values())
            else:  # descend
                following.extend(_descend(value, arg))
        current = following
    return current


def _descend(value: Any, name: str) -> Iterable[Any]:
    if isinstance(value, Mapping):
        if name in value:
            yield value[name]
        for child in value.values():
            yield from _descend(child, name)
    elif isinstance(value, list):
        for child in value:
            yield from _descend(child, name)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _render(nodes: Sequence[Any], data: Any) -> Iterable[str]:
    for node in nodes:
        if isinstance(node, _Text):
            yield node.text
        elif isinstance(node, _Expr):
            yield " ".join(_text_of(v) for v in _select(node.steps, data))
        else:
            for item in _select(node.steps, data):
                yield from _render(node.body, item)
