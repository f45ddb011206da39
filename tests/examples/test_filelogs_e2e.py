"""`kjs up` with the example files sink on a real test cluster: a job's collected log is in the
sink's files and comes back through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kjs.testing.pytest_plugin import Cluster
from kjs.testing.waiting import wait_until
from tests.e2e.test_agent_e2e import final, submit
from tests.live import kjs_up_app

pytestmark = pytest.mark.k8s


def test_a_jobs_log_lands_in_the_files_and_comes_back_through_the_api(
    k8s_clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    cluster, directory = k8s_clusters[0], tmp_path / "filelogs"
    app = kjs_up_app(
        tmp_path / "data",
        cluster.id,
        cluster.kubeconfig,
        log_sink="files",
        filelogs={"directory": str(directory)},
    )
    with TestClient[Any](app) as client:
        wait_until(
            lambda: client.get(f"/api/v1/clusters/{cluster.id}").status_code == 200,
            timeout=15,
            what="the agent's first heartbeat",
        )
        job = submit(
            client, k8s_namespace, "echo hello; echo from files", name="filed", log_collect="always"
        )
        assert final(client, job["id"])["state"] == "succeeded"
        logs = client.get(f"/api/v1/jobs/{job['id']}/logs").text

    (chunk,) = (directory / job["id"] / "1").glob("*/filed/0.log")  # <pod>/<container>/<seq>
    assert chunk.read_bytes() == b"hello\nfrom files\n"
    assert logs.endswith("/filed <==\nhello\nfrom files\n")
