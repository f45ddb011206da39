"""docs/cli.md stays true: each `console` block's commands run in bash, in order, against a real
server (its cluster played by a scripted agent), and print what the page shows.

What varies from run to run matches its kind: a job id any id, an age any age, a token any
token, a SHA-256 any SHA-256; `…` any text in a line, or on a line of its own any lines.
Whitespace runs compare equal (a column's width follows its longest cell)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kjs.core.config import load
from kjs.server import create_app
from tests.cli.support import ScriptedAgent
from tests.live import live_server

DOC = Path(__file__).parents[2] / "docs" / "cli.md"
ANY_LINES = "…"
# What a word of the page stands for, when it has one of these shapes.
WHOLE = [
    re.compile(r"\d+[smhdy](\d+[smhd])?"),  # an age, kubectl's
    re.compile(r"[A-Za-z0-9_-]{43}"),  # a token (32 random bytes)
]
# ... and these, also within a word (`job/<id>`, `"sha256": "<hex>"`).
WITHIN = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # an id
    r"|[0-9a-f]{64})"  # a SHA-256
)


@dataclass
class Example:
    command: str
    expected: list[str]
    line: int


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    in_console = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_console = line.strip() == "```console"
        elif in_console and line.startswith("$ "):
            found.append(Example(line[2:], [], number))
        elif in_console:
            found[-1].expected.append(line)
    return found


def _literal(text: str) -> str:
    return "".join(
        WITHIN.pattern if WITHIN.fullmatch(part) else re.escape(part) for part in WITHIN.split(text)
    )


def _token(expected: str) -> str:
    for shape in WHOLE:
        if shape.fullmatch(expected):
            return shape.pattern
    return ".*?".join(_literal(part) for part in expected.split("…"))


def line_matches(expected: str, actual: str) -> bool:
    expected_tokens, actual_line = expected.split(), " ".join(actual.split())
    pattern = " ".join(_token(t) for t in expected_tokens)
    return re.fullmatch(pattern, actual_line) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Lines against lines, `…` alone standing for any lines (none included)."""
    if not expected:
        return not actual
    if expected[0].strip() == ANY_LINES:
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return (
        bool(actual) and line_matches(expected[0], actual[0]) and matches(expected[1:], actual[1:])
    )


def run_all(commands: list[str], env: dict[str, str], cwd: Path) -> list[tuple[list[str], int]]:
    """The commands in one bash (their variables carry over), each one's output (stdout and
    stderr as a terminal shows them) and exit code."""
    script = []
    for i, command in enumerate(commands):
        script += [f"echo '@@begin {i}'", f"{{ {command}\n}} 2>&1", f'echo "@@end {i} $?"']
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stderr == "", done.stderr
    outputs: list[tuple[list[str], int]] = []
    lines: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith("@@begin "):
            lines = []
        elif line.startswith("@@end "):
            outputs.append((lines, int(line.split()[2])))
        else:
            lines.append(line)
    return outputs


def test_the_matcher_tells_a_difference() -> None:
    assert line_matches(
        "a   b 3s 01a2232b-6317-7c86-83ac-89e65f369193",
        "a b 5m2s 01a2232b-0000-7c86-83ac-89e65f369193",
    )
    assert not line_matches("hello: running", "hello: created")
    assert line_matches("in …", "in 8h")
    assert matches(["x", "…", "z"], ["x", "y1", "y2", "z"]) and matches(["x", "…"], ["x"])
    assert not matches(["x", "z"], ["x", "y", "z"])


def test_every_console_example_of_docs_cli_md_prints_what_it_shows(tmp_path: Path) -> None:
    found = examples(DOC.read_text())
    assert len(found) >= 20, "docs/cli.md lost its examples"
    settings = load(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    with live_server(create_app(settings)) as server:
        agent = ScriptedAgent(
            server, default=["created", "running", ("succeeded", {"reason": "CompletionsReached"})]
        )
        agent.script["broken"] = [
            "created",
            "running",
            ("failed", {"reason": "BackoffLimitExceeded"}),
        ]
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "KJS_URL": server.url,
            "PYTHONUNBUFFERED": "1",  # stdout and stderr in the order they were written
        }
        env.pop("KJS_TOKEN", None)
        (tmp_path / "work").mkdir()
        outputs = run_all([e.command for e in found], env, tmp_path / "work")
    assert len(outputs) == len(found)
    for example, (lines, code) in zip(found, outputs, strict=True):
        where = f"docs/cli.md:{example.line}: $ {example.command}"
        assert code == 0, f"{where}\nexit {code}:\n" + "\n".join(lines)
        assert matches(example.expected, lines), (
            f"{where}\nexpected:\n" + "\n".join(example.expected) + "\ngot:\n" + "\n".join(lines)
        )
