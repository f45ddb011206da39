"""The web UI (issue 17) in Chromium, end to end on `kjs up` with a test cluster.

`kjs_ui` is `kjs up` (server, SQLite, memory queue and the cluster's agent in one process) with
two API tokens, an admin's and a read-only one. `page` is a Chromium tab on it whose requests to
other hosts are refused and whose console errors fail the test at teardown (a CSP violation is
one). `sign_in` puts a token where the page keeps it (sessionStorage, before any page script runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.browser import PageWatch, chromium_context
from tests.ui.support import LAPTOP, KjsUi, Tab, kjs_up_with_tokens


@pytest.fixture
def kjs_ui(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[KjsUi]:
    yield from kjs_up_with_tokens(tmp_path / "kjs", k8s_clusters[0])


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium_context(tmp_path_factory.mktemp("chromium-profile"), viewport=LAPTOP) as context:
        from playwright.sync_api import expect

        # A shared CPU: give a page more than Playwright's 5 s; a passing check returns at once.
        expect.set_options(timeout=15_000)
        yield context


@pytest.fixture
def tab(browser_context: Any) -> Iterator[Tab]:
    watch = PageWatch(browser_context)
    page = browser_context.new_page()
    page.set_default_timeout(30_000)  # a shared CPU; each expect() still returns on success
    tab = Tab(page, watch)
    try:
        yield tab
        watch.check(allowed_errors=tab.allowed)
    finally:
        browser_context.unroute_all(behavior="ignoreErrors")
        page.close()


@pytest.fixture
def page(tab: Tab) -> Any:
    return tab.page
