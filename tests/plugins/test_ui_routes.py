"""The web UI's routes (`kjs.plugins.ui`): one page for every `/ui/...` path, its files with the
right types and cache headers, a 404 for any other file, a Content-Security-Policy without
inline code, nothing loaded from another origin, and all of it open even when tokens are
configured (the data comes from the guarded API)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core.config import load
from kjs.core.plugins import Plugins
from kjs.plugins.ui.routes import ASSETS_DIR
from kjs.server import create_app

PAGES = [
    "/ui",
    "/ui/",
    "/ui/jobs",
    "/ui/jobs/0ccadc9f-1",
    "/ui/submit",
    "/ui/crons/x",
    "/ui/signin",
]
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# The one outside URL allowed in a file: SVG's namespace name, which is never fetched.
NAMESPACE_NAMES = {"http://www.w3.org/2000/svg"}
# The vendored js-yaml cites these in its comments (and its licence header); it fetches nothing.
CITED_IN_COMMENTS = {
    "js-yaml.js": {
        "https://github.com/nodeca/js-yaml",
        "http://www.yaml.org/spec/1.2/spec.html#id2799784",
        "http://stackoverflow.com/questions/8458984",
        "https://en.wikipedia.org/wiki/UTF-16#Code_points_U.2B010000_to_U.2B10FFFF",
        "https://mathiasbynens.be/notes/javascript-encoding#surrogate-formulae",
    }
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    token = {"name": "r", "scopes": ["read"], "sha256": hash_token("secret")}
    settings = load(
        environ={},
        overrides={"data_dir": str(tmp_path_factory.mktemp("ui")), "auth": {"tokens": [token]}},
    )
    with TestClient(create_app(settings, plugins=Plugins(autoload=False))) as test_client:
        yield test_client


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/ui/assets/[^"]+)"', page)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_path_is_the_page_without_a_token(client: TestClient[Any], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'src="/ui/assets/app.js?v=' in response.text


def test_the_api_still_needs_the_token(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer secret"}).status_code == 200


def test_the_page_has_a_strict_csp_and_no_inline_code(client: TestClient[Any]) -> None:
    response = client.get("/ui/jobs")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page = response.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None, "an inline script"
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page


def test_assets_are_served_with_their_types_and_a_long_cache(client: TestClient[Any]) -> None:
    urls = asset_urls(client.get("/ui").text)
    assert any("app.css" in u for u in urls) and any("app.js" in u for u in urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(TYPES[Path(url.split("?")[0]).suffix])
        assert "max-age=31536000" in response.headers["cache-control"], url
    # Without the page's version the browser asks again each time.
    assert client.get("/ui/assets/app.js").headers["cache-control"] == "no-cache"


def test_module_imports_carry_the_version(client: TestClient[Any]) -> None:
    version = asset_urls(client.get("/ui").text)[0].split("?v=")[1]
    body = client.get(f"/ui/assets/app.js?v={version}").text
    imports = re.findall(r'from "(\./[^"]+)"', body)
    assert imports and all(i.endswith(f"?v={version}") for i in imports), imports
    for name in imports:
        assert client.get(f"/ui/assets/{name[2:]}").status_code == 200, name


@pytest.mark.parametrize(
    "path",
    [
        "/ui/assets/nope.js",
        "/ui/assets/index.html",
        "/ui/assets/sub/app.js",
        "/ui/assets/%2e%2e%2f__init__.py",
    ],
)
def test_unknown_assets_are_404(client: TestClient[Any], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, (path, response.text[:200])
    assert "import " not in response.text


def test_no_file_loads_anything_from_another_origin(client: TestClient[Any]) -> None:
    served = {"index": client.get("/ui").text}
    for path in ASSETS_DIR.iterdir():
        served[path.name] = client.get(f"/ui/assets/{path.name}").text
    for name, text in served.items():
        outside = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
        allowed = NAMESPACE_NAMES | CITED_IN_COMMENTS.get(name, set())
        assert outside <= allowed, (name, outside - allowed)


def test_the_vendored_files_are_the_ones_sources_names() -> None:
    """`assets/SOURCES` records each vendored file's sha256 (and how it was fetched)."""
    recorded = {}
    for line in (ASSETS_DIR / "SOURCES").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            recorded[name] = digest
    assert set(recorded) == {"js-yaml.js", "LICENSE.js-yaml"}
    for name, digest in recorded.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == digest, name
    assert (ASSETS_DIR / "js-yaml.js").read_text().lstrip().startswith("/*! js-yaml 4.1.0 "), (
        "licence header"
    )


def test_sources_and_licences_are_not_served(client: TestClient[Any]) -> None:
    for name in ("SOURCES", "LICENSE.js-yaml"):
        assert client.get(f"/ui/assets/{name}").status_code == 404, name
