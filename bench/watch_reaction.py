"""How long from ``git push`` to the new release live, with ``pushdeploy ENV watch``?

Sets up a bare origin, a working clone that pushes to it and an app deployed with ``host =
local`` (pull mode: the watcher deploys the machine it runs on), then starts the watcher as a
real process and, ``--runs`` times per mode, commits a new VERSION, starts the clock, pushes,
and stops the clock when ``current/VERSION`` says the new version (polled every 5 ms):

* polling with ``interval = 1``: the push lands at a random point of the interval, so the look
  that sees it comes 0 to 1.1 s after it (jitter), then the deploy;
* a webhook with ``interval = 60`` (polling cannot explain it): a GitHub-signed push POSTed
  to ``watch --listen`` right after the push returns;
* polling with the default ``interval = 30``, estimated, not waited for: the median
  look-and-deploy time of the webhook runs plus the wait for the next look, 15 s on average
  (a push lands anywhere in the interval) and at most 33 s (30 s + 10 % jitter).

    python bench/watch_reaction.py [--runs 5] [--keep]

Measured (2 CPUs, git 2.39, host = local, median of 5; a run takes ~10 s):

    mode                              median    min      max
    polling, interval = 1             0.71 s    0.49 s   0.98 s
    webhook, interval = 60            0.12 s    0.11 s   0.13 s
    polling, interval = 30 (est.)     15.1 s on average, 33.1 s at most

A deploy to this machine takes ~0.1 s of that; the rest is the wait for the next look, which a
webhook removes (the listener wakes the watcher, which looks with ``git ls-remote`` at once).

A measurement, not a test: it exits 0 whatever it measures, and 1 only when it could not.
Everything runs with a temporary HOME; every subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import random
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deploy_latency import (  # noqa: E402  (ROOT on sys.path)
    BenchError,
    Workspace,
    bench_main,
    live_version,
    progress,
    runner_arguments,
)

SECRET = "bench-webhook-secret"
RANDOM = random.Random(11)  # where in the interval each polled push lands, the same every run
DEFAULT_INTERVAL = 30  # deploy.conf's default (keys: interval), estimated rather than waited for


class Watcher:
    """``pushdeploy -c CONF bench watch ARGS`` in the background, its output kept line by line.

    Lifecycle: started at once; ``stop`` sends SIGTERM, waits, and kills it if it must."""

    def __init__(self, command: list[str], conf: Path, ws: Workspace, *args: str) -> None:
        argv = [*command, "-c", str(conf), "bench", "watch", *args]
        self.proc = subprocess.Popen(
            argv,
            cwd=ws.base,
            env=ws.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, count: int, timeout: float) -> str:
        """The first line holding ``text`` once ``count`` lines hold it; BenchError otherwise."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in list(self.lines)) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                tail = "\n".join(self.lines[-20:])
                raise BenchError(f"the watcher never said {text!r} x{count}:\n{tail}")
            time.sleep(0.005)
        return next(line for line in self.lines if text in line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(5)


def write_conf(ws: Workspace, path: Path, interval: int) -> Path:
    conf = ws.base / f"watch-{interval}.conf"
    conf.write_text(
        "[bench]\nhost = local\n"
        f"repo = {ws.origin}\npath = {path}\nref = main\nkeep = 3\n"
        f"interval = {interval}\nwebhook-secret = $WATCH_SECRET\n",
        encoding="utf-8",
    )
    return conf


def push_hook(port: int, delivery: str) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        status = connection.getresponse().status
    finally:
        connection.close()
    if status != 202:
        raise BenchError(f"the webhook was answered {status}, not 202")


def reaction(
    ws: Workspace, watcher: Watcher, path: Path, label: str, interval: int, port: int = 0
) -> float:
    """Commit, push (and POST the webhook) and time until the new VERSION is live. A polled push
    lands at a random point of the interval (right after a deploy, it would always wait it all)."""
    ws.commits += 1
    version = f"{label}-{ws.commits}"
    (ws.work / "VERSION").write_text(version + "\n", encoding="utf-8")
    ws.git("-C", str(ws.work), "commit", "-q", "-am", version)
    idle = sum("watch: next look in" in line for line in watcher.lines)
    if not port:
        time.sleep(RANDOM.uniform(0, interval))
    started = time.perf_counter()
    ws.git("-C", str(ws.work), "push", "-q", "origin", "main")
    if port:
        push_hook(port, f"bench-{ws.commits}")
    deadline = time.monotonic() + ws.timeout
    while live_version(path) != version:
        if time.monotonic() > deadline:
            raise BenchError(f"{version} was not live after {ws.timeout:g} s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    watcher.wait_for("watch: next look in", idle + 1, ws.timeout)  # idle again: the next run
    progress(f"  {label:<8} {elapsed:.3f}s")
    return elapsed


def series(ws: Workspace, command: list[str], interval: int, runs: int, hook: bool) -> list[float]:
    label = "webhook" if hook else f"poll {interval}s"
    path = ws.base / f"deploy-{interval}"
    conf = write_conf(ws, path, interval)
    setup = subprocess.run(
        [*command, "-c", str(conf), "bench", "setup"],
        cwd=ws.base,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=ws.timeout,
        check=False,
    )
    if setup.returncode != 0:
        raise BenchError(f"setup exited {setup.returncode}: {setup.stderr.strip()[-500:]}")
    watcher = Watcher(command, conf, ws, *(["--listen", "127.0.0.1:0"] if hook else []))
    try:
        port = 0
        if hook:
            said = watcher.wait_for("watch: webhooks on", 1, ws.timeout)
            port = int(re.findall(r":(\d+)/", said)[-1])
        watcher.wait_for("watch: next look in", 1, ws.timeout)  # the first look's deploy
        return [reaction(ws, watcher, path, label, interval, port) for _ in range(runs)]
    finally:
        watcher.stop()


def table(polled: list[float], hooked: list[float], runs: int) -> str:
    def row(name: str, samples: list[float]) -> str:
        median = statistics.median(samples)
        return f"{name:<34}{median:>6.2f} s  {min(samples):>6.2f} s  {max(samples):>6.2f} s"

    work = statistics.median(hooked)  # a look and a deploy, no wait for the look
    mean, worst = work + DEFAULT_INTERVAL / 2, work + DEFAULT_INTERVAL * 1.1
    return "\n".join(
        [
            f"git push -> new release live, host = local, median of {runs}",
            f"{'mode':<34}{'median':>8}  {'min':>8}  {'max':>8}",
            row("polling, interval = 1", polled),
            row("webhook, interval = 60", hooked),
            f"{f'polling, interval = {DEFAULT_INTERVAL} (est.)':<34}"
            f"{mean:.1f} s on average, {worst:.1f} s at most",
        ]
    )


def measure(args: argparse.Namespace, base: Path) -> str:
    if args.no_pushdeploy:
        raise BenchError("there is nothing to measure without pushdeploy (--no-pushdeploy)")
    ws = Workspace(base, args.timeout)
    ws.env["WATCH_SECRET"] = SECRET  # webhook-secret = $WATCH_SECRET, for every command
    command = shlex.split(args.pushdeploy)
    progress("polling, interval = 1")
    polled = series(ws, command, 1, args.runs, hook=False)
    progress("webhook, interval = 60")
    hooked = series(ws, command, 60, args.runs, hook=True)
    return table(polled, hooked, args.runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, metavar="N", help="pushes per mode (5)")
    parser.add_argument("--timeout", type=float, default=60, metavar="S", help="per step (60)")
    runner_arguments(parser)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return bench_main(args, "pushdeploy-watch-", lambda base: measure(args, base))


if __name__ == "__main__":
    sys.exit(main())
