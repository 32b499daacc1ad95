"""How fast does an artifact travel, and what does each release of it take on disk?

Two parts, on one OpenSSH server of its own on 127.0.0.1 (tests/support/sshd.py); ``--only``
runs one. MB = 10^6 bytes here.

The upload. A ``DelayProxy`` in front of sshd adds a fixed delay each way (default 100 ms RTT);
a file of random (incompressible) bytes (default 50 MB) is uploaded ``--rounds`` times with each
tool, rounds interleaved (scp, scp -O, pushdeploy, scp, ...): ``scp`` (OpenSSH >= 9 speaks SFTP),
``scp -O`` (the old scp protocol: one exec channel, as ours) and pushdeploy's ``Transport.send``
on a new connection, run in a child Python so that it does not share this process (and the
proxy's threads) with its interpreter lock. Every copy is checked (its SHA-256) and removed.
Timed: scp's whole run (connect, log in, copy); for pushdeploy connect + send (not Python's
start-up), and send alone (a deploy sends on the connection it already has open). The ratio is
pushdeploy's connect + send against the faster scp: like for like, each opens one connection.

The disk. A project whose build is ``--size`` MB of random bytes in ``--files`` files (log-normal
sizes, a few large and many small, the same every run), 200 small text files and VERSION, packed
as dist/app-v1.tar.gz; v2 rewrites one file in 20, and VERSION. pushdeploy deploys it for real
(``artifact = dist/app-{ref}.tar.gz``: uploaded beside the deploy script, unpacked on the server
by unpack.py, linked to the live one by twins.py), straight to sshd (0 ms), ``--rounds`` times,
each in a new deploy root: setup, v1, v2, then v2 with ``--force`` (v3). Per release: its files
and those that are hard links to an earlier release's; apparent (the bytes of its files); on
disk (st_blocks x 512 of the inodes first seen in that release: a linked file counts once, in
the release that first had it; ``du -s -B1 v1 v2 v3`` counts the same way, and the bench fails
unless it agrees); no links (the blocks of all its inodes: the release with every file stored
again); saved = 1 - on disk / no links; and the deploy's time (``pushdeploy -q``, whole run).

Targets (issue 10): at 100 ms RTT, pushdeploy >= 80 % of scp's throughput; files unchanged since
the live release are hard-linked, not stored again, and the bench reports disk used per release.

    python bench/artifact.py [--size 50] [--files 300] [--rounds 3] [--rtt 100]
                             [--only upload|disk] [--keep]

Measured (2 CPUs, ext4, OpenSSH 9.2p1, Paramiko 5.1.0; ``python bench/artifact.py``, its
defaults: 50 MB, 3 rounds, medians; a run takes ~55 s; the 0 ms row with ``--only upload
--rtt 0``). Two runs gave the same numbers within 0.1 MB/s and 0.01 of the ratio:

    RTT     scp   scp -O   pushdeploy connect + send (send alone)   ratio
    100 ms  11.3  13.0     15.6 (17.9) MB/s                         1.20
      0 ms  85.3  87.4     100.2 (114.1) MB/s                       1.15

    release          files linked  apparent  on disk  no links  saved  deploy
    v1                 503      0  50.25 MB 51.55 MB  51.55 MB   0.0%   1.16s
    v2                 503    475  50.25 MB  1.62 MB  51.55 MB  96.9%   1.49s
    v3 = v2 --force    503    501  50.25 MB  0.09 MB  51.55 MB  99.8%   1.48s
    all three         1509    976 150.75 MB 53.26 MB 154.64 MB  65.6%

v2 changes 26 of 501 files (1.5 MB): it takes 1.62 MB, what it changed plus its directories,
REVISION and tmp/restart.txt (written by every deploy, never linked); v3 only those (0.09 MB).
The block counts are the same every round (only the deploy times vary): the app's sizes are
fixed. Linking costs up to ~0.3 s a deploy here (v1 1.16-1.36 s, v2 1.49-1.52 s, v3 1.28-1.48 s
over the two runs): each file is written, then compared byte for byte with its twin in the live
release before it is swapped for a link (by unpack.py when measured; by twins.py since, once the
whole release is written), so that release is read too.

Why the upload's numbers: an upload is bounded by the REMOTE side's channel window. sshd opens a
session's window only once its command runs, at 2 MiB, and tops it up as its command consumes
the input, so at most 2 MiB is in flight per round trip: 20.97 MB/s at 100 ms, for scp and for
us alike. 50 MB at that ceiling, plus the channel's three round trips (open, exec, the exit),
takes 2.68 s; our send alone takes 2.81 s. scp meets the same ceiling, plus its own set-up
(SFTP's, or the scp protocol's). What was tried:

* our channel's ``window_size``/``max_packet_size`` and the Transport's defaults: these size
  what the server may send US; an upload does not move (17.9 vs 18.1 MB/s). Not kept.
* read size, 1 MiB vs 64 KiB blocks: every ``channel.send`` (``sendall`` is a loop of them)
  sends one packet of at most sshd's 32 KiB anyway; no change at 100 ms, 4 % at 0 ms. 1 MiB kept.
* ciphers: aes128-gcm@openssh.com instead of Paramiko's first choice, aes128-ctr with
  hmac-sha2-256: 387 vs 286 MB/s with no delay (CPU-bound, straight to sshd), none at 100 ms.
  A preference set in login.py's FastTransport (before the key exchange), if wanted.
* Paramiko handles WINDOW_ADJUST in its transport thread as it comes: the send alone is within
  5 % of the ceiling's time, so little is lost waiting for it.
* the DelayProxy: it reads as fast as it can and holds every chunk ``delay`` seconds (no TCP
  window of its own), and passes > 110 MB/s with no delay: it caps neither tool at 100 ms.

A measurement, not a test: it exits 0 whatever the ratio, and 1 only when it could not measure.
Everything runs with a temporary HOME and no ssh-agent; every subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shlex
import shutil
import stat
import statistics
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deploy_latency import (  # noqa: E402  (ROOT on sys.path)
    BenchError,
    bench_main,
    clean_env,
    must,
    progress,
    run,
    runner_arguments,
)
from tests.support.clienthome import ClientHome, write_client_home  # noqa: E402
from tests.support.delayproxy import DelayProxy  # noqa: E402
from tests.support.sshd import SSHServer  # noqa: E402

TARGET_RATIO = 0.80
MB = 10**6
WINDOW = 2 * 1024 * 1024  # sshd's session channel window (OpenSSH's CHAN_SES_WINDOW_DEFAULT)

# Run by the child Python: connect as a deploy does, send the file, say how long each part took.
CHILD = """
import json, shlex, sys, time
from pathlib import Path
from pushdeploy.config import deployconf as config
from pushdeploy.transport import open_transport, ssh  # ssh: Paramiko loaded before the clock
conf, source, dest = sys.argv[1:4]
env = config.load(Path(conf), "bench")
size = Path(source).stat().st_size
started = time.perf_counter()
transport = open_transport(env, env.hosts[0], lambda text: None, env.ssh.host_key)
connected = time.perf_counter()
with open(source, "rb") as fh:
    sent = transport.send(f"exec head -c {size} >{shlex.quote(dest)}", fh, size)
done = time.perf_counter()
transport.close()
print(json.dumps({"connect": connected - started, "send": done - connected,
                  "status": sent.status, "stderr": sent.stderr[-500:], "sent": sent.sent}))
"""


@dataclass
class Series:
    """One tool's timings (seconds per upload), or why there are none."""

    name: str
    samples: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.failure else None


class Bench:
    """The file, the server behind its proxy, and a way to upload with each tool."""

    def __init__(self, args: argparse.Namespace, base: Path, server: SSHServer, port: int) -> None:
        self.args, self.base, self.server = args, base, server
        self.home_dir = base / "home"
        self.home_dir.mkdir(exist_ok=True)
        self.env = clean_env(self.home_dir)
        self.home: ClientHome = write_client_home(self.home_dir, server, port=port)
        self.source = base / "artifact.bin"
        self.size = int(args.size * MB)
        digest = hashlib.sha256()
        with self.source.open("wb") as fh:
            for start in range(0, self.size, MB):
                chunk = os.urandom(min(MB, self.size - start))
                digest.update(chunk)
                fh.write(chunk)
        self.digest = digest.hexdigest()
        self.dest = base / "uploaded.bin"  # on the server, which is this machine
        self.conf = base / "deploy.conf"
        self.conf.write_text(
            f"[bench]\nhost = {server.user}@{server.host}:{port}\nkey = {self.home.key}\n"
            f"repo = {base / 'unused'}\npath = {base / 'unused'}\n",
            encoding="utf-8",
        )

    def scp(self, *options: str) -> Callable[[], float]:
        argv = [
            "scp", *options,
            "-F", "/dev/null",
            "-P", str(self.home.port),
            "-i", str(self.home.key),
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={self.home.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            str(self.source),
            f"{self.server.user}@{self.server.host}:{self.dest}",
        ]  # fmt: skip

        def upload() -> float:
            started = time.perf_counter()
            result = run(argv, env=self.env, timeout=self.args.timeout)
            elapsed = time.perf_counter() - started
            if result.returncode != 0:
                raise BenchError(
                    f"{shlex.join(argv[:2])} exited {result.returncode}: {result.stderr}"
                )
            return elapsed

        return upload

    def pushdeploy(self, python: list[str], parts: dict[str, list[float]]) -> Callable[[], float]:
        def upload() -> float:
            argv = [*python, "-c", CHILD, str(self.conf), str(self.source), str(self.dest)]
            result = run(argv, env=self.env, timeout=self.args.timeout)
            if result.returncode != 0:
                raise BenchError(f"pushdeploy's upload exited {result.returncode}: {result.stderr}")
            said = json.loads(result.stdout)
            if (said["status"], said["sent"]) != (0, self.size):
                raise BenchError(f"pushdeploy's upload ended badly: {said}")
            parts.setdefault("send", []).append(said["send"])
            return float(said["connect"] + said["send"])

        return upload

    def check(self) -> None:
        """The copy is whole (this machine is the server), then removed for the next."""
        digest = hashlib.sha256()
        try:
            with self.dest.open("rb") as fh:
                while chunk := fh.read(MB):
                    digest.update(chunk)
            self.dest.unlink()
        except OSError as exc:
            raise BenchError(f"no copy to check: {exc}") from None
        if digest.hexdigest() != self.digest:
            raise BenchError("the uploaded copy differs from the file")


def python_of(command: str) -> list[str]:
    """The Python that runs pushdeploy in ``--pushdeploy`` ('PYTHON -m pushdeploy')."""
    argv = shlex.split(command)
    if argv[-2:] != ["-m", "pushdeploy"] or len(argv) < 3:
        raise BenchError(f"--pushdeploy must be 'PYTHON -m pushdeploy' here, not {command!r}")
    return argv[:-2]


def measure(args: argparse.Namespace, base: Path) -> str:
    """Both parts on one sshd, unless ``--only`` names one."""
    texts = []
    with SSHServer(base / "sshd") as server:
        if args.only in (None, "upload"):
            texts.append(measure_upload(args, base, server))
        if args.only in (None, "disk"):
            texts.append(measure_disk(args, base / "disk", server))
    return "\n\n".join(texts)


def measure_upload(args: argparse.Namespace, base: Path, server: SSHServer) -> str:
    if shutil.which("scp") is None:
        raise BenchError("needs OpenSSH's scp")
    parts: dict[str, list[float]] = {}
    with DelayProxy(server.host, server.port, delay=args.rtt / 2000) as proxy:
        bench = Bench(args, base, server, proxy.port)
        tools = {"scp (SFTP)": bench.scp(), "scp -O (scp protocol)": bench.scp("-O")}
        if not args.no_pushdeploy:
            tools["pushdeploy connect + send"] = bench.pushdeploy(python_of(args.pushdeploy), parts)
        series = {name: Series(name) for name in tools}
        for number in range(1, args.rounds + 1):
            for name, upload in tools.items():
                if series[name].failure:
                    continue
                try:
                    series[name].samples.append(upload())
                    bench.check()
                except BenchError as exc:
                    series[name].failure = str(exc).strip()[-500:]
                    continue
                progress(f"  round {number} {name:<26} {series[name].samples[-1]:.3f}s")
        bench.source.unlink()
    ours = series.get("pushdeploy connect + send", Series("", failure="skipped (--no-pushdeploy)"))
    send = Series("pushdeploy send alone", parts.get("send", []), ours.failure)
    return table(args, [*series.values(), send])


def table(args: argparse.Namespace, rows: list[Series]) -> str:
    ceiling = WINDOW / (args.rtt / 1000) / MB if args.rtt else None
    lines = [
        f"{args.size:g} MB of random bytes over SSH at {args.rtt:g} ms RTT, median of {args.rounds}",
        f"{'tool':<28} {'seconds':>8} {'MB/s':>7}",
    ]
    for series in rows:
        if series.median is None:
            lines.append(f"{series.name:<28} {'n/a':>8} {'n/a':>7}  {series.failure or ''}")
        else:
            lines.append(
                f"{series.name:<28} {series.median:>8.3f} {args.size / series.median:>7.1f}"
            )
    if ceiling:
        lines.append(f"ceiling of sshd's 2 MiB channel window at this RTT: {ceiling:.1f} MB/s")
    scps = [s.median for s in rows[:2] if s.median is not None]
    ours = rows[2].median if len(rows) > 3 else None
    ratio = f"{min(scps) / ours:.2f}" if scps and ours else "n/a"
    lines.append(
        f"throughput ratio, pushdeploy connect + send / the faster scp: {ratio}"
        f" (target >= {TARGET_RATIO:.2f})"
    )
    return "\n".join(lines)


# The disk part: what each release of a real deploy takes on disk, hard links counted once.
TEXT_FILES = 200  # small text files (code, templates) beside the binary ones
CHANGED_EVERY = 20  # v2 changes one file in 20 (and VERSION)
DEPLOYS = (("v1", "v1", ()), ("v2", "v2", ()), ("v3 = v2 --force", "v2", ("--force",)))


@dataclass
class Usage:
    """One release on disk: its regular files and their bytes (apparent), the blocks of the
    inodes first seen in it (alone), of all its inodes (without links), and its files that are
    hard links to an earlier release's."""

    files: int = 0
    apparent: int = 0
    alone: int = 0
    without: int = 0
    linked: int = 0

    @property
    def saved(self) -> float:
        return 1 - self.alone / self.without if self.without else 0.0


FIELDS = [f.name for f in fields(Usage)]


def disk_usage(releases: list[Path]) -> list[Usage]:
    """Each release's Usage, in deploy order: an inode counts in the first release it is in."""
    seen: set[tuple[int, int]] = set()
    usages = []
    for release in releases:
        usage = Usage()
        paths = [release]
        for folder, dirs, names in os.walk(release):  # symlinks are listed, never followed
            paths += [Path(folder, name) for name in [*dirs, *names]]
        for path in paths:
            st = path.lstat()
            first = (st.st_dev, st.st_ino) not in seen
            seen.add((st.st_dev, st.st_ino))
            usage.without += st.st_blocks * 512
            usage.alone += st.st_blocks * 512 if first else 0
            if stat.S_ISREG(st.st_mode):
                usage.files, usage.apparent = usage.files + 1, usage.apparent + st.st_size
                usage.linked += not first
        usages.append(usage)
    return usages


def du_alone(releases: list[Path], env: dict[str, str], timeout: float) -> list[int]:
    """``du -s -B1`` of the releases, which also counts an inode in the first one it is in."""
    said = must(run(["du", "-s", "-B1", *map(str, releases)], env=env, timeout=timeout), "du")
    return [int(line.split("\t", 1)[0]) for line in said.splitlines()]


class App:
    """The project on this machine: v1 and v2 of a built app, as dist/app-v1.tar.gz and
    dist/app-v2.tar.gz. ``files`` files of random bytes, ``size`` bytes in all, spread as a
    build's are (a few large, many small: log-normal sizes, the same every run), TEXT_FILES small
    text files and VERSION; v2 rewrites one file in CHANGED_EVERY and VERSION."""

    def __init__(self, project: Path, size: int, files: int) -> None:
        rng = random.Random(10)
        weights = [rng.lognormvariate(0, 1.2) for _ in range(files)]
        tree, self.dist = project / "tree", project / "dist"
        self.dist.mkdir(parents=True)
        self.paths: list[Path] = []
        for number, weight in enumerate(weights):
            data = os.urandom(max(1, int(size * weight / sum(weights))))
            self.write(tree / f"static/part{number % 8}/asset-{number:03}.bin", data)
        for number in range(TEXT_FILES):
            code = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(rng.randint(10, 90)))
            self.write(tree / f"app/pkg{number % 10}/module_{number:03}.py", code.encode())
        (tree / "VERSION").write_text("v1\n", encoding="utf-8")
        self.pack(tree, "v1")
        changed = self.paths[::CHANGED_EVERY]
        for path in changed:
            if path.suffix == ".bin":
                path.write_bytes(os.urandom(path.stat().st_size))
            else:
                with path.open("a", encoding="utf-8") as fh:
                    fh.write("# changed in v2\n")
        (tree / "VERSION").write_text("v2\n", encoding="utf-8")
        self.pack(tree, "v2")
        self.files = len(self.paths) + 1
        self.random = sum(path.stat().st_size for path in self.paths[:files])
        self.changed = len(changed) + 1
        self.changed_size = sum(path.stat().st_size for path in changed)
        shutil.rmtree(tree)

    def write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.paths.append(path)

    def pack(self, tree: Path, version: str) -> None:
        with tarfile.open(self.dist / f"app-{version}.tar.gz", "w:gz", compresslevel=6) as tar:
            for child in sorted(tree.iterdir()):  # gzip -6, as tar czf
                tar.add(child, child.name)


class DiskBench:
    """Real deploys of the App to this machine's sshd, straight (0 ms): per round, in a new
    deploy root, setup, v1, v2, then v2 again with --force (v3), each checked live."""

    def __init__(self, args: argparse.Namespace, base: Path, server: SSHServer) -> None:
        self.args, self.base, self.server = args, base, server
        home = base / "home"
        home.mkdir(parents=True)
        self.env = clean_env(home)
        self.home = write_client_home(home, server)
        self.project = base / "project"
        progress(f"disk: writing v1 and v2 of a {args.size:g} MB app in {args.files} files")
        self.app = App(self.project, int(args.size * MB), args.files)

    def deploy(self, argv: list[str], what: str) -> float:
        started = time.perf_counter()
        result = run(argv, env=self.env, cwd=self.project, timeout=self.args.timeout)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise BenchError(f"{what} exited {result.returncode}: {result.stderr.strip()[-500:]}")
        return elapsed

    def round(self, number: int) -> tuple[list[Usage], list[float]]:
        root, conf = self.base / f"deploys-{number}", self.base / f"deploy-{number}.conf"
        conf.write_text(
            f"[bench]\nhost = {self.server.user}@{self.server.host}:{self.home.port}\n"
            f"key = {self.home.key}\nartifact = dist/app-{{ref}}.tar.gz\npath = {root}\nkeep = 5\n",
            encoding="utf-8",
        )
        command = [*shlex.split(self.args.pushdeploy), "-c", str(conf), "-C", str(self.project)]
        self.deploy([*command, "bench", "setup"], "setup")
        releases: list[Path] = []
        seconds = []
        for label, ref, flags in DEPLOYS:
            seconds.append(self.deploy([*command, "-q", *flags, "bench", ref], f"deploy {label}"))
            live = (root / "current").resolve()
            if live in releases or (live / "VERSION").read_text(encoding="utf-8") != f"{ref}\n":
                raise BenchError(f"deploy {label} said ok, and {live.name} is live")
            releases.append(live)
            progress(f"  round {number} deploy {label:<16} {seconds[-1]:.3f}s")
        usages = disk_usage(releases)
        if du_alone(releases, self.env, self.args.timeout) != [u.alone for u in usages]:
            raise BenchError("du -s -B1 disagrees with the blocks counted here")
        return usages, seconds


def measure_disk(args: argparse.Namespace, base: Path, server: SSHServer) -> str:
    if args.no_pushdeploy:
        return "disk per release: skipped (--no-pushdeploy)"
    bench = DiskBench(args, base, server)
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            rounds.append(bench.round(number))
    except BenchError as exc:
        return f"disk per release: n/a  {str(exc).strip()[-500:]}"
    return disk_table(args, bench.app, rounds)


def disk_table(
    args: argparse.Namespace, app: App, rounds: list[tuple[list[Usage], list[float]]]
) -> str:
    def row(label: str, usage: Usage, seconds: str) -> str:
        return (
            f"{label:<16} {usage.files:>5} {usage.linked:>6} {usage.apparent / MB:>6.2f} MB"
            f" {usage.alone / MB:>5.2f} MB {usage.without / MB:>6.2f} MB {usage.saved:>6.1%}"
            f" {seconds:>7}"
        )

    lines = [
        f"disk per release: {app.random / MB:.1f} MB of random bytes in {args.files} files, {TEXT_FILES} small text"
        f" files and VERSION, as .tar.gz; v2 changes {app.changed} files ({app.changed_size / MB:.1f} MB)",
        f"deployed over SSH at 0 ms, median of {len(rounds)}; on disk: the blocks of the inodes"
        " first seen in that release (as du -s -B1 counts them, and it agrees)",
        f"{'release':<16} {'files':>5} {'linked':>6} {'apparent':>9} {'on disk':>8}"
        f" {'no links':>9} {'saved':>6} {'deploy':>7}",
    ]
    totals = Usage()
    for index, (label, _, _) in enumerate(DEPLOYS):
        usage = Usage(
            *(int(statistics.median([getattr(r[0][index], f) for r in rounds])) for f in FIELDS)
        )
        seconds = statistics.median([r[1][index] for r in rounds])
        totals = Usage(*(getattr(totals, f) + getattr(usage, f) for f in FIELDS))
        lines.append(row(label, usage, f"{seconds:.2f}s"))
    lines.append(row("all three", totals, ""))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--size",
        type=float,
        default=50,
        metavar="MB",
        help="the upload's file, the deployed app (50)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="N",
        help="uploads per tool, deploys of each release (3)",
    )
    parser.add_argument(
        "--rtt", type=float, default=100, metavar="MS", help="the upload's round trip (100)"
    )
    parser.add_argument(
        "--files", type=int, default=300, metavar="N", help="files of random bytes in the app (300)"
    )
    parser.add_argument("--only", choices=["upload", "disk"], help="run one part (both)")
    parser.add_argument("--timeout", type=float, default=120, metavar="S", help="per command (120)")
    runner_arguments(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.size <= 0 or args.rtt < 0 or args.files < 1:
        parser.error("--rounds and --files must be >= 1, --size > 0 and --rtt >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(args, "pushdeploy-artifact-", lambda base: measure(args, base))


if __name__ == "__main__":
    sys.exit(main())
