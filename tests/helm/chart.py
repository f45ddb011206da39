"""Rendering the Helm chart (helm/kjs) with the helm binary the test environment built."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from kjs.testing.build import binary

CHART = Path(__file__).resolve().parents[2] / "helm" / "kjs"
TOKENS = {"secrets.authTokens": "kjs-tokens"}


def helm(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm; with `home`, its cache, config and data (release repos, registry logins) live
    there instead of the user's."""
    env = None
    if home is not None:
        env = {
            **os.environ,
            **{
                f"HELM_{kind}_HOME": str(home / kind.lower())
                for kind in ("CACHE", "CONFIG", "DATA")
            },
        }
    return subprocess.run([str(binary("helm")), *args], capture_output=True, text=True, env=env)


def sets(values: dict[str, Any]) -> list[str]:
    out = []
    for key, value in values.items():
        flag = "--set-json" if isinstance(value, (list, dict, bool, int)) else "--set-string"
        out += [flag, f"{key}={_json(value)}" if flag == "--set-json" else f"{key}={value}"]
    return out


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def render(values: dict[str, Any], namespace: str = "kjs") -> list[dict[str, Any]]:
    done = helm("template", "r", str(CHART), "--namespace", namespace, *sets(values))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(objects: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    return found
