"""docs/configuration.md: every key documented, the page what the generator renders, and its
example a configuration that loads."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from kjs.core import config_reference
from kjs.core.config import Settings, load
from kjs.core.config_reference import REGENERATE, render, sections


def test_every_key_of_kjs_and_of_the_built_in_plugins_has_a_description() -> None:
    keys = [key for section in sections() for key in section.keys]
    undocumented = sorted(key.path for key in keys if not key.description)
    assert undocumented == [], (
        f"keys without a description: {undocumented}; give each field an attribute docstring "
        f"(a string right below it), then run `{REGENERATE}`"
    )
    tables = [section.name for section in sections()[1:] if not section.description]
    assert tables == [], f"sections without a class docstring: {tables}"
    paths = {key.path for key in keys}
    own = {f.encode_name for f in msgspec.structs.fields(Settings)}
    assert own <= {p.split(".", 1)[0] for p in paths}  # every top-level key and section
    assert {"logging.format", "auth.tokens[].sha256", "compat.open_namespaces"} <= paths


def test_the_page_is_what_the_generator_renders() -> None:
    page = config_reference.DOC_PATH.read_text()
    assert page == render(), f"docs/configuration.md is out of date: run `{REGENERATE}`"


def test_the_page_names_each_key_with_its_type_default_and_variable() -> None:
    page = render()
    row = next(line for line in page.splitlines() if line.startswith("| `dispatch.sweep_s` |"))
    assert "| number | `2` | `KJS_DISPATCH__SWEEP_S` |" in row
    assert "### `[compat]` (plugin `kjs.plugins.compat`)" in page
    assert "`KJS_HTTP__HEADER_TIMEOUT_S`" in page


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", render(), re.S)
    assert example is not None
    path = tmp_path / "kjs.toml"
    path.write_text(example.group(1))
    settings = load(path, environ={})
    assert settings.store == "mysql"
    assert [t.scopes for t in settings.auth.tokens] == [["submit"], ["admin"]]


def test_a_field_without_docstring_is_reported_undocumented() -> None:
    class Undocumented(msgspec.Struct):
        documented: int = 1
        """Has one."""
        bare: int = 2

    assert config_reference.field_docs(Undocumented) == {"documented": "Has one.", "bare": ""}
