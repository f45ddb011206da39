"""Render `docs/configuration.md` from the settings Structs: `python -m kjs.core.config_reference`
rewrites it (`--check`: exit 1 when it differs).

Every key comes from the code, never from a hand-written list: kjs's own `Settings`, walked
recursively, and the sections the built-in plugins declare (`register_settings`), loaded through
the plugin manager with third-party autoload off so that the page does not depend on what is
installed. A key's description is its attribute docstring (the string right below the field),
else the `#` comment block right above it; `tests/core/test_config_reference.py` fails when a
key has neither.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import msgspec
from msgspec import Struct

from kjs.core import config
from kjs.core.config import Settings

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REGENERATE = "python -m kjs.core.config_reference"


@dataclass(frozen=True)
class Key:
    """One documented key: where it is written, what it holds, and what it does."""

    path: str  # `dispatch.sweep_s`; `auth.tokens[].name` inside a list of tables
    type: str
    default: str
    env: str  # `KJS_DISPATCH__SWEEP_S`; "" where no variable of its own sets it
    description: str


@dataclass(frozen=True)
class Section:
    """A `[name]` table (or the top level, name ""): its keys and who declares it."""

    name: str
    description: str
    keys: list[Key]
    plugin: str = ""  # the built-in plugin that declares it; "" for kjs's own
    read_by: str = ""  # kjs's own section that a built-in plugin also declares (`[mysql]`)
    moved: tuple[tuple[str, str], ...] = ()


def field_docs(cls: type) -> dict[str, str]:
    """Each field of `cls` -> its attribute docstring, else the comment block right above it,
    as one paragraph ("" when it has neither)."""
    lines, _ = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    statements = body.body
    for i, node in enumerate(statements):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        after = statements[i + 1] if i + 1 < len(statements) else None
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[node.target.id] = _paragraph(inspect.cleandoc(after.value.value))
        else:
            found[node.target.id] = _comment_above(lines, node.lineno - 1)
    return found


def _comment_above(lines: list[str], index: int) -> str:
    comment: list[str] = []
    for line in reversed(lines[:index]):
        text = line.strip()
        if not text.startswith("#"):
            break
        comment.insert(0, text.lstrip("#").strip())
    return _paragraph("\n".join(comment))


def _paragraph(text: str) -> str:
    return " ".join(text.split())


def type_name(kind: Any) -> str:
    """A field's type as a TOML user reads it."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(kind)
        limits = [
            f"> {m.gt:g}" if m.gt is not None else f">= {m.ge:g}"
            for m in metadata
            if isinstance(m, msgspec.Meta) and (m.gt is not None or m.ge is not None)
        ]
        return " ".join([type_name(base), *limits])
    if origin is typing.Literal:
        return " or ".join(
            f'"{v}"' if isinstance(v, str) else str(v) for v in typing.get_args(kind)
        )
    if origin is list:
        (item,) = typing.get_args(kind)
        return "array of tables" if _is_struct(item) else f"array of {type_name(item)}s"
    if origin is dict:
        return f"table of {type_name(typing.get_args(kind)[1])}s"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if kind in names:
        return names[kind]
    if _is_struct(kind):
        return "table"
    return str(kind)


def default_text(field: msgspec.structs.FieldInfo) -> str:
    """A field's default as TOML ("required" when it has none)."""
    if field.required:
        return "required"
    value = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
    if isinstance(value, Struct):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return _toml_scalar(value)
    if isinstance(value, int) and value >= 1024 * 1024 and value % (1024 * 1024) == 0:
        return f"{value} ({value // (1024 * 1024)} MiB)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _toml_scalar(value: Any) -> str:
    return msgspec.json.encode(value).decode()  # a JSON string or number is TOML too


def env_name(path: list[str]) -> str:
    """CONTRACT §2: `KJS_` + the key path in upper case, `__` between levels."""
    return "KJS_" + "__".join(part.upper() for part in path)


def _is_struct(kind: Any) -> TypeGuard[type[Struct]]:
    return isinstance(kind, type) and issubclass(kind, Struct)


def _keys(schema: type[Struct], path: list[str], env: bool) -> list[Key]:
    """The keys of `schema` under `path` (nested tables flattened into `a.b` paths); `env`:
    whether each key has a variable of its own (not inside a list of tables)."""
    docs = field_docs(schema)
    found: list[Key] = []
    for field in msgspec.structs.fields(schema):
        here = [*path, field.encode_name]
        found.append(
            Key(
                path=".".join(here),
                type=type_name(field.type),
                default=default_text(field),
                env=env_name(here) if env else "",
                description=docs.get(field.name, ""),
            )
        )
        item = typing.get_args(field.type)[0] if typing.get_origin(field.type) is list else None
        if _is_struct(item):
            found += _keys(item, [*path, f"{field.encode_name}[]"], env=False)
        elif _is_struct(field.type):
            found += _keys(field.type, here, env=env)
    return found


def sections() -> list[Section]:
    """The top level, kjs's own sections, then the built-in plugins' own sections."""
    from kjs.core.plugins import Plugins

    tables = {n for n, kind in config.own_keys().items() if _is_struct(kind)}
    top = [k for k in _keys(Settings, [], env=True) if k.path not in tables]
    found = [Section("", "Keys outside any table.", top)]
    plugins = Plugins(autoload=False, disabled=())
    owner = {name: info.name for info in plugins.plugins() for name in info.sections}
    for field in msgspec.structs.fields(Settings):
        if _is_struct(field.type):
            found.append(
                Section(
                    field.encode_name,
                    _paragraph(inspect.cleandoc(field.type.__doc__ or "")),
                    _keys(field.type, [field.encode_name], env=True),
                    read_by=owner.get(field.encode_name, ""),
                )
            )
    own = config.own_keys()
    for declared in plugins.settings_sections():
        if own.get(declared.name) is declared.schema:
            continue  # a built-in claiming kjs's own section (`[mysql]`): documented above
        found.append(
            Section(
                declared.name,
                _paragraph(inspect.cleandoc(declared.schema.__doc__ or declared.description)),
                _keys(declared.schema, [declared.name], env=True),
                plugin=owner[declared.name],
                moved=declared.moved,
            )
        )
    return found


_PREAMBLE = """\
# Configuration reference

<!-- Generated by `{regenerate}` from kjs/core/config.py and the built-in
plugins' settings: edit the docstrings there, not this file. -->

kjs reads one TOML file (`--config`, or `KJS_CONFIG`), then `KJS_*` environment variables, then
command-line flags: a later source wins, key by key. A key's variable is `KJS_` and its path in
upper case with `__` between levels: `store = "mysql"` is `KJS_STORE=mysql`, `[mysql] url` is
`KJS_MYSQL__URL`. A variable's value is read as a TOML value when it parses as one (numbers,
booleans, arrays, inline tables) and as a string otherwise; `KJS_AUTH__TOKENS` also takes a JSON
list. The flags `--host`, `--port`, `--data-dir` and `--insecure` set the keys of those names.

A value that does not fit stops the process with exit code 2 and one line naming the key
(``kjs: configuration: dispatch.sweep_s: Expected `float`, got `str` ``), and so does a misspelled
key of a known table, wherever it comes from. A table that no installed plugin declares stops it
when it is in the file; `KJS_*` variables that name no key or table are named in one warning. Not
keys, and never warned about: `KJS_URL` and `KJS_TOKEN` (the client's), `KJS_CONFIG`,
`KJS_DISABLE_PLUGINS` (comma-separated plugin names not to load), `KJS_DISABLE_PLUGIN_AUTOLOAD`
(load no third-party plugin), `KJS_TESTENV_CACHE` and `KJS_TESTENV_DIR` (the test environment's).

The defaults are the embedded mode's (`kjs up`: one process, SQLite, the memory queue). `kjs
agent` starts from `election = "lease"` and `data_dir = ".kjs-agent"`, `kjs up` from
`election = "single"`. Plugins may read tables of their own (`register_settings`,
[plugin-hooks.md](plugin-hooks.md#register_settings)); the built-in ones' are at the end, and
`kjs plugins` lists what is installed.

A distributed server, for example:

```toml
store = "mysql"
queue = "nsq"
host = "0.0.0.0"

[mysql]
url = "mysql+pymysql://kjs:secret@db.internal:3306/kjs"

[nsq]
nsqd_tcp = ["nsqd-0.internal:4150"]
nsqd_http = ["nsqd-0.internal:4151"]

[webhooks]
secret = "a long random string"

[logging]
format = "json"

[[auth.tokens]]
name = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
scopes = ["submit"]
namespaces = ["batch"]

[[auth.tokens]]
name = "ops"
sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
scopes = ["admin"]
```

`[auth] tokens` is a list of tables: each token's `name`, its `sha256` (the SHA-256 of the token
as 64 hex digits, `printf %s TOKEN | sha256sum`: the token itself is never configured), its
`scopes` (`read` < `submit` < `admin`, each including the ones before) and its `namespaces`
(empty: all). In the environment the whole list is one variable:
`KJS_AUTH__TOKENS='[{{"name": "ci", "sha256": "9f86…", "scopes": ["submit"]}}]'`.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def _table(keys: list[Key]) -> list[str]:
    rows = [
        "| key | type | default | environment | description |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        env = f"`{key.env}`" if key.env else "(in the list's variable)"
        value, _, note = key.default.partition(" (")  # `10485760` (10 MiB)
        default = f"`{value}`" if value not in ("", "required") else value
        default += f" ({note}" if note else ""
        rows.append(
            f"| `{key.path}` | {_cell(key.type)} | {_cell(default)} | {env} "
            f"| {_cell(key.description)} |"
        )
    return rows


def render() -> str:
    """The whole page, as `docs/configuration.md` holds it."""
    out = [_PREAMBLE.format(regenerate=REGENERATE)]
    found = sections()
    out.append("## Top-level keys\n")
    out += [*_table(found[0].keys), ""]
    out.append("## kjs's sections\n")
    for section in (s for s in found[1:] if not s.plugin):
        read_by = f" Declared by the plugin `{section.read_by}`." if section.read_by else ""
        out += [
            f"### `[{section.name}]`\n",
            section.description + read_by,
            "",
            *_table(section.keys),
            "",
        ]
    out.append("## The built-in plugins' sections\n")
    for section in (s for s in found if s.plugin):
        moved = "".join(
            f" `[{old.split('.', 1)[0]}] {old.split('.', 1)[1]}` is still read as `{new}`."
            for old, new in section.moved
        )
        out += [
            f"### `[{section.name}]` (plugin `{section.plugin}`)\n",
            section.description + moved,
            "",
            *_table(section.keys),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if DOC_PATH.read_text() != text:
            print(f"{DOC_PATH} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
