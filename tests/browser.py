"""Debian's Chromium driven by Playwright, for the tests that open pages (the API docs, the web
UI), with what a page must not do recorded: requests to a host other than this machine (refused)
and console errors (a CSP violation is one).

Playwright's own browser downloads are never used (`playwright install` is not run): the browser
is `/usr/bin/chromium` (`.ci/run` installs it), or `KJS_CHROMIUM`. Without it the tests fail in
CI (`CI` set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM = os.environ.get("KJS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def no_browser(reason: str) -> None:
    """Fail in CI, where the browser tests must run; skip on a machine without Chromium."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


def require_browser() -> None:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        no_browser(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        no_browser("playwright is not installed (pip install -e '.[test]')")


@contextmanager
def chromium_context(profile: Path, **options: Any) -> Iterator[Any]:
    """A persistent Chromium context on a fresh profile folder; `options` go to Playwright
    (`viewport`, `color_scheme`, ...)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    options.setdefault("viewport", {"width": 1280, "height": 900})
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, **options
        )
        try:
            yield context
        finally:
            context.close()


class PageWatch:
    """What the pages of a context did that they should not: requests off this machine (refused
    and recorded) and console errors. Watches the pages opened after it too."""

    def __init__(self, context: Any) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)

    def watch_page(self, page: Any) -> None:
        # Requests the CSP blocks never reach the route, but are still announced.
        page.on("request", lambda request: self._note(request.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _note(self, url: str) -> bool:
        parts = urlsplit(url)
        outside = parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK
        if outside and url not in self.outside:
            self.outside.append(url)
        return outside

    def _route(self, route: Any) -> None:
        if self._note(route.request.url):
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def check(self, *, allowed_errors: tuple[str, ...] = ()) -> None:
        """No request left this machine and no console error other than those expected (e.g.
        the 4xx a test provokes on purpose, which Chromium logs as a failed resource)."""
        assert self.outside == [], f"requests to other hosts: {self.outside}"
        errors = [e for e in self.errors if not any(a in e for a in allowed_errors)]
        assert errors == [], f"console errors (CSP violations among them?): {errors}"
