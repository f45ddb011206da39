"""bench/schedule.py keeps working: a tiny run places jobs on its simulated clusters and ends
with the JSON line the lead's figures are read from. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "schedule.py"
KEYS = {
    "placements_per_s",
    "pass_p99_ms",
    "pass_p50_ms",
    "pending_start",
    "pending_end",
    "jobs",
    "queues",
    "clusters",
    "store",
}


def test_a_tiny_run_places_jobs_and_ends_with_its_figures() -> None:
    args = ["--jobs", "300", "--queues", "5", "--clusters", "3", "--seconds", "3"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS
    assert (figures["jobs"], figures["queues"], figures["clusters"]) == (300, 5, 3)
    assert figures["store"] == "sqlite"
    assert figures["pending_start"] == 300
    # Jobs were placed: dispatches reached the stand-in agents, and ran there to the end.
    assert figures["dispatches_received"] > 0
    assert figures["placements_per_s"] > 0
    assert figures["pending_end"] < figures["pending_start"]
    assert figures["succeeded"] > 0
    assert figures["overbooked"] == 0  # placement never sent more than a cluster could hold
    assert sum(q["placed"] for q in figures["per_queue"].values()) == figures["dispatches_received"]
