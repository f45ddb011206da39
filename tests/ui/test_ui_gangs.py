"""Gangs in the web UI on `kjs up` with a test cluster: a member's page says which gang it is
in and how many jobs the gang has; a job in no gang says nothing of gangs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.ui.support import ADMIN_TOKEN, KjsUi, expect, kjs_up_with_tokens, sign_in

pytestmark = pytest.mark.k8s


@pytest.fixture
def kjs_ui(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[KjsUi]:
    yield from kjs_up_with_tokens(tmp_path / "kjs", k8s_clusters[0])


def test_a_members_page_names_its_gang(kjs_ui: KjsUi, page: Any, k8s_namespace: str) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    member = {"namespace": k8s_namespace, "image": "busybox", "command": ["true"], "run_at": later}
    items = [
        {"job": {**member, "name": f"w{n}", "gang": "trainers", "gang_size": 2}} for n in range(2)
    ]
    response = kjs_ui.api("POST", "/api/v1/jobs:batch", json={"items": items})
    assert response.status_code == 201, response.text
    first = response.json()["items"][0]["id"]
    alone = kjs_ui.submit(k8s_namespace, "alone", "true", run_at=later)

    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + f"/ui/jobs/{first}")
    expect(page.locator("[data-testid=job-gang]")).to_have_text(
        "trainers (2 jobs, placed together)"
    )
    page.goto(kjs_ui.url + f"/ui/jobs/{alone}")
    expect(page.locator("[data-testid=job-priority]")).to_be_visible()  # the page is drawn
    expect(page.locator("[data-testid=job-gang]")).to_have_count(0)
