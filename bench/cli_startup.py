"""How long `kjs --help` and a completion request take, as a user waits for them: fresh
processes of the installed `kjs` script, several runs each, the median.

The completion request is what bash asks at `kjs ge<Tab>`:
`_KJS_COMPLETE=bash_complete COMP_WORDS="kjs ge" COMP_CWORD=1 kjs`. Target: <= 150 ms each.

    .venv/bin/python bench/cli_startup.py [--runs N]

Prints a human line, then one JSON object on its last line: `help_ms`, `completion_ms`, `runs`
(and the fastest and slowest run of each, and the plain interpreter's start for scale).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

KJS = Path(sys.executable).parent / "kjs"


def timed(command: list[str], env: dict[str, str], expect: str) -> float:
    """One run, in milliseconds; its output must hold `expect` (a run that failed is no time)."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0 or expect not in done.stdout:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def series(runs: int, command: list[str], env: dict[str, str], expect: str) -> list[float]:
    timed(command, env, expect)  # warm the page cache and the .pyc files: not counted
    return [timed(command, env, expect) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("_KJS_COMPLETE")}
    complete = {**env, "_KJS_COMPLETE": "bash_complete", "COMP_WORDS": "kjs ge", "COMP_CWORD": "1"}
    results = {
        "help": series(args.runs, [str(KJS), "--help"], env, "Commands:"),
        "completion": series(args.runs, [str(KJS)], complete, "plain,get"),
        "python": series(args.runs, [sys.executable, "-c", "pass"], env, ""),
    }
    median = {name: statistics.median(times) for name, times in results.items()}
    print(
        f"kjs --help {median['help']:.0f} ms, completion of `kjs ge` "
        f"{median['completion']:.0f} ms (median of {args.runs} fresh processes; "
        f"python -c pass {median['python']:.0f} ms; target <= 150 ms each)"
    )
    figures = {
        "help_ms": round(median["help"], 1),
        "completion_ms": round(median["completion"], 1),
        "runs": args.runs,
        "help_ms_min_max": [round(min(results["help"]), 1), round(max(results["help"]), 1)],
        "completion_ms_min_max": [
            round(min(results["completion"]), 1),
            round(max(results["completion"]), 1),
        ],
        "python_startup_ms": round(median["python"], 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
