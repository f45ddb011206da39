"""The compatibility routes put their jobs in `[compat] queue` (`default` unless set): the
original's requests name no queue, and their bodies stay exactly as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.api.auth import hash_token
from kjs.core.config import ConfigError, load
from kjs.plugins.compat.settings import check_compat_open
from kjs.server import create_app
from tests.api.test_compat import ONCE, create, envelope
from tests.compat_plugin import needs_compat

pytestmark = needs_compat
CRON = {**ONCE, "job_name": "nightly", "schedule": "0 3 * * *"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"compat": {"queue": "legacy"}, "scheduling": {"queues": {"legacy": {}}}}


def test_compat_jobs_and_cron_jobs_go_to_the_compat_queue(client: TestClient[Any]) -> None:
    job_id = create(client)
    assert client.get(f"/api/v1/jobs/{job_id}").json()["queue"] == "legacy"
    updated = envelope(client.post("/api/once_job/update", json={**ONCE, "job_id": job_id}))
    assert updated["code"] == 0, updated
    assert client.get(f"/api/v1/jobs/{job_id}").json()["queue"] == "legacy"
    cron = envelope(client.post("/api/cron_job/create", json=CRON))
    assert cron["code"] == 200, cron
    cron_id = cron["data"]["job_id"]
    assert client.get(f"/api/v1/cronjobs/{cron_id}").json()["queue"] == "legacy"


def test_without_the_setting_they_go_to_default(tmp_path: Path) -> None:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path)})
    with TestClient(create_app(settings)) as client:
        job_id = create(client)
        assert client.get(f"/api/v1/jobs/{job_id}").json()["queue"] == "default"


def test_a_compat_queue_that_does_not_exist_refuses_the_create(tmp_path: Path) -> None:
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "compat": {"queue": "gone"}})
    with TestClient(create_app(settings)) as client:
        refused = envelope(client.post("/api/once_job/create", json=ONCE))
        assert refused["code"] != 200 and "unknown queue 'gone'" in refused["cause"], refused


def test_a_token_limited_to_other_queues_may_not_create_through_them(tmp_path: Path) -> None:
    token = {"name": "gpu", "sha256": hash_token("g"), "scopes": ["submit"], "queues": ["gpu"]}
    settings = load(environ={}, overrides={"data_dir": str(tmp_path), "auth": {"tokens": [token]}})
    with TestClient(create_app(settings)) as client:
        refused = client.post(
            "/api/once_job/create", json=ONCE, headers={"Authorization": "Bearer g"}
        )
        assert "may not use queue 'default'" in refused.text, refused.text


def test_a_compat_queue_that_is_no_queue_name_stops_the_server() -> None:
    settings = load(environ={}, overrides={"compat": {"queue": "Legacy Jobs"}})
    with pytest.raises(ConfigError, match=r"^compat\.queue: .*a lowercase RFC 1123 label"):
        check_compat_open(settings)


def test_a_compat_edit_needs_the_queue_the_job_is_in_too(tmp_path: Path) -> None:
    """A job or cron job edited (over the REST API) into another queue cannot be edited back
    through the compatibility routes by a token that may not use that queue."""
    tokens = [
        {"name": "root", "sha256": hash_token("r"), "scopes": ["admin"]},
        {"name": "legacy", "sha256": hash_token("l"), "scopes": ["submit"], "queues": ["legacy"]},
    ]
    overrides = {
        "data_dir": str(tmp_path),
        "auth": {"tokens": tokens},
        "compat": {"queue": "legacy"},
        "scheduling": {"queues": {"legacy": {}, "batch": {}}},
    }
    root, legacy = {"Authorization": "Bearer r"}, {"Authorization": "Bearer l"}
    with TestClient(create_app(load(environ={}, overrides=overrides))) as client:
        for kind, fields, rest in (("once", ONCE, "jobs"), ("cron", CRON, "cronjobs")):
            made = envelope(client.post(f"/api/{kind}_job/create", json=fields, headers=legacy))
            assert made["code"] == 200, made
            job_id = made["data"]["job_id"]
            moved = client.patch(f"/api/v1/{rest}/{job_id}", json={"queue": "batch"}, headers=root)
            assert moved.status_code == 200, moved.text
            refused = client.post(
                f"/api/{kind}_job/update", json={**fields, "job_id": job_id}, headers=legacy
            )
            assert "may not use queue 'batch'" in refused.text, refused.text
            assert client.get(f"/api/v1/{rest}/{job_id}", headers=root).json()["queue"] == "batch"
