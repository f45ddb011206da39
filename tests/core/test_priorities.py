"""Priority classes (issue 19): `[scheduling.priority_classes.<name>]`, each error naming its key;
a queue's `priority_class` must name one; the placement key carries a job's priority."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from kjs.core import priorities
from kjs.core.config import ConfigError, load
from kjs.core.models import JobSpec
from kjs.core.routing import PLACEMENT_KEY_MAX, Group, Route, group_of, placement_key_of


def classes_of(table: dict[str, object], **scheduling: object) -> object:
    overrides = {"scheduling": {"priority_classes": table, **scheduling}}
    return load(environ={}, overrides=overrides).scheduling.priority_classes


def test_classes_load_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(
        "[scheduling.priority_classes.high]\nvalue = 1000\ndescription = 'interactive'\n"
        "[scheduling.priority_classes.'batch.low']\nvalue = -5\npreemptible = true\n"
        "[scheduling.queues.web]\npriority_class = 'high'\n"
    )
    environ = {"KJS_SCHEDULING__PRIORITY_CLASSES__HIGH__PREEMPTIBLE": "true"}
    settings = load(config, environ=environ)
    found = settings.scheduling.priority_classes
    assert found["high"].value == 1000 and found["high"].preemptible  # the variable's
    assert found["high"].description == "interactive"
    assert found["batch.low"].value == -5 and found["batch.low"].description is None
    assert settings.scheduling.queues["web"].priority_class == "high"
    # Listed highest first, as `GET /api/v1/priority-classes` answers.
    assert [(c.name, c.value) for c in priorities.listed(found)] == [
        ("high", 1000),
        ("batch.low", -5),
    ]


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"high": {"value": 1_000_000_001}}, "scheduling.priority_classes.high.value", "<= 1000"),
        ({"high": {"value": -1_000_000_001}}, "scheduling.priority_classes.high.value", ">= -1"),
        ({"high": {"value": "9"}}, "scheduling.priority_classes.high.value", "int"),
        ({"high": {}}, "scheduling.priority_classes.high.value", "missing required field"),
        ({"high": {"value": 1, "vaule": 2}}, "scheduling.priority_classes.high.vaule", "unknown"),
        (
            {"high": {"value": 1, "preemptible": "yes"}},
            "scheduling.priority_classes.high.preemptible",
            "bool",
        ),
        ({"High": {"value": 1}}, "scheduling.priority_classes.High", "RFC 1123 subdomain"),
    ],
)
def test_a_bad_class_is_one_line_naming_its_key(
    table: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as e:
        classes_of(table)
    assert str(e.value).startswith(f"{key}: ") and words in str(e.value), str(e.value)


def test_the_extremes_are_values_a_class_may_have() -> None:
    found = classes_of({"top": {"value": 1_000_000_000}, "bottom": {"value": -1_000_000_000}})
    assert {n: c.value for n, c in found.items()} == {  # type: ignore[attr-defined]
        "top": 1_000_000_000,
        "bottom": -1_000_000_000,
    }


def test_a_queue_must_name_a_defined_class() -> None:
    with pytest.raises(ConfigError) as e:
        classes_of({"high": {"value": 10}}, queues={"gpu": {"priority_class": "urgent"}})
    assert str(e.value) == (
        "scheduling.queues.gpu.priority_class: unknown priority class 'urgent' (defined: high)"
    )
    with pytest.raises(ConfigError, match=r"^scheduling\.queues\.default\.priority_class: .*none"):
        classes_of({}, queues={"default": {"priority_class": "high"}})


def spec(**fields: object) -> JobSpec:
    return msgspec.convert({"name": "a", "namespace": "ops", "image": "x", **fields}, JobSpec)


def test_the_placement_key_carries_the_priority_and_reads_back() -> None:
    routed = spec(queue="gpu", cluster=["c2", "c1"], cluster_selector={"zone": "a"})
    key = placement_key_of(routed, -7)
    assert key == 'gpu|ops|-7|{"c":["c2","c1"],"s":{"zone":"a"}}'
    assert group_of(key) == Group("gpu", "ops", -7, Route(c=["c2", "c1"], s={"zone": "a"}))
    assert placement_key_of(spec()) == "default|ops|0|"  # no class: 0
    assert group_of("default|ops|1000000000|") == Group("default", "ops", 1_000_000_000, Route())
    # Two priorities, two groups: placement tells them apart from the key alone.
    assert placement_key_of(routed, 5) != placement_key_of(routed, 6)


@pytest.mark.parametrize(
    "key",
    [
        'default|ops|{"c":"c1"}',  # as revision 0012 spelled it: no priority
        "default|ops|",
        "default|ops|+5|",
        "default|ops|05|",
        "default|ops| 5|",
        "default|ops|1_0|",
        "default|ops|-0|",
    ],
)
def test_a_key_without_a_plain_priority_is_no_group(key: str) -> None:
    assert group_of(key) is None


def test_a_key_too_long_is_none_whatever_the_priority() -> None:
    short = len(placement_key_of(spec(cluster_selector={"k": ""})) or "")
    at_most = spec(cluster_selector={"k": "v" * (PLACEMENT_KEY_MAX - short)})
    key = placement_key_of(at_most, 0)
    assert key is not None and len(key) == PLACEMENT_KEY_MAX
    assert placement_key_of(at_most, 10) is None  # one character more: no key
