"""Does a deploy scale to a fleet? pushdeploy to 1, 4, 16 and 64 hosts, next to the floor.

Every host is its own OpenSSH server on 127.0.0.1 (tests/support/sshd.py) with its own host key,
behind its own ``DelayProxy`` (default 100 ms RTT), so each host is a separate host:port and
connection, as in a real fleet. All servers accept one client key; each keeps its deploys under
its own HOME (``path = ~/app``). ``pushdeploy ENV setup`` runs once on every host; then, per
size, ``--runs`` times: commit and push a new VERSION, run ``pushdeploy -q fleetN main`` and
check that every host's ``current`` holds it. Measured per deploy: wall time, client CPU seconds
(user + system of the pushdeploy process, from getrusage), and connections per host (the TCP
connections each host's proxy accepted during the deploy; the largest count is shown).

The floor does the same work with one plain ``ssh host 'git fetch ... && git archive | tar &&
ln ... && mv ...'`` per host, all ``ssh`` processes started together, through the same proxies.

Targets (issue 9): 64 hosts <= 2 x the 1-host time; one connection per host at every size.

    python bench/fleet.py [--sizes 1,4,16,64] [--runs 3] [--rtt 100] [--parallel N] [--keep]

A measurement, not a test: it exits 0 whatever the numbers, and 1 only when it could not
measure. Everything runs with a temporary HOME and no ssh-agent; every subprocess has a timeout,
and every server and proxy is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deploy_latency import (  # noqa: E402  (ROOT on sys.path)
    Workspace,
    bench_main,
    floor_script,
    live_version,
    progress,
    pushdeploy_problem,
    run,
    runner_arguments,
)
from tests.support.delayproxy import DelayProxy  # noqa: E402
from tests.support.sshd import SSHServer, keygen  # noqa: E402

TARGET_SCALE = 2.0  # 64 hosts <= 2 x the 1-host time
APP_DIR, FLOOR_DIR = "app", "floor"  # under each server's HOME


@dataclass
class Host:
    """One server of the fleet and the proxy in front of it."""

    server: SSHServer
    proxy: DelayProxy

    @property
    def spec(self) -> str:
        return f"{self.server.user}@{self.proxy.host}:{self.proxy.port}"

    def live(self, directory: str) -> str:
        return live_version(self.server.server_home / directory)


@dataclass
class Series:
    """One tool's deploys at one size: wall and CPU seconds, connections per host, or why not."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # the most any host accepted, per deploy
    failure: str | None = None

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values and not self.failure else None


class Fleet:
    """``count`` servers behind proxies, one client key, known_hosts for every proxy port."""

    def __init__(
        self, base: Path, ws: Workspace, count: int, rtt_ms: float, stack: contextlib.ExitStack
    ) -> None:
        self.key = ws.home / ".ssh" / "id_ed25519"
        self.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        keygen(self.key, "pushdeploy-bench-client")
        public = self.key.with_name("id_ed25519.pub").read_text(encoding="utf-8")

        def make(number: int) -> SSHServer:  # its keys: ssh-keygen, in parallel
            server = SSHServer(base / f"sshd-{number}")
            server.authorized_keys.write_text(public, encoding="utf-8")
            return server

        with ThreadPoolExecutor(max_workers=8) as pool:
            servers = list(pool.map(make, range(count)))
        self.hosts = []
        for server in servers:  # one at a time: a free port is free until someone binds it
            stack.enter_context(server)  # started, and stopped on the way out
            proxy = DelayProxy(server.host, server.port, delay=rtt_ms / 2000, lifetime=7200)
            self.hosts.append(Host(server, stack.enter_context(proxy)))
        self.known_hosts = ws.home / ".ssh" / "known_hosts"
        self.known_hosts.write_text(
            "".join(h.server.known_hosts_line(h.proxy.port) + "\n" for h in self.hosts),
            encoding="utf-8",
        )

    def accepted(self) -> list[int]:
        return [h.proxy.accepted for h in self.hosts]

    def ssh(self, host: Host, command: str) -> list[str]:
        return [
            "ssh",
            "-F", "/dev/null",
            "-p", str(host.proxy.port),
            "-i", str(self.key),
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            f"{host.server.user}@{host.proxy.host}",
            command,
        ]  # fmt: skip


def write_conf(ws: Workspace, fleet: Fleet, sizes: list[int], parallel: int | None) -> Path:
    """One environment per size (``fleetN``: the first N hosts) and ``all`` for setup."""
    conf = ws.base / "deploy.conf"
    sections = {f"fleet{n}": fleet.hosts[:n] for n in sizes} | {"all": fleet.hosts}
    text = ""
    for name, hosts in sections.items():
        text += (
            f"[{name}]\nhost = {' '.join(h.spec for h in hosts)}\nkey = {fleet.key}\n"
            f"repo = {ws.origin}\npath = ~/{APP_DIR}\nref = main\nkeep = 3\n"
        )
        text += f"parallel = {parallel}\n\n" if parallel else "\n"
    conf.write_text(text, encoding="utf-8")
    return conf


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_one(
    ws: Workspace,
    fleet: Fleet,
    hosts: list[Host],
    series: Series,
    directory: str,
    deploy: Callable[[], str | None],
) -> None:
    """Commit a new VERSION, time ``deploy`` (None, or why it failed), check every host."""
    version = ws.new_commit(f"{directory}-{len(hosts)}")
    before, cpu = fleet.accepted(), child_cpu()
    started = time.perf_counter()
    problem = deploy()
    elapsed = time.perf_counter() - started
    cpu, after = child_cpu() - cpu, fleet.accepted()
    stale = [h.spec for h in hosts if h.live(directory) != version]
    if problem or stale:
        series.failure = problem or f"said ok, but {len(stale)} hosts do not serve {version}"
        return
    series.wall.append(elapsed)
    series.cpu.append(cpu)
    series.connections.append(max(a - b for a, b in zip(after, before, strict=True)))
    progress(f"  {directory:<6} {len(hosts):>3} hosts: {elapsed:.3f}s, cpu {cpu:.2f}s")


def bench_pushdeploy(
    command: list[str],
    ws: Workspace,
    fleet: Fleet,
    conf: Path,
    size: int,
    runs: int,
    series: Series,
) -> None:
    argv = [*command, "-c", str(conf), "-q", f"fleet{size}", "main"]

    def deploy() -> str | None:
        try:
            result = run(argv, env=ws.env, cwd=ws.work, timeout=ws.timeout)
        except subprocess.TimeoutExpired as exc:
            said = exc.stderr or ""
            said = said.decode(errors="replace") if isinstance(said, bytes) else said
            lines = said.strip().splitlines()
            return f"no end within {ws.timeout:g}s (--timeout); it last said: {lines[-1:]}"
        lines = result.stderr.strip().splitlines()
        return (
            f"exited {result.returncode}: {lines[-1] if lines else ''}"
            if result.returncode
            else None
        )

    for _ in range(runs):
        if not series.failure:
            measure_one(ws, fleet, fleet.hosts[:size], series, APP_DIR, deploy)


def bench_floor(ws: Workspace, fleet: Fleet, size: int, runs: int, series: Series) -> None:
    hosts = fleet.hosts[:size]

    def deploy() -> str | None:
        release = time.strftime("%Y%m%d%H%M%S") + f"-{len(series.wall)}"
        # Each server's own HOME (its sessions start in the passwd home, which they share).
        script = floor_script(Path(FLOOR_DIR), release).replace(
            f"cd {FLOOR_DIR};", f'cd "$HOME"/{FLOOR_DIR};'
        )
        procs = [
            subprocess.Popen(
                fleet.ssh(h, script), env=ws.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for h in hosts
        ]  # fmt: skip
        failed = []
        deadline = time.monotonic() + ws.timeout
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode:
                failed.append(f"ssh exited {proc.returncode}: {err.strip()[-200:]}")
        return f"{len(failed)} hosts failed, e.g. {failed[0]}" if failed else None

    for _ in range(runs):
        if not series.failure:
            measure_one(ws, fleet, hosts, series, FLOOR_DIR, deploy)


def set_up(command: list[str] | None, ws: Workspace, fleet: Fleet, conf: Path) -> str | None:
    """The floor's mirrors (made locally, not timed) and ``pushdeploy all setup``."""
    for host in fleet.hosts:
        floor = host.server.server_home / FLOOR_DIR
        (floor / "releases").mkdir(parents=True)
        ws.git("clone", "-q", "--mirror", str(ws.origin), str(floor / "repo"))
    if command is None:
        return None
    result = run(
        [*command, "-c", str(conf), "-q", "all", "setup"],
        env=ws.env,
        cwd=ws.work,
        timeout=ws.timeout,
    )
    return (
        None
        if result.returncode == 0
        else f"setup exited {result.returncode}: {result.stderr.strip()[-300:]}"
    )


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(rows: list[tuple[int, Series, Series]], args: argparse.Namespace) -> str:
    lines = [
        f"median of {args.runs} deploys of a new commit at {args.rtt:g} ms RTT;"
        " floor = one plain ssh per host, all at once",
        f"{'hosts':>5}  {'pushdeploy':>10}  {'cpu':>6}  {'conn/host':>9}  {'floor':>7}  {'cpu':>6}"
        f"  {'conn/host':>9}  {'ratio':>5}",
    ]
    for size, mine, floor in rows:
        wall, floor_wall = mine.median(mine.wall), floor.median(floor.wall)
        ratio = f"{wall / floor_wall:.2f}" if wall and floor_wall else "n/a"
        lines.append(
            f"{size:>5}  {seconds(wall):>10}  {seconds(mine.median(mine.cpu)):>6}"
            f"  {max(mine.connections, default=0):>9}  {seconds(floor_wall):>7}"
            f"  {seconds(floor.median(floor.cpu)):>6}  {max(floor.connections, default=0):>9}"
            f"  {ratio:>5}"
        )
    small, large = rows[0], rows[-1]
    for name, first, last in (("pushdeploy", small[1], large[1]), ("floor", small[2], large[2])):
        low, high = first.median(first.wall), last.median(last.wall)
        if low and high and large[0] != small[0]:
            lines.append(f"{name}: {large[0]} hosts / {small[0]} = {high / low:.2f} x the time")
    lines.append(
        f"targets: {max(args.sizes)} hosts <= {TARGET_SCALE:g} x the 1-host time;"
        " 1 connection per host at every size"
    )
    for size, mine, floor in rows:
        for name, series in (("pushdeploy", mine), ("floor", floor)):
            if series.failure:
                lines.append(f"{size} hosts, {name}: {series.failure}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--sizes", default="1,4,16,64", metavar="N,N", help="fleet sizes (1,4,16,64)"
    )
    parser.add_argument("--runs", type=int, default=3, metavar="N", help="deploys per size (3)")
    parser.add_argument(
        "--rtt", type=float, default=100.0, metavar="MS", help="round-trip time (100)"
    )
    parser.add_argument(
        "--parallel", type=int, metavar="N", help="deploy.conf 'parallel' (default: unset)"
    )
    parser.add_argument("--timeout", type=float, default=300, metavar="S", help="per command (300)")
    runner_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(n) for n in args.sizes.split(",") if n.strip()})
    except ValueError:
        parser.error("--sizes: a comma-separated list of host counts")
    if not args.sizes or args.sizes[0] < 1 or args.runs < 1 or args.rtt < 0:
        parser.error("--sizes and --runs must be at least 1, --rtt at least 0")
    return args


def measure(args: argparse.Namespace, base: Path) -> list[tuple[int, Series, Series]]:
    ws = Workspace(base, args.timeout)
    command = shlex.split(args.pushdeploy)
    problem = "skipped (--no-pushdeploy)" if args.no_pushdeploy else pushdeploy_problem(command, ws)
    if problem:
        progress(f"pushdeploy not measured: {problem}")
    with contextlib.ExitStack() as stack:
        progress(f"starting {max(args.sizes)} sshds behind {args.rtt:g} ms proxies")
        fleet = Fleet(base, ws, max(args.sizes), args.rtt, stack)
        conf = write_conf(ws, fleet, args.sizes, args.parallel)
        problem = set_up(None if problem else command, ws, fleet, conf) or problem
        rows = []
        for size in args.sizes:
            mine, floor = Series(failure=problem), Series()
            for _ in range(args.runs):  # alternate, so drift of the machine hits both alike
                if not problem:
                    bench_pushdeploy(command, ws, fleet, conf, size, 1, mine)
                bench_floor(ws, fleet, size, 1, floor)
            rows.append((size, mine, floor))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(args, "pushdeploy-fleet-", lambda base: table(measure(args, base), args))


if __name__ == "__main__":
    sys.exit(main())
