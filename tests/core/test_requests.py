"""What a job requests in total (kjs.core.requests), and `[scheduling] default_requests` and
`[scheduling.namespaces]` in the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from kjs.core.config import ConfigError, load
from kjs.core.models import JobSpec
from kjs.core.requests import DEFAULT_REQUESTS, Requests, default_requests, job_requests

MI, GI = 1 << 20, 1 << 30


def spec(**fields: Any) -> JobSpec:
    return msgspec.convert({"name": "j", "namespace": "ns", "image": "x", **fields}, JobSpec)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Requests(100, 128 * MI, 1)),  # nothing named: the default, one pod
        ({"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}, Requests(2000, GI, 1)),
        # Each resource on its own: what is not named is the default's.
        ({"resources": {"requests": {"cpu": "250m"}}}, Requests(250, 128 * MI, 1)),
        # A limit without a request is the request, as in Kubernetes.
        ({"resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}, Requests(1000, 2 * GI, 1)),
        (
            {"resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "4"}}},
            Requests(500, 128 * MI, 1),
        ),
        # Times the pods at once: parallelism, at most completions.
        (
            {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "parallelism": 4},
            Requests(2000, 4 * GI, 4),
        ),
        ({"parallelism": 4, "completions": 2}, Requests(200, 256 * MI, 2)),
        ({"parallelism": 0}, Requests(0, 0, 0)),
    ],
)
def test_a_jobs_total_request(fields: dict[str, Any], expected: Requests) -> None:
    assert job_requests(spec(**fields)) == expected


def test_the_defaults_are_configurable() -> None:
    defaults = default_requests("1", "1Gi")
    assert job_requests(spec(parallelism=2), defaults) == Requests(2000, 2 * GI, 2)
    assert Requests(100, 128 * MI) == DEFAULT_REQUESTS


def test_default_requests_and_namespace_limits_load_and_numbers_read_as_quantities(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(
        '[scheduling.default_requests]\ncpu = 1\nmemory = "512Mi"\n'
        "[scheduling.namespaces.ml]\nmax_running = 3\nmax_cpu = 8\n"
    )
    scheduling = load(config, environ={}).scheduling
    assert scheduling.default_requests.requests() == Requests(1000, 512 * MI)
    assert scheduling.namespaces["ml"].max_cpu == "8"
    assert scheduling.namespaces["ml"].max_running == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[scheduling.default_requests]\ncpu = "lots"\n',
            "scheduling.default_requests.cpu: 'lots' is not a Kubernetes quantity",
        ),
        (
            '[scheduling.default_requests]\nmemory = "-1Gi"\n',
            "scheduling.default_requests.memory: '-1Gi' is negative",
        ),
        (
            '[scheduling.namespaces.ml]\nmax_memory = "16 GB"\n',
            "scheduling.namespaces.ml.max_memory: '16 GB' is not a Kubernetes quantity",
        ),
        ("[scheduling.namespaces.ml]\nmax_running = -1\n", "scheduling.namespaces.ml.max_running"),
        ("[scheduling.namespaces.ML]\nmax_running = 1\n", "scheduling.namespaces.ML: must be"),
    ],
)
def test_a_bad_value_stops_the_server_naming_its_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as e:
        load(config, environ={})
    assert str(e.value).startswith(message), str(e.value)
