"""The package declares what it imports, and imports what it declares."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Loaded by uvicorn by name when installed, never imported by kjs: its C event loop and parser.
USED_WITHOUT_IMPORT = {"uvloop", "httptools"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def _imported_distributions(folder: Path) -> dict[str, set[str]]:
    """Third-party distributions imported by the modules under `folder`, with where."""
    by_module = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "kjs" or top in sys.stdlib_module_names:
                    continue
                for dist in by_module.get(top, [top]):
                    found.setdefault(_name(dist), set()).add(str(path.relative_to(ROOT)))
    return found


def _declared(*extras: str) -> set[str]:
    names = {_name(r) for r in PROJECT["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PROJECT["optional-dependencies"][extra]}
    return names - {"kjs"}


def test_the_product_imports_only_what_it_declares() -> None:
    product = {
        dist: places
        for dist, places in _imported_distributions(ROOT / "kjs").items()
        if not all(p.startswith("kjs/testing/") for p in places)  # the `test` extra's
    }
    undeclared = {d: sorted(p) for d, p in product.items() if d not in _declared("mysql", "nsq")}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_declared_dependency_is_used() -> None:
    imported = set(_imported_distributions(ROOT / "kjs"))
    unused = _declared() - imported - USED_WITHOUT_IMPORT
    assert not unused, f"declared in [project] dependencies and never imported: {sorted(unused)}"


def test_the_test_environment_imports_only_what_the_test_extra_declares() -> None:
    testing = _imported_distributions(ROOT / "kjs" / "testing")
    undeclared = sorted(set(testing) - _declared("mysql", "nsq", "test"))
    assert not undeclared, f"kjs/testing imports these, not in the `test` extra: {undeclared}"
