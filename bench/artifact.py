"""How fast does an artifact travel? pushdeploy's upload next to OpenSSH's ``scp``, same link.

Starts its own OpenSSH server on 127.0.0.1 (tests/support/sshd.py) behind a ``DelayProxy`` that
adds a fixed delay each way (default 100 ms RTT), writes a file of random (incompressible) bytes
(default 50 MB; MB = 10^6 bytes here), and uploads it ``--rounds`` times with each tool, rounds
interleaved (scp, scp -O, pushdeploy, scp, ...): ``scp`` (OpenSSH >= 9 speaks SFTP), ``scp -O``
(the old scp protocol: one exec channel, as ours) and pushdeploy's ``Transport.send`` on a new
connection, run in a child Python so that it does not share this process (and the proxy's
threads) with its interpreter lock. Every copy is checked (its SHA-256) and removed.

Timed: scp's whole run (connect, log in, copy); for pushdeploy connect + send (not Python's
start-up), and send alone (a deploy sends on the connection it already has open). The ratio is
pushdeploy's connect + send against the faster scp: like for like, each opens one connection.

Target (issue 10): at 100 ms RTT, pushdeploy >= 80 % of scp's throughput.

    python bench/artifact.py [--size 50] [--rounds 3] [--rtt 100] [--keep]

Measured (2 CPUs, OpenSSH 9.2p1, Paramiko 5.1.0, 50 MB, median of 3; a run takes ~40 s):

    RTT     scp   scp -O   pushdeploy connect + send (send alone)   ratio
    100 ms  11.1  12.9     15.4 (17.8) MB/s                         1.19
      0 ms  74.6  88.9     98.3 (106.5) MB/s                        1.11

Why these numbers: an upload is bounded by the REMOTE side's channel window. sshd opens a
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
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deploy_latency import (  # noqa: E402  (ROOT on sys.path)
    BenchError,
    bench_main,
    clean_env,
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
from pushdeploy import config
from pushdeploy.transport import open_transport, ssh  # ssh: Paramiko loaded before the clock
conf, source, dest = sys.argv[1:4]
env = config.load(Path(conf), "bench")
size = Path(source).stat().st_size
started = time.perf_counter()
transport = open_transport(env, env.hosts[0], lambda text: None, env.host_key)
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
    if shutil.which("scp") is None:
        raise BenchError("needs OpenSSH's scp")
    parts: dict[str, list[float]] = {}
    server = SSHServer(base / "sshd")
    with server, DelayProxy(server.host, server.port, delay=args.rtt / 2000) as proxy:
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size", type=float, default=50, metavar="MB", help="file size (50)")
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="uploads per tool (3)")
    parser.add_argument("--rtt", type=float, default=100, metavar="MS", help="round trip (100)")
    parser.add_argument("--timeout", type=float, default=120, metavar="S", help="per upload (120)")
    runner_arguments(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.size <= 0 or args.rtt < 0:
        parser.error("--rounds must be >= 1, --size > 0 and --rtt >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(args, "pushdeploy-artifact-", lambda base: measure(args, base))


if __name__ == "__main__":
    sys.exit(main())
