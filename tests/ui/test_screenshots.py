"""The screenshots under `docs/ui/`: every page of the web UI at laptop (1366x768) and phone
(390x844) widths, light and dark, on `kjs up` with a test cluster and a few jobs in each state.

Written only when asked, since they change the checkout:

    KJS_UI_SCREENSHOTS=1 .venv/bin/pytest tests/ui/test_screenshots.py --testenv-dir=DIR

Each file is `docs/ui/<page>-<laptop|phone>-<light|dark>.png`, the first screen of the page
(`full_page=False`), so the set stays small.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui.support import ADMIN_TOKEN, LAPTOP, PHONE, KjsUi, Tab, expect, sign_in

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.skipif(
        os.environ.get("KJS_UI_SCREENSHOTS") != "1",
        reason="writes docs/ui/*.png: set KJS_UI_SCREENSHOTS=1 to regenerate them",
    ),
]

OUT = Path(__file__).resolve().parents[2] / "docs" / "ui"
SIZES = {"laptop": LAPTOP, "phone": PHONE}
SCHEMES = ("light", "dark")


def _jobs(kjs_ui: KjsUi, namespace: str, gate: Path) -> dict[str, str]:
    """A list worth looking at: jobs that succeeded, failed, were cancelled, and run on."""
    wait = f"while [ ! -e {gate} ]; do sleep 0.1; done"
    log_lines = "; ".join(f"echo 'step {i}: processed {i * 1250} records'" for i in range(1, 13))
    ids = {
        "report": kjs_ui.submit(namespace, "nightly-report", log_lines, log_collect="always"),
        "etl": kjs_ui.submit(namespace, "etl-orders", "echo loading; exit 3"),
        "train": kjs_ui.submit(namespace, "train-model-v2", wait, labels={"team": "ml"}),
        "backfill": kjs_ui.submit(namespace, "backfill-2026-11", wait),
        "thumbs": kjs_ui.submit(namespace, "thumbnails", "true"),
    }
    kjs_ui.wait_for_state(ids["report"], "succeeded")
    kjs_ui.wait_for_state(ids["etl"], "failed")
    kjs_ui.wait_for_state(ids["thumbs"], "succeeded")
    kjs_ui.wait_for_state(ids["train"], "running")
    kjs_ui.wait_for_state(ids["backfill"], "running")
    assert kjs_ui.api("DELETE", f"/api/v1/jobs/{ids['backfill']}").is_success
    kjs_ui.wait_for_state(ids["backfill"], "cancelled")
    return ids


def _cron(kjs_ui: KjsUi, namespace: str) -> None:
    for name, schedule in (("nightly-export", "0 3 * * *"), ("hourly-sync", "15 * * * *")):
        body = {
            "name": name,
            "namespace": namespace,
            "image": "busybox",
            "command": ["date"],
            "schedule": schedule,
            "time_zone": "Europe/Berlin",
        }
        response = kjs_ui.api("POST", "/api/v1/cronjobs", json=body)
        assert response.status_code == 201, response.text


def _shoot(page: Any, name: str, show: Callable[[], None]) -> None:
    for size, viewport in SIZES.items():
        for scheme in SCHEMES:
            page.set_viewport_size(viewport)
            page.emulate_media(color_scheme=scheme)
            show()
            page.screenshot(path=str(OUT / f"{name}-{size}-{scheme}.png"), full_page=False)


def test_write_the_screenshots(
    kjs_ui: KjsUi, tab: Tab, browser_context: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    tab.allow_console("status of 400", "status of 401")  # the field error, the sign-in page
    gate = tmp_path / "gate"
    ids = _jobs(kjs_ui, k8s_namespace, gate)
    _cron(kjs_ui, k8s_namespace)
    OUT.mkdir(parents=True, exist_ok=True)
    page = tab.page
    sign_in(page, ADMIN_TOKEN)
    url = kjs_ui.url

    def jobs() -> None:
        page.goto(url + "/ui/jobs")
        expect(page.locator("[data-testid=jobs-table] tr[data-job-id]")).to_have_count(5)

    def detail() -> None:
        page.goto(url + f"/ui/jobs/{ids['report']}")
        expect(page.locator("[data-testid=log]")).to_contain_text("step 12")

    def submit() -> None:
        page.goto(url + "/ui/submit")
        form = page.locator("form[data-testid=submit-form]")
        form.locator("[name=name]").fill("Hello!")
        form.locator("[name=namespace]").fill(k8s_namespace)
        form.locator("[name=image]").fill("busybox")
        form.locator("[name=command]").fill("echo hello")
        form.locator("button[type=submit]").click()
        expect(page.locator("[data-error-for=name]")).to_be_visible()

    def crons() -> None:
        page.goto(url + "/ui/crons")
        expect(page.locator("[data-testid=crons-table] tr[data-cron-id]")).to_have_count(2)

    def clusters() -> None:
        page.goto(url + "/ui/clusters")
        expect(page.locator("[data-testid=clusters-table] tr[data-cluster-id]")).to_have_count(1)

    def queues() -> None:
        page.goto(url + "/ui/queues")
        expect(page.locator("[data-testid=queues-table] tr[data-queue]")).to_have_count(1)

    for name, show in (
        ("jobs", jobs),
        ("job-detail", detail),
        ("submit-error", submit),
        ("crons", crons),
        ("clusters", clusters),
        ("queues", queues),
    ):
        _shoot(page, name, show)

    signed_out = browser_context.new_page()  # no token in this tab
    try:

        def signin() -> None:
            signed_out.goto(url + "/ui/signin")
            expect(signed_out.locator("form[data-testid=signin]")).to_be_visible()

        _shoot(signed_out, "signin", signin)
    finally:
        signed_out.close()
    gate.touch()
