"""The UI's routes: one page (`index.html`) for every `/ui/...` path (the page routes itself
with the history API), and the files of `assets/` under `/ui/assets/`.

They are open (`OPEN_ROUTE`): the page and its scripts hold no data; the data comes from the
API with the bearer token the user gives the sign-in page. A Content-Security-Policy keeps the
page on the server's own origin, with no inline script or style.

Cache: every asset URL the page uses carries `?v=<version>` (a hash of all the files, so an
upgrade changes it); such a request may be cached for a year, any other one is revalidated.
The scripts' own imports (`from "./api.js"`) get the same query when served."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from kjs.api.policy import OPEN_ROUTE

ASSETS_DIR = Path(__file__).with_name("assets")
INDEX = "index.html"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_YEAR = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_IMPORT = re.compile(r'''(from\s+|import\s*\(\s*)"\./([\w.-]+\.js)"''')
_OPEN = {OPEN_ROUTE: True}


@dataclass(frozen=True)
class Bundle:
    version: str
    files: dict[str, bytes]  # served name → body (imports and the page's links versioned)


@functools.cache
def bundle() -> Bundle:
    """The assets as served, read once."""
    names = sorted(p.name for p in ASSETS_DIR.iterdir() if p.suffix in _MEDIA_TYPES)
    raw = {name: (ASSETS_DIR / name).read_bytes() for name in names}
    page = _read(INDEX)
    digest = hashlib.sha256()
    for name, body in [*raw.items(), (INDEX, page)]:
        digest.update(name.encode() + b"\0" + body + b"\0")
    version = digest.hexdigest()[:12]
    files = {
        name: _IMPORT.sub(rf'\1"./\2?v={version}"', body.decode()).encode()
        if name.endswith(".js")
        else body
        for name, body in raw.items()
    }
    index = page.decode().replace("{{version}}", version).encode()
    return Bundle(version, {**files, INDEX: index})


def _read(name: str) -> bytes:
    path = ASSETS_DIR / name if name != INDEX else Path(__file__).with_name(INDEX)
    return path.read_bytes()


def _page() -> Response[bytes]:
    return Response(
        bundle().files[INDEX],
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": _REVALIDATE,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@get("/ui", opt=_OPEN, sync_to_thread=False, include_in_schema=False)
def ui_root() -> Response[bytes]:
    """The UI's page (it moves on to `/ui/jobs`)."""
    return _page()


@get("/ui/{path:path}", opt=_OPEN, sync_to_thread=False, include_in_schema=False)
def ui_page(path: FromPath[Path]) -> Response[bytes]:
    """The same page for every page path; a missing file under `assets/` is a 404."""
    if str(path).lstrip("/").startswith("assets/"):
        raise NotFoundException(f"no UI asset at {path}")
    return _page()


@get("/ui/assets/{file:str}", opt=_OPEN, sync_to_thread=False, include_in_schema=False)
def ui_asset(file: FromPath[str], v: FromQuery[str | None] = None) -> Response[bytes]:
    """One file of the UI (404 for a name that is not one)."""
    served = bundle()
    if file == INDEX or file not in served.files:
        raise NotFoundException(f"no UI asset named {file!r}")
    return Response(
        served.files[file],
        media_type=_MEDIA_TYPES[Path(file).suffix],
        headers={
            "Cache-Control": _YEAR if v == served.version else _REVALIDATE,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )


def routes() -> list[Any]:
    return [ui_root, ui_page, ui_asset]
