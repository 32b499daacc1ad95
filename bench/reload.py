"""Zero-downtime reload benchmark: steady HTTP load while the restart file is touched repeatedly.

For each scenario (pushdeploy's monitor vs a naive restart of the same app, keep-alive on and
off) it sends a fixed-rate, bounded load (default 300 req/s for 30 s) to examples/app on
127.0.0.1 and triggers ``--touches`` restarts evenly spread over the run, then prints requests
sent and failed, and p50/p99 latency overall, inside reload windows and outside them.

* monitor: ``python3 -m pushdeploy.monitor run`` with 2 workers; a restart flips ``current``
  between two releases and touches ``tmp/restart.txt``. A reload window runs from the touch until
  the status file shows the reload finished and the old generation has exited.
* naive: the app alone on the port; a restart is SIGTERM, wait for exit, start again. Its window
  runs from the kill until the new process accepts a connection.

Client honesty: the load comes from ``bench/loadgen.py``, one thread in a process of its own
(not sharing a GIL with this script's restart driver, which polls the monitor's status). It is
open-loop: requests are scheduled at fixed times and latency counts from the scheduled time, so a
stall shows up instead of being hidden; nothing is retried, and a failure is any socket error or
non-200 answer. With keep-alive it keeps a pool of up to 32 connections, like a real client:
when the server answers ``Connection: close`` the next request opens a new connection (not a
retry: nothing was sent on the closed one); if the server closes an idle connection just as a
request goes out, the request fails and counts as failed. The report shows the client's own p99
send lag, so a slow client cannot pass for a slow server.

Standard library only; every run is bounded in time. ``--quick``: 100 req/s, 8 s, 3 touches.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import Outcome  # the script's own directory, bench/, is on sys.path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "app"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LOADGEN = ROOT / "bench" / "loadgen.py"
CLIENT_CONNECTIONS = 32
TARGET_RATIO = 2.0
REQUEST_TIMEOUT = 5.0


@dataclass
class Run:
    results: list[Outcome] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    reload_failures: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if check():
                return True
        time.sleep(0.01)
    return False


# -- load --------------------------------------------------------------------------------------


def load(port: int, rate: float, duration: float, keepalive: bool, run: Run) -> None:
    """Run bench/loadgen.py for ``rate * duration`` requests; record each one's outcome."""
    argv = [sys.executable, str(LOADGEN), str(port), f"--rate={rate}", f"--duration={duration}"]
    argv += [f"--pool={CLIENT_CONNECTIONS}"] + (["--keepalive"] if keepalive else [])
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + REQUEST_TIMEOUT * 4, check=True
    )
    run.results += [Outcome.parse(line) for line in done.stdout.splitlines()]


# -- the two ways to restart -------------------------------------------------------------------


def make_site(root: Path, port: int, confine: bool = True) -> Path:
    for version in ("A", "B"):
        release = root / "releases" / version
        shutil.copytree(EXAMPLE, release, ignore=shutil.ignore_patterns("__pycache__"))
        (release / "VERSION").write_text(version + "\n")
        (release / "tmp").mkdir()
    (root / "shared" / "logs").mkdir(parents=True)
    (root / ".pushdeploy").mkdir()
    (root / "current").symlink_to("releases/A")
    config = root / ".pushdeploy" / "monitor.json"
    config.write_text(
        json.dumps(
            {
                "app": f"{sys.executable} app.py",
                "listen": [f"127.0.0.1:{port}"],
                "workers": 2,
                "grace": 10,
                "ready": {"http": "/health", "timeout": 10},
                "confine_reloads": confine,
            }
        )
    )
    return config


def read_status(root: Path) -> dict[str, Any]:
    with open(root / ".pushdeploy" / "monitor" / "monitor.json") as f:
        return dict(json.load(f))


class MonitorTarget:
    """The app under pushdeploy's monitor; ``restart`` is a TJ-style switch + touch."""

    name = "monitor"

    def __init__(self, root: Path, port: int, confine: bool = True) -> None:
        self.root = root
        self.config = make_site(root, port, confine)
        self.flip = "B"
        self.log = open(root / "shared" / "logs" / "monitor.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pushdeploy.monitor", "run", "--config", str(self.config)],
            env=ENV,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        if not wait_until(lambda: read_status(root)["state"] == "running", 20):
            self.stop()
            raise SystemExit("monitor did not start; see " + str(self.log.name))

    def restart(self) -> tuple[float, float, bool]:
        seq = read_status(self.root)["reload"]["seq"]
        tmp = self.root / "current.tmp"
        tmp.symlink_to(f"releases/{self.flip}")
        os.replace(tmp, self.root / "current")
        self.flip = "A" if self.flip == "B" else "B"
        begin = time.monotonic()
        (self.root / "current" / "tmp" / "restart.txt").touch()

        def done() -> bool:
            s = read_status(self.root)
            return (
                s["reload"]["seq"] > seq
                and s["reload"]["result"] != "pending"
                and not s["retiring"]
            )

        wait_until(done, 30)
        ok = read_status(self.root)["reload"]["result"] == "ok"
        return begin, time.monotonic(), ok

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class NaiveTarget:
    """The app alone on the port; ``restart`` kills it and starts it again."""

    name = "naive restart"

    def __init__(self, root: Path, port: int, confine: bool = True) -> None:
        make_site(root, port)
        self.release = root / "releases" / "A"
        self.port = port
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=self.release,
            env={**ENV, "PORT": str(self.port)},
            start_new_session=True,
        )
        if not wait_until(self._accepts, 20):
            raise SystemExit("the app did not start")
        return process

    def _accepts(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def restart(self) -> tuple[float, float, bool]:
        begin = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        self.process = self._start()
        return begin, time.monotonic(), True

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


Target = type[MonitorTarget] | type[NaiveTarget]


# -- one scenario ------------------------------------------------------------------------------


def scenario(
    kind: Target, keepalive: bool, rate: float, duration: float, touches: int, confine: bool
) -> Run:
    run = Run()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pushdeploy-bench-") as tmp:
        target = kind(Path(tmp), port, confine)
        try:
            loader = threading.Thread(target=load, args=(port, rate, duration, keepalive, run))
            start = time.monotonic()
            loader.start()
            for i in range(touches):
                when = start + duration * (i + 0.5) / touches
                time.sleep(max(0.0, when - time.monotonic()))
                begin, end, ok = target.restart()
                run.windows.append((begin, end))
                run.reload_failures += not ok
            loader.join(timeout=duration + REQUEST_TIMEOUT * 4)
        finally:
            target.stop()
    return run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def split(run: Run) -> tuple[list[float], list[float]]:
    """Latencies (ms) of the answered requests sent inside reload windows, and of the others."""
    inside: list[float] = []
    steady: list[float] = []
    for r in run.results:
        if r.ok:
            within = any(a <= r.scheduled <= b for a, b in run.windows)
            (inside if within else steady).append(r.latency * 1000)
    return inside, steady


def window_ratio(run: Run) -> float:
    """p99 inside reload windows / steady p99: the benchmark's target is <= TARGET_RATIO."""
    win, steady = split(run)
    return percentile(win, 99) / percentile(steady, 99) if steady and win else float("nan")


def report(name: str, keepalive: bool, run: Run) -> str:
    lat = [r.latency * 1000 for r in run.results if r.ok]
    win, steady = split(run)
    failed = [r for r in run.results if not r.ok]
    errors: dict[str, int] = {}
    for r in failed:
        errors[r.error] = errors.get(r.error, 0) + 1
    sent = len(run.results)
    ratio = window_ratio(run)
    mean_window = sum(b - a for a, b in run.windows) / max(1, len(run.windows))
    lag = percentile([r.lag * 1000 for r in run.results], 99)
    return (
        f"{name:<14} {'on' if keepalive else 'off':<5} {sent:>6} {len(failed):>6} "
        f"{100 * len(failed) / max(1, sent):>6.2f}% {percentile(lat, 50):>7.1f} "
        f"{percentile(lat, 99):>7.1f} {percentile(steady, 99):>7.1f} {percentile(win, 50):>7.1f} "
        f"{percentile(win, 99):>7.1f} {ratio:>6.2f} {len(run.windows):>3}/{run.reload_failures:<2}"
        f" {mean_window * 1000:>6.0f} {lag:>6.2f}  {', '.join(f'{k}={v}' for k, v in errors.items())}"
    )


def detail(run: Run) -> str:
    """Per window: its length, and the requests slower than 2x steady p99 or failed.

    Each as ``+offset:latency`` in ms from the window's start, ``n`` if it opened a connection.
    """
    limit = TARGET_RATIO * percentile(split(run)[1], 99) / 1000  # in seconds, as r.latency
    lines = []
    for a, b in run.windows:
        slow = [
            f"+{(r.scheduled - a) * 1000:.0f}:{r.latency * 1000:.1f}{'n' if r.new else ''}"
            for r in sorted(run.results, key=lambda r: r.scheduled)
            if a <= r.scheduled <= b and (not r.ok or r.latency > limit)
        ]
        lines.append(
            f"    window {(b - a) * 1000:5.0f} ms  slow (offset:latency ms) {' '.join(slow)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 req/s for 8 s with 3 touches")
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--touches", type=int, default=10)
    p.add_argument("--only", choices=["monitor", "naive"], help="run one target only")
    p.add_argument(
        "--no-confine",
        action="store_true",
        help='run the monitor with "confine_reloads": false, to see what the confinement buys',
    )
    p.add_argument(
        "--detail", action="store_true", help="per window: when the slow requests were sent"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rate, args.duration, args.touches = 100.0, 8.0, 3
    targets: list[Target] = [MonitorTarget, NaiveTarget]
    if args.only:
        targets = [MonitorTarget if args.only == "monitor" else NaiveTarget]
    print(f"{args.rate:g} req/s for {args.duration:g} s, {args.touches} restarts, "
          f"up to {CLIENT_CONNECTIONS} connections; latencies in ms")  # fmt: skip
    print(
        f"{'target':<14} {'k-a':<5} {'sent':>6} {'failed':>6} {'fail%':>7} {'p50':>7} {'p99':>7} "
        f"{'p99 st':>7} {'p50 win':>7} {'p99 win':>7} {'win/st':>6} {'rl/fail':>6} {'win ms':>6}"
        f" {'lag99':>6}  errors"
    )
    misses: list[str] = []
    for kind in targets:
        for keepalive in (True, False):
            run = scenario(
                kind, keepalive, args.rate, args.duration, args.touches, not args.no_confine
            )
            print(report(kind.name, keepalive, run), flush=True)
            if args.detail:
                print(detail(run), flush=True)
            if kind is MonitorTarget:
                failed = sum(not r.ok for r in run.results)
                ratio = window_ratio(run)
                if failed or not ratio <= TARGET_RATIO:
                    misses.append(f"keep-alive {'on' if keepalive else 'off'}: "
                                  f"{failed} failed, {ratio:.2f}x")  # fmt: skip
    if MonitorTarget in targets:
        verdict = "NOT met (" + "; ".join(misses) + ")" if misses else "met"
        print(f"target (monitor): 0 failed, window p99 <= {TARGET_RATIO:g} x steady p99: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
