"""How long does ``pushdeploy --help`` take to start? The median of N runs, next to ``python -c pass``.

The issue's target: ``--help`` and ``--version`` in 150 ms or less. Each command runs ``--runs``
times in a fresh interpreter (this one, ``sys.executable``); the median wall time is printed,
with the same for ``python -m pushdeploy`` importing the commands (``ENV`` with no config file:
it loads the command modules, rich included, then fails on the missing file) for comparison.

    python bench/cli_startup.py [--runs 21]

A measurement, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 150


def median_ms(argv: list[str], runs: int, cwd: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = max(1, parser.parse_args().runs)
    python = sys.executable
    cases = {
        "python -c pass": [python, "-c", "pass"],
        "pushdeploy --help": [python, "-m", "pushdeploy", "--help"],
        "pushdeploy --version": [python, "-m", "pushdeploy", "--version"],
        "pushdeploy ENV (loads the commands)": [python, "-m", "pushdeploy", "production"],
    }
    with tempfile.TemporaryDirectory() as empty:  # no deploy.conf: nothing is contacted
        results = {name: median_ms(argv, runs, empty) for name, argv in cases.items()}
    floor = results["python -c pass"]
    print(
        f"median of {runs} runs ({sys.version.split()[0]}); target: --help and --version <= {TARGET_MS} ms"
    )
    for name, ms in results.items():
        verdict = ""
        if name.startswith("pushdeploy --"):
            verdict = "  ok" if ms <= TARGET_MS else "  OVER TARGET"
        print(f"  {name:<38} {ms:7.1f} ms  ({ms - floor:+.1f} ms over python){verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
