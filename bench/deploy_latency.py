"""How much do round trips cost a deploy? pushdeploy against the floor of one plain ``ssh`` command.

Starts its own OpenSSH server on 127.0.0.1 (tests/support/sshd.py) behind a ``DelayProxy`` that
adds a fixed delay each way, and a real origin repository with a small app. For every round-trip
time (default 0 and 100 ms) it runs ``pushdeploy ENV setup`` once, then ``--runs`` times: commit a
change, push it to the origin, time ``pushdeploy -q ENV main``. The floor does the same work in a
single ``ssh host 'git fetch ... && git archive | tar && ln ... && mv ...'`` through the same
proxy: fetch, unpack a release, switch ``current`` atomically. Each result is checked (the new
VERSION must be live), so a fast failure cannot pass for a fast deploy.

Target (from the issue): at 100 ms RTT, pushdeploy's median <= 1.5 x the floor's.

    python bench/deploy_latency.py [--runs 5] [--rtt 0 --rtt 100] [--keep]

A measurement, not a test: it exits 0 whatever the ratio, and 1 only when it could not measure.
Everything runs with a temporary HOME and no ssh-agent; every subprocess has a timeout. When
pushdeploy cannot run at all (say, mid-refactor), it says why and still prints the floor.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.clienthome import ClientHome, write_client_home  # noqa: E402  (ROOT on path)
from tests.support.delayproxy import DelayProxy  # noqa: E402  (needs ROOT on sys.path)
from tests.support.sshd import SSHServer, SSHServerError, find_sshd  # noqa: E402  (ROOT on path)

ENV_NAME = "bench"
TARGET_RATIO = 1.5
APP = {
    "app.py": "import os\n\nprint('hello from', os.environ.get('PUSHDEPLOY_ENV'))\n",
    "README.md": "# bench app\n\nA small app deployed by bench/deploy_latency.py.\n",
    "static/style.css": "body { font-family: sans-serif; }\n" * 20,
    "config/settings.ini": "[app]\nworkers = 2\n",
    "VERSION": "v0\n",
}


class BenchError(RuntimeError):
    """The benchmark could not measure (not: pushdeploy was slow)."""


@dataclass
class Series:
    """The timings of one command at one RTT, or why there are none."""

    samples: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.failure else None


def run(
    argv: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def must(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise BenchError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def clean_env(home: Path) -> dict[str, str]:
    """The developer's environment minus agent, git and pushdeploy settings; HOME in the bench."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SSH_", "GIT_", "PUSHDEPLOY_"))
        # Bytecode is cached, as for an installed pushdeploy (recompiling costs ~50 ms a run).
        and name != "PYTHONDONTWRITEBYTECODE"
    }
    pythonpath = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        NO_COLOR="1",
        PYTHONPATH=os.pathsep.join(pythonpath),
    )
    return env


class Workspace:
    """The bench's HOME, the origin repository and the working clone changes are pushed from."""

    def __init__(self, base: Path, timeout: float) -> None:
        self.base = base
        self.timeout = timeout
        self.home = base / "home"
        self.home.mkdir()
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = Bench\n\temail = bench@pushdeploy.invalid\n"
            '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n',
            encoding="utf-8",
        )
        self.env = clean_env(self.home)
        self.origin = base / "origin.git"
        self.work = base / "work"
        self.commits = 0
        self.git("init", "-q", "--bare", str(self.origin))
        self.git("init", "-q", str(self.work))
        for name, text in APP.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.git("-C", str(self.work), "add", "-A")
        self.git("-C", str(self.work), "commit", "-q", "-m", "first")
        self.git("-C", str(self.work), "remote", "add", "origin", str(self.origin))
        self.git("-C", str(self.work), "push", "-q", "-u", "origin", "main")

    def git(self, *args: str) -> str:
        return must(run(["git", *args], env=self.env, timeout=self.timeout), f"git {args[0]}")

    def new_commit(self, label: str) -> str:
        """Commit and push a new VERSION (plus a touched file); return the VERSION text."""
        self.commits += 1
        version = f"{label}-{self.commits}"
        (self.work / "VERSION").write_text(version + "\n", encoding="utf-8")
        with (self.work / "static/style.css").open("a", encoding="utf-8") as fh:
            fh.write(f"/* {version} */\n")
        self.git("-C", str(self.work), "commit", "-q", "-am", version)
        self.git("-C", str(self.work), "push", "-q", "origin", "main")
        return version


def live_version(path: Path) -> str:
    try:
        return (path / "current" / "VERSION").read_text(encoding="utf-8").strip()
    except OSError as exc:
        return f"<{exc.strerror}>"


def pushdeploy_problem(command: list[str], ws: Workspace) -> str | None:
    """Why ``command`` cannot run pushdeploy here, or None when ``--version`` answers."""
    try:
        result = run([*command, "--version"], env=ws.env, cwd=ws.work, timeout=ws.timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{shlex.join(command)}: {exc}"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"{shlex.join(command)} --version exited {result.returncode}: " + (
            lines[-1] if lines else "no output"
        )
    return None


def bench_pushdeploy(
    command: list[str],
    ws: Workspace,
    home: ClientHome,
    server: SSHServer,
    rtt_ms: float,
    runs: int,
    client: str = "paramiko",
) -> Series:
    path = ws.base / f"deploy-{rtt_ms:g}ms"
    conf = ws.base / f"deploy-{rtt_ms:g}ms.conf"
    conf.write_text(
        f"[{ENV_NAME}]\n"
        f"host = {server.user}@{server.host}:{home.port}\n"
        f"key = {home.key}\n"
        f"repo = {ws.origin}\n"
        f"path = {path}\n"
        "ref = main\n"
        "keep = 3\n"
        f"ssh = {client}\n",
        encoding="utf-8",
    )
    series = Series()
    base = [*command, "-c", str(conf)]
    setup = run([*base, ENV_NAME, "setup"], env=ws.env, cwd=ws.work, timeout=ws.timeout)
    if setup.returncode != 0:
        series.failure = f"setup exited {setup.returncode}: {setup.stderr.strip()[-500:]}"
        return series
    deploy = [*base, "-q", ENV_NAME, "main"]
    return timed_deploys(ws, series, "pushdeploy", rtt_ms, runs, path, lambda _: deploy, ws.work)


def floor_script(path: Path, release: str) -> str:
    q = shlex.quote
    return (
        f"set -e; cd {q(str(path))}; "
        'git -C repo fetch -q origin "+refs/heads/*:refs/heads/*"; '
        "sha=$(git -C repo rev-parse main); "
        f"mkdir -p releases/{q(release)}; "
        f"git -C repo archive $sha | tar -x -C releases/{q(release)}; "
        f"ln -sfn releases/{q(release)} current.tmp; "
        "mv -T current.tmp current"
    )


def bench_floor(
    ws: Workspace, home: ClientHome, server: SSHServer, rtt_ms: float, runs: int
) -> Series:
    path = ws.base / f"floor-{rtt_ms:g}ms"
    (path / "releases").mkdir(parents=True)
    ws.git("clone", "-q", "--mirror", str(ws.origin), str(path / "repo"))  # the setup: not timed
    ssh = [
        "ssh",
        "-F", "/dev/null",
        "-p", str(home.port),
        "-i", str(home.key),
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", f"UserKnownHostsFile={home.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        f"{server.user}@{server.host}",
    ]  # fmt: skip

    def command(number: int) -> list[str]:
        return [*ssh, floor_script(path, time.strftime("%Y%m%d%H%M%S") + f"-{number}")]

    return timed_deploys(ws, Series(), "floor", rtt_ms, runs, path, command, None)


def timed_deploys(
    ws: Workspace,
    series: Series,
    name: str,
    rtt_ms: float,
    runs: int,
    path: Path,
    command: Callable[[int], list[str]],
    cwd: Path | None,
) -> Series:
    """Commit a new VERSION and time ``command(n)`` deploying it, ``runs`` times; check it is live."""
    for number in range(runs):
        version = ws.new_commit(f"{name}-{rtt_ms:g}ms")
        started = time.perf_counter()
        result = run(command(number), env=ws.env, cwd=cwd, timeout=ws.timeout)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            series.failure = f"{name} exited {result.returncode}: {result.stderr.strip()[-500:]}"
            return series
        if live_version(path) != version:
            series.failure = f"{name} said ok but {live_version(path)!r} is live, not {version!r}"
            return series
        series.samples.append(elapsed)
        progress(f"  {name:<10} {rtt_ms:g} ms: {elapsed:.3f}s")
    return series


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def seconds(series: Series) -> str:
    return "n/a" if series.median is None else f"{series.median:.3f} s"


def table(rows: list[tuple[float, Series, Series]], runs: int) -> str:
    lines = [
        f"median of {runs} deploys of a new commit; floor = one ssh command doing the same work",
        f"{'RTT':>8}  {'pushdeploy':>11}  {'floor':>9}  {'ratio':>6}",
    ]
    for rtt_ms, mine, floor in rows:
        ratio = "n/a"
        if mine.median is not None and floor.median is not None:
            ratio = f"{mine.median / floor.median:.2f}"
        lines.append(f"{rtt_ms:>5g} ms  {seconds(mine):>11}  {seconds(floor):>9}  {ratio:>6}")
    lines.append(f"target: at 100 ms RTT, pushdeploy <= {TARGET_RATIO} x the floor")
    for rtt_ms, mine, floor in rows:
        for name, series in (("pushdeploy", mine), ("floor", floor)):
            if series.failure:
                lines.append(f"{rtt_ms:g} ms {name}: {series.failure}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, metavar="N", help="deploys per RTT (5)")
    parser.add_argument(
        "--rtt",
        type=float,
        action="append",
        metavar="MS",
        help="round-trip time in ms (repeatable; default: 0 and 100)",
    )
    parser.add_argument("--timeout", type=float, default=120, metavar="S", help="per command (120)")
    parser.add_argument(
        "--ssh",
        choices=["paramiko", "openssh"],
        default="paramiko",
        help="deploy.conf's ssh: the SSH client pushdeploy uses (paramiko)",
    )
    runner_arguments(parser)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.rtt and min(args.rtt) < 0:
        parser.error("--rtt must be >= 0")
    args.rtt = args.rtt or [0.0, 100.0]
    return args


def measure(args: argparse.Namespace, base: Path) -> list[tuple[float, Series, Series]]:
    ws = Workspace(base, args.timeout)
    command = shlex.split(args.pushdeploy)
    problem = "skipped (--no-pushdeploy)" if args.no_pushdeploy else pushdeploy_problem(command, ws)
    if problem:
        progress(f"pushdeploy not measured: {problem}")
    rows = []
    with SSHServer(base / "sshd") as server:
        for rtt_ms in args.rtt:
            with DelayProxy(server.host, server.port, delay=rtt_ms / 2000) as proxy:
                home = write_client_home(ws.home, server, port=proxy.port)
                progress(f"RTT {rtt_ms:g} ms (proxy {proxy.port} -> sshd {server.port})")
                mine = Series(failure=problem)
                if not problem:
                    mine = bench_pushdeploy(command, ws, home, server, rtt_ms, args.runs, args.ssh)
                floor = bench_floor(ws, home, server, rtt_ms, args.runs)
            rows.append((rtt_ms, mine, floor))
    return rows


def runner_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench here takes: how to run pushdeploy, or not; keep the work dir."""
    parser.add_argument(
        "--pushdeploy",
        default=f"{shlex.quote(sys.executable)} -m pushdeploy",
        metavar="CMD",
        help="how to run pushdeploy (default: this python -m pushdeploy, from this checkout)",
    )
    parser.add_argument("--no-pushdeploy", action="store_true", help="measure the floor only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory; print it")


def bench_main(args: argparse.Namespace, prefix: str, measure: Callable[[Path], str]) -> int:
    """Run ``measure`` in a fresh work directory (removed after, unless --keep) and print the
    table it returns: 0, or 1 when it could not measure (a missing tool, a failed setup)."""
    if find_sshd() is None or shutil.which("ssh") is None or shutil.which("git") is None:
        progress("needs OpenSSH (sshd and ssh) and git installed")
        return 1
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        text = measure(base)
    except (BenchError, SSHServerError, OSError, subprocess.TimeoutExpired) as exc:
        progress(f"could not measure: {exc}")
        return 1
    finally:
        if args.keep:
            progress(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(args, "pushdeploy-bench-", lambda base: table(measure(args, base), args.runs))


if __name__ == "__main__":
    sys.exit(main())
