"""The API docs work offline (issue 16): `/schema` (Redoc) and `/schema/swagger` (Swagger UI)
load only files the server bundles, under a Content-Security-Policy, and show the operations.

The browser tests run Debian's Chromium (`.ci/run` installs it) through Playwright, with every
request to a host other than this machine recorded and refused; without Chromium they fail in CI
(`CI` set) and are skipped elsewhere. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient

from kjs.api import docs
from kjs.api.auth import hash_token
from kjs.core.config import Settings, load
from kjs.server import create_app
from tests.browser import PageWatch, chromium_context
from tests.live import LiveServer, live_server

PAGES = ("/schema", "/schema/redoc", "/schema/swagger")
# The request body of `POST /api/v1/jobs` (JobSpec): the fields a reader looks for first.
JOB_FIELDS = ("image", "namespace", "command")
SUBMIT_OPERATION = "ApiV1JobsSubmit"  # its operationId


def _settings(data_dir: Path) -> Settings:
    # With tokens configured: the docs must still open without one.
    token = {"name": "admin", "sha256": hash_token("admin-token"), "scopes": ["admin"]}
    return load(environ={}, overrides={"data_dir": str(data_dir), "auth": {"tokens": [token]}})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(_settings(tmp_path_factory.mktemp("docs")))) as test_client:
        yield test_client


class _References(HTMLParser):
    """Every URL a page's markup makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "data-spec-url") and v]


# -- without a browser -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_loads_only_same_origin_files(client: TestClient[Any], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert "http://" not in page and "https://" not in page, page
    parser = _References()
    parser.feed(page)
    loaded = [url for url in parser.urls if not url.startswith("data:")]
    assert any(url.endswith(".js") for url in loaded), page
    for url in loaded:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/schema/"), url
        asset = client.get(url)
        assert asset.status_code == 200, (url, asset.text)
        assert "default-src 'self'" in asset.headers["content-security-policy"], url


def test_only_the_bundled_viewers_are_served(client: TestClient[Any]) -> None:
    """Litestar's CDN viewers are off, and the assets route serves the viewers' files only."""
    for gone in ("/schema/rapidoc", "/schema/elements", "/schema/oauth2-redirect.html"):
        assert client.get(gone).status_code == 404, gone
    for private in ("SOURCES", "LICENSE.redoc", "docs.py", "..%2Fdocs.py"):
        assert client.get(f"/schema/assets/{private}").status_code == 404, private
    css = client.get("/schema/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    js = client.get("/schema/assets/redoc.standalone.js")
    assert js.headers["content-type"].startswith("text/javascript")


def test_bundled_files_match_their_sources() -> None:
    """Each file in `docs_assets/` is the one `SOURCES` names, byte for byte (sha256)."""
    folder = docs.ASSETS_DIR
    recorded: dict[str, str] = {}
    for line in (folder / "SOURCES").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            recorded[name] = digest
    present = {p.name for p in folder.iterdir() if p.is_file()} - {"SOURCES"}
    assert set(recorded) == present, "SOURCES and the folder list different files"
    for name, digest in recorded.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert present >= docs.SERVED_ASSETS
    # The vendored viewers must carry their licences.
    assert {"LICENSE.redoc", "LICENSE.swagger-ui", "NOTICE.swagger-ui"} <= present


# -- in Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(create_app(_settings(tmp_path_factory.mktemp("docs-live")))) as live:
        yield live


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    page.set_default_timeout(60_000)  # a shared CPU: Redoc parses a 1 MB bundle and the schema
    try:
        yield page
    finally:
        browser_context.unroute_all()
        page.close()


def _open(server: LiveServer, page: Any, path: str) -> tuple[PageWatch, Any]:
    watch = PageWatch(page.context)
    response = page.goto(server.url + path)
    assert response is not None and response.status == 200
    return watch, response


def _check(watch: PageWatch, response: Any, page: Any, shot: Path) -> None:
    page.screenshot(path=str(shot))
    watch.check()
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp, csp


def test_redoc_shows_job_submission_offline(server: LiveServer, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    watch, response = _open(server, page, "/schema")
    operation = page.locator(f'[id="tag/jobs/operation/{SUBMIT_OPERATION}"]')
    heading = operation.get_by_role("heading", name="Submit a job")
    expect(heading).to_be_visible()
    expect(operation.get_by_text("/api/v1/jobs", exact=True).first).to_be_attached()
    for field in JOB_FIELDS:
        expect(operation.locator(f'td[kind="field"][title="{field}"]')).to_be_visible()
    heading.evaluate("element => element.scrollIntoView()")  # for the screenshot
    _check(watch, response, page, tmp_path / "redoc.png")


def test_swagger_ui_shows_job_submission_offline(
    server: LiveServer, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    watch, response = _open(server, page, "/schema/swagger")
    operation = page.locator(f'[id="operations-jobs-{SUBMIT_OPERATION}"]')
    expect(operation).to_contain_text("POST")
    expect(operation).to_contain_text("/api/v1/jobs")
    operation.locator(".opblock-summary-control").click()
    body = operation.locator(".opblock-section-request-body")
    expect(body).to_be_visible()
    for field in JOB_FIELDS:
        expect(body).to_contain_text(f'"{field}"')  # the request body's example value
    operation.scroll_into_view_if_needed()
    _check(watch, response, page, tmp_path / "swagger.png")
