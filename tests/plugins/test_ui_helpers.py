"""The web UI's pure helpers (`kjs/plugins/ui/assets/util.js`), run under Node: the command line
split as a shell would (and joined back), the spec's JSON written as YAML (by the vendored
js-yaml) that reads back as the same data, and YAML read back with a syntax error's line and
column. Skipped where Node is not installed; the browser tests cover the pages."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from kjs.plugins.ui.routes import ASSETS_DIR

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node to run the UI's modules")


def run(expression: str) -> Any:
    """The JSON value of `expression`, with util.js's exports as `u`."""
    script = (
        f'const u = await import("{(ASSETS_DIR / "util.js").as_uri()}");\n'
        f"process.stdout.write(JSON.stringify({expression}));\n"
    )
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("echo hi", ["echo", "hi"]),
        ("sh -c 'echo \"a b\"; exit 1'", ["sh", "-c", 'echo "a b"; exit 1']),
        ('printf "%s\\n" x\\ y ""', ["printf", "%s\\n", "x y", ""]),
        ("  spaced   out  ", ["spaced", "out"]),
    ],
)
def test_a_command_line_is_split_as_a_shell_would(line: str, words: list[str]) -> None:
    assert run(f"u.shellSplit({json.dumps(line)})") == words
    # and joined back into a line that splits the same way
    assert run(f"u.shellSplit(u.shellJoin({json.dumps(words)}))") == words


def test_an_unclosed_quote_is_refused() -> None:
    refused = '(() => { try { u.shellSplit("echo \'oops"); } catch (e) { return e.message; } })()'
    assert run(refused) == "unclosed ' quote"


SPECS = [
    {"name": "j", "command": ["echo", "hi there", "true", "1", "a: b", ""], "env": {"A": "1"}},
    {"items": [{"a": 1, "b": [1, 2]}, {"c": None}], "empty": {}, "none": [], "flag": False},
    {"weird keys": {"k8s.io/x": "y", "yes": "no", "-x": "#z"}, "n": -1.5, "s": "multi\nline"},
    {"run_at": "2026-01-31T09:00:00Z", "octal": "0755", "on": "off", "tilde": "~", "x": "1e3"},
]


@pytest.mark.parametrize("spec", SPECS)
def test_the_yaml_shown_reads_back_as_the_same_data(spec: dict[str, Any]) -> None:
    text = run(f"u.toYAML({json.dumps(spec)})")
    assert yaml.safe_load(text) == spec, text


@pytest.mark.parametrize("spec", SPECS)
def test_yaml_read_back_is_the_same_data(spec: dict[str, Any]) -> None:
    assert run(f"u.fromYAML(u.toYAML({json.dumps(spec)}))") == spec


def test_json_is_read_as_yaml_and_a_timestamp_stays_a_string() -> None:
    assert run('u.fromYAML(\'{"name": "j", "n": [1, 2]}\')') == {"name": "j", "n": [1, 2]}
    assert run('u.fromYAML("run_at: 2026-01-31T09:00:00Z")') == {"run_at": "2026-01-31T09:00:00Z"}


def test_a_yaml_syntax_error_says_where() -> None:
    caught = """(() => { try { u.fromYAML("name: x\\n  image: : y\\n"); }
        catch (e) { return [e.name, e.message, e.line, e.column, e.position]; } })()"""
    _name, message, line, column, position = run(caught)
    assert message.startswith(f"Line 2, column {column}: ") and line == 2, message
    assert 0 < position <= len("name: x\n  image: : y\n")


def test_no_custom_type_is_read() -> None:
    """js-yaml 4's schemas build plain data only: 3.x's `!!js/function` is an unknown tag."""
    caught = """(() => { try { return u.fromYAML("f: !!js/function 'function () {}'"); }
        catch (e) { return e.message; } })()"""
    assert "unknown tag" in run(caught)
