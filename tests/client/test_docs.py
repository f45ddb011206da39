"""Every Python example of docs/sdk.md runs, in order, against `kjs up` on a test cluster:
the guide cannot drift from what the SDK does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kjs.testing.pytest_plugin import Cluster
from tests.live import LiveServer, live_kjs_up

pytestmark = pytest.mark.k8s

GUIDE = Path(__file__).parents[2] / "docs" / "sdk.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# What the guide says, and what it is here: the server's address and the namespace.
GUIDE_URL = "http://127.0.0.1:8080"
GUIDE_NAMESPACE = '"default"'


@pytest.fixture
def kjs_up(k8s_clusters: list[Cluster], tmp_path: Path) -> Iterator[LiveServer]:
    cluster = k8s_clusters[0]
    with live_kjs_up(tmp_path, cluster.id, cluster.kubeconfig) as live:
        yield live


def examples() -> list[str]:
    return PYTHON_BLOCK.findall(GUIDE.read_text())


def test_the_guide_has_its_examples() -> None:
    blocks = examples()
    assert len(blocks) >= 10
    assert all(GUIDE_URL not in b or "Client(" in b for b in blocks)


def test_every_example_of_the_guide_runs(kjs_up: LiveServer, k8s_namespace: str) -> None:
    scope: dict[str, Any] = {"__name__": "sdk_guide"}
    for number, block in enumerate(examples(), 1):
        source = block.replace(GUIDE_URL, kjs_up.url).replace(GUIDE_NAMESPACE, f'"{k8s_namespace}"')
        exec(compile(source, f"{GUIDE}: python example {number}", "exec"), scope)
    assert scope["done"].state == "failed"  # the last `done` of the guide: its wait example


README = Path(__file__).parents[2] / "README.md"


def test_the_readme_s_python_example_runs(kjs_up: LiveServer, k8s_namespace: str) -> None:
    (block,) = PYTHON_BLOCK.findall(README.read_text())
    source = block.replace(GUIDE_URL, kjs_up.url).replace(GUIDE_NAMESPACE, f'"{k8s_namespace}"')
    scope: dict[str, Any] = {"__name__": "readme"}
    exec(compile(source, f"{README}: python example", "exec"), scope)
    assert scope["job"].state == "pending"  # as submitted; the example printed its end
