"""`import kjs.client` loads httpx and msgspec and nothing else of the server's dependencies
(litestar, sqlalchemy, click, yaml, pydantic, kubernetes …): a program that submits jobs stays
light."""

from __future__ import annotations

import subprocess
import sys

ALLOWED = {
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "certifi",
    "idna",
    "msgspec",
    "typing_extensions",
    "exceptiongroup",
    "kjs",
}
KJS_MODULES = {"kjs", "kjs.core", "kjs.core.models", "kjs.core.states"}
# Also print what was really loaded: -X importtime lists failed attempts too (httpx tries
# brotli and zstandard, which may be absent).
SCRIPT = "import sys; {}; print('\\n'.join(sorted(sys.modules)))"


def imported(statement: str) -> tuple[set[str], set[str]]:
    """The modules a fresh interpreter imports for `statement` (per `-X importtime`, and
    still loaded at the end), and those it loaded at all."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", SCRIPT.format(statement)],
        capture_output=True,
        text=True,
        check=True,
    )
    timed = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    loaded = set(done.stdout.split())
    return timed & loaded, loaded


def test_kjs_client_imports_only_httpx_msgspec_and_the_stdlib() -> None:
    startup, _ = imported("pass")  # what the interpreter and site-packages' .pth files load
    modules, loaded = imported("import kjs.client")
    assert "kjs.client" in modules and "httpx" in modules and "msgspec" in modules
    third_party = {
        m.split(".")[0] for m in modules - startup if m.split(".")[0] not in sys.stdlib_module_names
    }
    assert third_party <= ALLOWED, sorted(third_party - ALLOWED)
    kjs = {m for m in loaded if m.split(".")[0] == "kjs" and not m.startswith("kjs.client")}
    assert kjs <= KJS_MODULES, sorted(kjs - KJS_MODULES)


def test_the_check_sees_a_heavy_import() -> None:
    """(The same check fails for what the SDK must not import.)"""
    modules, _ = imported("import kjs.client, click")
    assert "click" in {m.split(".")[0] for m in modules}
