"""How long does deploy.conf take to parse when one value is 1 MB? Seconds of CPU per key kind.

A hostile or careless deploy.conf must stay cheap to read (the issue: "a 1 MB value in
deploy.conf is parsed in well under a second"). For each kind of value below this writes a
deploy.conf whose ``[app]`` section holds it, runs ``config.load`` on it (best of ``--runs``) and
prints the CPU seconds and whether it loaded or was refused with a config error (both are fine:
what matters is the time). Anything else escaping is a bug and is printed as such.

    python bench/config_parse.py [--size 1000000] [--runs 3]

A measurement, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pushdeploy.config import deployconf as config  # noqa: E402  (ROOT on sys.path)
from pushdeploy.errors import ConfigError  # noqa: E402  (ROOT on sys.path)

BASE = {"host": "local", "repo": "/srv/git/app.git", "path": "/srv/app"}

# kind -> (key, value of about `size` characters)
KINDS: dict[str, Callable[[int], tuple[str, str]]] = {
    "env: one value": lambda n: ("env", "A=" + "x" * n),
    "env: one quoted value": lambda n: ("env", "A='" + "x y " * (n // 4) + "'"),
    "env: many pairs": lambda n: ("env", " ".join(f"N{i}=v" for i in range(n // 8))),
    "build: one line": lambda n: ("build", "echo " + "x" * n),
    "build: many lines": lambda n: ("build", "\n    ".join(["make all"] * (n // 13))),
    "host: one name": lambda n: ("host", "h" * n),
    "host: many names": lambda n: ("host", " ".join(f"h{i}" for i in range(n // 8))),
    "user": lambda n: ("user", "u" * n),
    "ref": lambda n: ("ref", "r" * n),
    "path": lambda n: ("path", "/" + "p" * n),
    "shared: many entries": lambda n: ("shared", "d/ " * (n // 3)),
    "restart-file": lambda n: ("restart-file", "t/" * (n // 2) + "x"),
    "keep: digits": lambda n: ("keep", "9" * n),
    "listen: many": lambda n: ("listen", "127.0.0.1:1 " * (n // 12)),
}


def conf_text(key: str, value: str) -> str:
    keys = {**BASE, key: value}
    return "[app]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())


def measure(path: Path, runs: int) -> tuple[float, str]:
    best, outcome = float("inf"), ""
    for _ in range(runs):
        start = time.process_time()
        try:
            config.load(path, "app")
            outcome = "loaded"
        except ConfigError:
            outcome = "config error"
        except Exception as exc:  # a bug: report it, keep measuring the others
            outcome = f"BUG {type(exc).__name__}"
        best = min(best, time.process_time() - start)
    return best, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="characters per value")
    parser.add_argument("--runs", type=int, default=3, help="runs per kind (best is shown)")
    args = parser.parse_args()
    print(f"config.load with one {args.size:,}-character value, CPU seconds (best of {args.runs})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deploy.conf"
        for kind, make in KINDS.items():
            path.write_text(conf_text(*make(args.size)), encoding="utf-8")
            seconds, outcome = measure(path, args.runs)
            print(f"  {kind:<24} {seconds:8.3f} s  {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
