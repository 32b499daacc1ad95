"""The randomized fault soak: deploys and reverts on real servers, faults at random instants, and the
promises (pushdeploy/testing/invariants.py) checked on every host after every operation.

The scene: two OpenSSH servers on 127.0.0.1, each behind a ``FaultProxy``, and five environments
over them: ``fleet`` (git, both hosts), ``rolling`` (git, both, ``batch = 1``), ``one`` (git, the
first alone), ``artifact`` (a local .tar.gz, both hosts) and ``local`` (git, ``host = local``).
Each environment has its own root on each server (``~/NAME`` under the server's HOME, a tmpfs of
its own when this runs as root, so that a disk can be filled). Every ``build`` and ``test`` is
one small hook that reads what to do from a control file: pass, fail, or sleep first.

An operation is drawn from a seeded ``random.Random``: an environment; a deploy of a new commit
(or artifact), which may fail its build or its test on one host, or a revert (1 or 2 back); and
with some odds one fault, at a random instant within the operation's usual length: Ctrl-C,
SIGTERM or SIGKILL of the client; SIGTERM or SIGKILL of a server's script, SIGKILL of its guard
or of a hook; a proxy that cuts, stalls 1-5 s, or goes half-open (drops everything, closes
nothing); the disk filled to its last pages. Then: the client's end (bounded), the network and
disk healed, the servers left to settle (no lock, nothing running, polled against a deadline),
and every host's state read and checked. The same seed draws the same operations and faults (the
instants are wall-clock, so a replay is close, not exact).

``Soak`` is used by tests/integration/test_soak.py (a short run) and bench/soak.py (a long run by
hand, with the report).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pushdeploy.remote import history
from pushdeploy.testing.invariants import Violation, violations
from tests.support import faults
from tests.support.faultproxy import FaultProxy
from tests.support.gitrepo import Origin
from tests.support.hoststate import state_of
from tests.support.sshd import SSHServer, keygen

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("fleet", "rolling", "one", "artifact", "local")
FAULTS = (
    "client-int",
    "client-term",
    "client-kill",
    "script-term",
    "script-kill",
    "guard-kill",
    "hook-kill",
    "net-cut",
    "net-stall",
    "net-halfopen",
    "disk-full",
)
STEPS = {
    "deploy": (
        "lock",
        "fetch",
        "upload",
        "resolve",
        "release",
        "build",
        "switch",
        "restart",
        "test",
        "prune",
    ),
    "revert": ("lock", "switch", "restart", "test"),
}
OP_TIMEOUT = 90.0  # seconds an operation may take before the client counts as hung
SETTLE = 40.0  # seconds the servers get to finish on their own and drop their locks
STARTUP = 0.1  # seconds the interpreter takes to start before pushdeploy's first line runs
HEARTBEAT = "1 6"  # beat every 1 s, silent after 6 s (protocol.py; the defaults are 2 and 20)  # seconds a half-open network stays so at most (then it is cut and healed)
HOOK = """#!/bin/sh
# The soak's build and test: $1 is which; the control file for this host (or for all) says
# pass, fail, or sleep SECONDS first.
case $HOME in */server-home) name=$(basename "$(dirname "$HOME")") ;; *) name=local ;; esac
ctl={ctl}
what=$(cat "$ctl/$1.$name" 2>/dev/null || cat "$ctl/$1.all" 2>/dev/null || echo pass)
echo "soak $1 on $name: $what"
case $what in
  fail) exit 1 ;;
  sleep\\ *) sleep "${{what#sleep }}" ;;
esac
[ -f VERSION ] || {{ echo "no VERSION here"; exit 1; }}
"""


@dataclass
class Host:
    """One server of the scene and the proxy in front of it."""

    server: SSHServer
    proxy: FaultProxy

    @property
    def name(self) -> str:
        return self.server.base.name

    @property
    def spec(self) -> str:
        return f"{self.server.user}@{self.proxy.host}:{self.proxy.port}"

    @property
    def sshd_pid(self) -> int:
        return int(self.server.pid_path.read_text().split()[0])


@dataclass
class Operation:
    """One drawn operation, and what came of it."""

    number: int
    environment: str
    command: list[str]
    fault: str | None = None
    at: float = 0.0  # seconds after the start the fault came
    settled: float = 0.0  # seconds the servers took to settle after the client ended
    step: str = ""  # or: the step whose start (on some host) it waits for, then ``at`` more
    missed: str | None = None  # a fault drawn that found nothing to break (it came too late)
    status: int | None = None
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)
    output: str = ""

    def line(self) -> str:
        fault = f" + {self.fault} at {self.at:.2f} s" if self.fault else ""
        fault += f" (step {self.step})" if self.fault and self.step else ""
        return (
            f"#{self.number} {self.environment} {' '.join(self.command)}{fault}: exit {self.status}"
        )


@dataclass
class Report:
    operations: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    missed: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int | None] = field(default_factory=collections.Counter)
    failed: list[Operation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> int:
        return sum(len(op.violations) for op in self.failed)

    def text(self) -> str:
        lines = [
            f"operations: {self.operations} in {self.seconds:.0f} s",
            "faults: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())) or "none")
            + f" ({sum(self.faults.values())} in all; {sum(self.missed.values())} more drawn came"
            " too late or found nothing to break)",
            "exit statuses: "
            + ", ".join(f"{k}: {n}" for k, n in sorted(self.statuses.items(), key=str)),
            f"violations: {self.violations}",
        ]
        for op in self.failed:
            lines.append(f"  {op.line()}" + ("" if op.violations else " (no promise broken)"))
            lines += [f"    {v}" for v in op.violations]
            lines += [f"    | {x}" for x in op.output.splitlines()[-12:]]
        return "\n".join(lines)


class Soak:
    """The scene (module doc) in ``base``; ``run`` draws and checks operations. Lifecycle: a
    context manager: the servers, proxies and mounts go on the way out."""

    def __init__(self, base: Path, seed: int, faults_allowed: tuple[str, ...] = FAULTS) -> None:
        self.base, self.rng, self.seed = base, random.Random(seed), seed
        self.faults_allowed = faults_allowed
        self.stack = contextlib.ExitStack()
        self.usual: dict[str, float] = collections.defaultdict(lambda: 1.0)
        self.commits = 0

    def __enter__(self) -> Soak:
        try:
            self._build()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    # -- the scene ---------------------------------------------------------------------------

    def _build(self) -> None:
        base = self.base
        self.home = base / "home"
        (self.home / ".ssh").mkdir(parents=True, mode=0o700)
        self.key = self.home / ".ssh" / "id_ed25519"
        keygen(self.key, "pushdeploy-soak")
        public = self.key.with_name("id_ed25519.pub").read_text(encoding="utf-8")
        self.hosts: list[Host] = []
        for number in (1, 2):
            server = SSHServer(base / f"sshd-{number}")
            server.authorized_keys.write_text(public, encoding="utf-8")
            self.stack.enter_context(server)
            proxy = self.stack.enter_context(
                FaultProxy(server.host, server.port, lifetime=4 * 3600)
            )
            self.hosts.append(Host(server, proxy))
        (self.home / ".ssh" / "known_hosts").write_text(
            "".join(h.server.known_hosts_line(h.proxy.port) + "\n" for h in self.hosts)
        )
        self.local_home = base / "local-home"
        self.local_home.mkdir()
        self.disks = self._mount_disks()
        self.ctl = base / "ctl"
        self.ctl.mkdir()
        hook = base / "hook"
        hook.write_text(HOOK.format(ctl=self.ctl))
        hook.chmod(0o755)
        self.origin = Origin(base / "origin")
        self.origin.commit({"VERSION": "v0\n"}, "v0")
        self.artifact = base / "app.tar.gz"
        self._pack("v0")
        self.conf = base / "deploy.conf"
        self.conf.write_text(self._conf(hook))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
        self.env |= {"HOME": str(self.home), "PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1"}
        # The heartbeat's documented test setting: a half-open link ends in seconds, not 20 s.
        self.env["PUSHDEPLOY_TEST_HEARTBEAT"] = HEARTBEAT
        for name in ENVIRONMENTS:
            done = self._pushdeploy(name, "setup")
            if done.returncode != 0:
                raise RuntimeError(f"setup of {name} failed:\n{done.stdout}{done.stderr}")

    def _mount_disks(self) -> bool:
        """Each root a small tmpfs of its own, when allowed (root); else no disk-full faults."""
        if os.geteuid() != 0:
            return False
        for where in [*(h.server.server_home for h in self.hosts), self.local_home]:
            for name in ENVIRONMENTS:
                path = where / name
                path.mkdir()
                done = subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(path)],
                    capture_output=True,
                    timeout=30,
                )
                if done.returncode != 0:
                    return False
                self.stack.callback(subprocess.run, ["umount", "-l", str(path)], timeout=30)
        return True

    def _conf(self, hook: Path) -> str:
        both = " ".join(h.spec for h in self.hosts)
        common = (
            f"key = {self.key}\nref = main\nkeep = 4\nbuild = {hook} build\ntest = {hook} test\n"
        )
        return (
            f"[fleet]\nhost = {both}\nrepo = {self.origin.path}\npath = ~/fleet\n{common}\n"
            f"[rolling]\nhost = {both}\nrepo = {self.origin.path}\npath = ~/rolling\nbatch = 1\n{common}\n"
            f"[one]\nhost = {self.hosts[0].spec}\nrepo = {self.origin.path}\npath = ~/one\n{common}\n"
            f"[artifact]\nhost = {both}\nartifact = {self.artifact}\npath = ~/artifact\n{common}\n"
            f"[local]\nhost = local\nrepo = {self.origin.path}\npath = {self.local_home}/local\n{common}\n"
        )

    def _pack(self, version: str) -> None:
        data = version.encode() + b"\n"
        with tarfile.open(self.artifact, "w:gz") as tar:
            info = tarfile.TarInfo("VERSION")
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))

    def roots(self, environment: str) -> dict[str, Path]:
        """Each host's deploy root for ``environment``, by host label."""
        if environment == "local":
            return {"local": self.local_home / "local"}
        hosts = self.hosts[:1] if environment == "one" else self.hosts
        return {h.name: h.server.server_home / environment for h in hosts}

    # -- one operation -----------------------------------------------------------------------

    def _pushdeploy(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pushdeploy", "-C", str(self.base), *argv]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def draw(self, number: int) -> Operation:
        rng = self.rng
        environment = rng.choice(ENVIRONMENTS)
        if rng.random() < 0.25:
            command = ["revert"] + ([] if rng.random() < 0.7 else ["2"])
        else:
            command = ["deploy"]
        op = Operation(number, environment, command)
        for name in ("build", "test"):
            for stale in self.ctl.glob(f"{name}.*"):
                stale.unlink()
        (self.ctl / "build.all").write_text(f"sleep {rng.choice([0, 0.1, 0.3])}\n")
        if command == ["deploy"] and rng.random() < 0.2:
            where = rng.choice([*self.roots(environment), "all"])
            (self.ctl / f"{rng.choice(['build', 'test'])}.{where}").write_text("fail\n")
        if rng.random() < 0.55:
            op.fault = rng.choice(self.faults_allowed)
            if op.fault == "disk-full" and not self.disks:
                op.fault = None
            op.at = rng.uniform(0.0, self.usual[f"{environment} {command[0]}"])
            if rng.random() < 0.6:  # at the start of a step, anywhere in the run
                op.step, op.at = rng.choice(STEPS[command[0]]), rng.uniform(0.0, 0.05)
        return op

    def run_one(self, op: Operation) -> None:
        roots = self.roots(op.environment)
        before = {label: state_of(root).live for label, root in roots.items()}
        asked = self._asked(op, roots)
        if op.command == ["deploy"]:
            self.commits += 1
            version = f"v{self.commits}"
            if op.environment == "artifact":
                self._pack(version)
            else:
                self.origin.commit({"VERSION": f"{version}\n"}, version)
        argv = [op.environment, *op.command]
        started = time.monotonic()
        client = subprocess.Popen(
            [sys.executable, "-m", "pushdeploy", "-v", "-C", str(self.base), *argv],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.extend(client.stdout or []), daemon=True)
        reader.start()
        healers: list[Callable[[], None]] = []
        if op.fault:
            self._await_instant(op, client, out, started)
            if client.poll() is None:
                healers = self._inject(op, client, roots)
            else:
                op.missed, op.fault = op.fault, None  # it ended first: no fault was made
        try:
            op.status = client.wait(OP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(client.pid, signal.SIGKILL)
            client.wait(10)
            op.violations.append(
                Violation("exit-tells", "*", f"the client hung for {OP_TIMEOUT} s")
            )
        op.seconds = time.monotonic() - started
        for heal in healers:
            heal()
        reader.join(10)
        if client.stdout is not None:
            client.stdout.close()
        op.output = b"".join(out).decode("utf-8", "replace")
        if not op.fault:
            key = f"{op.environment} {op.command[0]}"
            self.usual[key] = 0.8 * self.usual[key] + 0.2 * op.seconds
        settling = time.monotonic()
        after = self._settled(roots)
        op.settled = time.monotonic() - settling
        status = op.status if op.status is not None else -9
        if (
            op.fault in {"client-int", "client-term"}
            and op.at < STARTUP
            and "pushdeploy" not in op.output
        ):
            # The signal came while the interpreter itself started (before any line of
            # pushdeploy ran, and before it could take the signals): CPython's own exit.
            op.missed, op.fault = f"{op.fault} (interpreter start-up)", None
            status = -signal.SIGINT  # no exit status of ours to judge
        op.violations += violations(before, after, status, asked=asked)
        if op.fault in {"client-int", "client-term"} and status < 0:
            op.violations.append(Violation("exit-tells", "*", f"died of signal {-status}"))
        if op.status == 0 and op.command == ["deploy"]:
            op.violations += self._serves_new(roots)
        if op.violations:
            op.output += self._diagnose(roots)
            self._clear(roots)

    def _diagnose(self, roots: dict[str, Path]) -> str:
        """What a broken promise left: each lock's files, and what still runs for each root."""
        lines = []
        for label, root in roots.items():
            lock = root / ".pushdeploy" / "lock"
            if lock.is_dir():
                for item in sorted(lock.iterdir()):
                    text = item.read_text(errors="replace")[:300] if item.is_file() else "(dir)"
                    lines.append(f"{label}: lock/{item.name}: {text.strip()}")
            lines += [f"{label}: running: {proc}" for proc in faults.leftovers(root)]
        for host in self.hosts:
            lines += [f"{host.name}: script: {p}" for p in faults.script_processes(host.sshd_pid)]
        return "\n" + "\n".join(lines)

    def _clear(self, roots: dict[str, Path]) -> None:
        """After a broken promise, leave the next operation a clean start: no lock, nothing
        running (so that one defect is counted once, not in every operation after it)."""
        for root in roots.values():
            faults.kill_all(faults.leftovers(root))
            shutil.rmtree(root / ".pushdeploy" / "lock", ignore_errors=True)

    def _await_instant(
        self, op: Operation, client: subprocess.Popen[bytes], out: list[bytes], started: float
    ) -> None:
        """Wait for the fault's instant: ``op.at`` seconds in, or (``op.step``) the moment a host
        begins that step (the client's ``-v`` line), plus a few milliseconds drawn."""
        marker = f" \u203a {op.step}\n".encode() if op.step else b""
        deadline = started + (op.at if not op.step else max(5.0, 3 * op.at))
        while client.poll() is None and time.monotonic() < deadline:
            if marker and any(line.endswith(marker) for line in list(out)):
                time.sleep(op.at)
                break
            time.sleep(0.002)
        op.at = time.monotonic() - started

    def _asked(self, op: Operation, roots: dict[str, Path]) -> dict[str, str] | None:
        """What a revert must make live on each host (its own history's pick), when it can."""
        if op.command[0] != "revert":
            return None
        steps = int(op.command[1]) if len(op.command) > 1 else 1
        asked = {}
        for label, root in roots.items():
            deploys = root / ".deploys"
            lines = deploys.read_text().splitlines() if deploys.exists() else []
            try:
                target = history.revert_target(history.parse(lines), state_of(root).live, steps)
            except Exception:  # refused there: the revert must not change anything
                return None
            asked[label] = target.release
        return asked

    def _serves_new(self, roots: dict[str, Path]) -> list[Violation]:
        """After a deploy that exited 0: every host serves the version just made."""
        found = []
        for label, root in roots.items():
            version = root / "current" / "VERSION"
            said = version.read_text().strip() if version.exists() else "nothing"
            if said != f"v{self.commits}":
                found.append(Violation("exit-tells", label, f"exit 0, yet it serves {said}"))
        return found

    def _settled(self, roots: dict[str, Path]) -> dict[str, object]:
        """Each host's state once its lock is gone and nothing of the deploy runs (or at the
        deadline: whatever is left then is a broken promise)."""
        deadline = time.monotonic() + SETTLE
        while True:
            states = {label: state_of(root) for label, root in roots.items()}
            if all(not s.locked and not s.leftovers for s in states.values()):
                return states  # type: ignore[return-value]
            if time.monotonic() > deadline:
                return states  # type: ignore[return-value]
            time.sleep(0.05)

    # -- faults ------------------------------------------------------------------------------

    def _inject(
        self, op: Operation, client: subprocess.Popen[bytes], roots: dict[str, Path]
    ) -> list[Callable[[], None]]:
        fault, rng = op.fault, self.rng
        hosts = [h for h in self.hosts if h.name in roots]
        if fault == "client-int":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(client.pid, signal.SIGINT)
        elif fault == "client-term":
            client.send_signal(signal.SIGTERM)
        elif fault == "client-kill":
            client.kill()
        elif fault in {"script-term", "script-kill", "guard-kill"}:
            scripts = self._scripts(client, hosts)
            if not scripts:
                op.missed, op.fault = op.fault, None
            else:
                main = rng.choice(scripts)
                target = self._guard(main) if fault == "guard-kill" else main
                if target is None:
                    op.missed, op.fault = op.fault, None
                else:
                    how = signal.SIGTERM if fault == "script-term" else signal.SIGKILL
                    try:
                        os.kill(target.pid, how)
                    except ProcessLookupError:  # it ended meanwhile
                        op.missed, op.fault = op.fault, None
        elif fault == "hook-kill":
            hooks = [
                p
                for p in faults.processes().values()
                if str(self.base / "hook") in " ".join(p.cmdline)
            ]
            if not hooks:
                op.missed, op.fault = op.fault, None
            for proc in hooks:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        elif fault in {"net-cut", "net-stall", "net-halfopen"}:
            if not hosts:
                op.fault = None  # host = local has no network
                return []
            proxy = rng.choice(hosts).proxy
            if fault == "net-cut":
                proxy.cut()
            elif fault == "net-stall":
                proxy.stall(rng.uniform(1.0, 5.0))
            else:
                proxy.blackhole()
                return [proxy.cut, proxy.heal]
        elif fault == "disk-full":
            root = rng.choice(list(roots.values()))
            filler = root / ".filler"
            with contextlib.suppress(OSError, AssertionError):
                faults.fill(filler)
            return [lambda: filler.unlink(missing_ok=True)]
        return []

    def _scripts(self, client: subprocess.Popen[bytes], hosts: list[Host]) -> list[faults.Proc]:
        """The main ``bash -s`` of each running deploy script (under the sshds, or the client)."""
        found = []
        for pid in [client.pid, *(h.sshd_pid for h in hosts)]:
            table = faults.processes()
            found += [
                p
                for p in faults.descendants(pid, table)
                if p.cmdline == ("bash", "-s") and table.get(p.ppid, p).cmdline != ("bash", "-s")
            ]
        return found

    def _guard(self, main: faults.Proc) -> faults.Proc | None:
        """The guard: the main script's oldest ``bash -s`` child (started as the lock is taken)."""
        children = [
            p
            for p in faults.processes().values()
            if p.ppid == main.pid and p.cmdline == ("bash", "-s")
        ]
        return min(children, key=lambda p: p.start) if children else None

    def run(
        self,
        count: int,
        until: float | None = None,
        on_done: Callable[[Operation], None] | None = None,
    ) -> Report:
        report = Report()
        started = time.monotonic()
        for number in range(1, count + 1):
            if until is not None and time.monotonic() > until:
                break
            op = self.draw(number)
            self.run_one(op)
            report.operations += 1
            report.statuses[op.status] += 1
            if op.fault:
                report.faults[op.fault] += 1
            if op.missed:
                report.missed[op.missed] += 1
            if op.violations or op.status == 10:  # 10: a rollback failed; show why, allowed or not
                report.failed.append(op)
            if on_done:
                on_done(op)
        report.seconds = time.monotonic() - started
        return report


@contextlib.contextmanager
def scene(
    seed: int, faults_allowed: tuple[str, ...] = FAULTS, base: Path | None = None
) -> Iterator[Soak]:
    """A Soak in a fresh directory (``base``, or a temporary one removed after)."""
    made = base is None
    where = Path(base or __import__("tempfile").mkdtemp(prefix="pushdeploy-soak-"))
    try:
        with Soak(where, seed, faults_allowed) as soak:
            yield soak
    finally:
        if made:
            shutil.rmtree(where, ignore_errors=True)
