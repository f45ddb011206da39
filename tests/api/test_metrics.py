"""HTTP metrics keep the names and labels dashboards know (Litestar's), by route template."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

JOB = {"name": "metered", "namespace": "ops", "image": "busybox"}


def samples(client: TestClient[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("kjs_request")
    }


def labels(method: str, path: str, status: int) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            {"app_name": "kjs", "method": method, "path": path, "status_code": str(status)}.items()
        )
    )


def test_requests_are_counted_and_timed_by_route_template_and_status(
    client: TestClient[Any],
) -> None:
    before = samples(client)
    job = client.post("/api/v1/jobs", json=JOB).json()
    client.get(f"/api/v1/jobs/{job['id']}")
    client.get("/api/v1/jobs/no-such-job")
    client.post("/api/v1/jobs", json={"name": "Not A Name"})
    client.get("/healthz")
    after = samples(client)

    def grew(name: str, method: str, path: str, status: int) -> float:
        key = (name, labels(method, path, status))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("kjs_requests_total", "POST", "/api/v1/jobs", 201) == 1
    assert grew("kjs_requests_total", "POST", "/api/v1/jobs", 400) == 1
    assert grew("kjs_requests_total", "GET", "/api/v1/jobs/{job_id}", 200) == 1
    assert grew("kjs_requests_total", "GET", "/api/v1/jobs/{job_id}", 404) == 1
    assert grew("kjs_request_duration_seconds_count", "POST", "/api/v1/jobs", 201) == 1
    assert not any("/healthz" in str(key) or "/metrics" in str(key) for key in after)
    running = [v for (name, _), v in after.items() if name == "kjs_requests_in_progress"]
    assert running and all(v == 0 for v in running)
