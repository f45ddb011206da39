"""Every page of the web UI at a laptop's and a phone's width (issue 17): each visible control
has an accessible name, and nothing makes the page itself scroll sideways (a wide table scrolls
inside its own box)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.support import ADMIN_TOKEN, LAPTOP, PHONE, KjsUi, expect, sign_in

pytestmark = pytest.mark.k8s

# The accessible name as a screen reader would compute it, for the ways this UI names controls:
# aria-label, aria-labelledby, <label for> or a wrapping label, the text of a button or link,
# an image's alt, a title.
UNNAMED = """() => {
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== "hidden";
  };
  const text = (nodes) => nodes.map((n) => (n ? n.textContent : "")).join(" ").trim();
  const name = (e) => {
    const label = (e.getAttribute("aria-label") || "").trim();
    if (label) return label;
    const by = (e.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
    if (by.length && text(by.map((id) => document.getElementById(id)))) return "by";
    if (e.labels && text([...e.labels])) return "label";
    if (e.tagName === "A" || e.tagName === "BUTTON") {
      if (e.textContent.trim()) return "text";
      if ([...e.querySelectorAll("img[alt]")].some((i) => i.alt.trim())) return "alt";
    }
    return (e.getAttribute("title") || "").trim();
  };
  return [...document.querySelectorAll("button, a[href], input, select, textarea")]
    .filter((e) => e.type !== "hidden" && shown(e) && !name(e))
    .map((e) => e.outerHTML.slice(0, 160));
}"""

# Page-level sideways scroll, and what sticks out of the viewport outside a scrolling box.
TOO_WIDE = """() => {
  const width = window.innerWidth;
  const scrolls = (e) =>
    ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(e).overflowX);
  const inside = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrolls(p)) return true;
    }
    return false;
  };
  const out = [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && !inside(e))
    .filter((e) => e.getBoundingClientRect().width > 0)
    .map((e) => e.outerHTML.slice(0, 120));
  return { scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 5) };
}"""


def _pages(kjs_ui: KjsUi, namespace: str, tmp_path: Path) -> list[tuple[str, str]]:
    """Each page, and what shows it is drawn."""
    job_id = kjs_ui.submit(namespace, "a-job-with-a-rather-long-name-to-fit", "echo hello")
    cron = kjs_ui.api(
        "POST",
        "/api/v1/cronjobs",
        json={
            "name": "nightly-report",
            "namespace": namespace,
            "image": "busybox",
            "command": ["sh", "-c", "true"],
            "schedule": "0 3 * * *",
        },
    )
    assert cron.status_code == 201, cron.text
    cron_id = cron.json()["id"]
    kjs_ui.wait_for_state(job_id, "succeeded")
    return [
        ("/ui/jobs", f"tr[data-job-id='{job_id}']"),
        (f"/ui/jobs/{job_id}", "[data-testid=job-detail][data-state=succeeded]"),
        ("/ui/submit", "form[data-testid=submit-form]"),
        ("/ui/crons", f"tr[data-cron-id='{cron_id}']"),
        (f"/ui/crons/{cron_id}", "[data-testid=next-runs]"),
        ("/ui/clusters", f"tr[data-cluster-id='{kjs_ui.cluster_id}']"),
        ("/ui/queues", "tr[data-queue='default'] td[data-col=share] meter"),
        ("/ui/signin", "form[data-testid=signin]"),
    ]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_control_is_named_and_no_page_scrolls_sideways(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str, tmp_path: Path, viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)
    sign_in(page, ADMIN_TOKEN)
    problems: dict[str, Any] = {}
    for path, drawn in _pages(kjs_ui, k8s_namespace, tmp_path):
        page.goto(kjs_ui.url + path)
        expect(page.locator(drawn)).to_be_visible()
        unnamed = page.locator("body").evaluate(f"(body) => ({UNNAMED})()")
        if unnamed:
            problems[f"{path}: unnamed"] = unnamed
        wide = page.evaluate(TOO_WIDE)
        if wide["scrollWidth"] > wide["width"] or wide["out"]:
            problems[f"{path}: too wide"] = wide
    assert problems == {}
