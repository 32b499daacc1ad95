"""The randomized fault soak, a long run by hand: operations, faults by kind, violations.

    python bench/soak.py [--seed N] [--operations 2000] [--minutes M] [--faults a,b] [--keep DIR]

Runs tests/support/soak.py's scene (two OpenSSH servers on 127.0.0.1 behind fault proxies, five
environments, a local one among them) for ``--operations`` operations or ``--minutes``, whichever
ends first, printing one line per operation with a violation as it happens and the report at the
end. The seed makes it replayable: the same seed draws the same operations and faults. Exits 0
with no violation, 1 with any, 2 when the scene could not be built.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import soak  # noqa: E402  (ROOT on sys.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--faults", default=",".join(soak.FAULTS), help="kinds to draw from")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per operation")
    parser.add_argument("--keep", type=Path, default=None, help="build the scene here, keep it")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.faults.split(",") if k)
    unknown = set(kinds) - set(soak.FAULTS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    until = time.monotonic() + args.minutes * 60 if args.minutes else None
    print(f"soak: seed {args.seed}, up to {args.operations} operations", flush=True)

    def progress(op: soak.Operation) -> None:
        if op.violations:
            print(f"VIOLATION {op.line()}", flush=True)
            for violation in op.violations:
                print(f"    {violation}", flush=True)
        elif args.verbose:
            print(
                f"{op.line()} ({op.seconds:.1f} s, settled in {op.settled:.1f} s)"
                f"{' missed ' + op.missed if op.missed else ''}",
                flush=True,
            )
        elif op.number % 50 == 0:
            print(f"... {op.number} operations", flush=True)

    scene = soak.scene(args.seed, kinds, args.keep)
    try:
        built = scene.__enter__()
    except (OSError, RuntimeError) as exc:
        print(f"soak: cannot build the scene: {exc}", file=sys.stderr)
        return 2
    try:  # an error from here on is the soak's own: its traceback shows where
        report = built.run(args.operations, until, progress)
    finally:
        scene.__exit__(None, None, None)
    print(report.text())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
