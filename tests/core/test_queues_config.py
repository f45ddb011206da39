"""`[scheduling.queues.<name>]`: queues defined in the configuration, each error naming its key;
`default` always there."""

from __future__ import annotations

from pathlib import Path

import pytest

from kjs.core.config import ConfigError, load
from kjs.core.queues import DEFAULT_QUEUE, QueueDefinition, configured


def test_default_exists_unless_the_configuration_defines_it() -> None:
    assert configured(load(environ={}).scheduling.queues) == {DEFAULT_QUEUE: QueueDefinition()}
    settings = load(environ={}, overrides={"scheduling": {"queues": {"default": {"weight": 3}}}})
    assert configured(settings.scheduling.queues)["default"].weight == 3


def test_a_queue_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(
        "[scheduling.queues.gpu]\nweight = 2\nnamespaces = ['ml']\n"
        "[scheduling.queues.gpu.limits]\nmax_cpu = 8\nper_cluster = {max_memory = '16Gi'}\n"
    )
    environ = {"KJS_SCHEDULING__QUEUES__GPU__LIMITS__MAX_RUNNING": "5"}
    gpu = load(config, environ=environ).scheduling.queues["gpu"]
    assert gpu.weight == 2 and gpu.namespaces == ["ml"]
    assert gpu.limits.max_cpu == "8"  # a TOML number, read as the quantity it is
    assert gpu.limits.max_running == 5 and gpu.limits.per_cluster.max_memory == "16Gi"


@pytest.mark.parametrize(
    ("queue", "key", "words"),
    [
        ({"weight": 0}, "scheduling.queues.gpu.weight", "> 0"),
        ({"wieght": 1}, "scheduling.queues.gpu.wieght", "unknown field"),
        ({"limits": {"max_cpu": "8 cores"}}, "scheduling.queues.gpu.limits.max_cpu", "quantity"),
        (
            {"limits": {"per_cluster": {"max_memory": "1GB"}}},
            "scheduling.queues.gpu.limits.per_cluster.max_memory",
            "quantity",
        ),
        ({"limits": {"max_running": -2}}, "scheduling.queues.gpu.limits.max_running", "0 or more"),
        ({"namespaces": ["ML"]}, "scheduling.queues.gpu.namespaces[0]", "RFC 1123"),
        ({"name": "cpu"}, "scheduling.queues.gpu.name", "'gpu'"),
    ],
)
def test_a_bad_queue_is_one_line_naming_its_key(
    queue: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load(environ={}, overrides={"scheduling": {"queues": {"gpu": queue}}})
    assert str(e.value).startswith(f"{key}: ") and words in str(e.value)


def test_a_queue_name_that_is_no_label_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^scheduling\.queues\.GPU: .*a lowercase RFC 1123 label"
    ):
        load(environ={}, overrides={"scheduling": {"queues": {"GPU": {}}}})


def test_a_token_s_queues_are_queue_names() -> None:
    token = {"name": "t", "sha256": "a" * 64, "queues": ["gpu", "Not A Queue"]}
    with pytest.raises(
        ConfigError, match=r"^auth\.tokens\[0\]\.queues\[1\]: .*a lowercase RFC 1123"
    ):
        load(environ={}, overrides={"auth": {"tokens": [token]}})
