"""Fault injection for the integration tests: the CLI as a child process, the processes a deploy
leaves behind, what a deploy must leave true on disk, and a small tmpfs.

* ``CliProcess`` runs ``python -m pushdeploy`` in a session of its own, so a Ctrl-C can go to its
  whole process group as a terminal sends it. Its output is read line by line, and a test waits
  for a step line (``host \u203a step``) against a deadline, then signals it.
* ``processes()`` reads /proc once. ``script_processes(sshd_pid)`` finds the ``bash -s`` scripts
  a test sshd runs. ``leftovers(root, sessions)`` finds what a deploy left running: a process
  whose cwd, command line or environment names the deploy root, or that belongs to the session
  of one of the deploy's scripts. sshd starts each command in a session of its own, and a child
  keeps that session id after its parent is gone, so an orphaned ``sleep`` is still found
  (Linux only: all of this reads /proc).
* ``record_problems(root)`` checks what every deploy must leave true under its root, whatever
  broke, through the promises' one check (pushdeploy/testing/invariants.py).
* ``mounted_tmpfs`` mounts a tmpfs of a given size (root only) and always unmounts it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STEP_LINE = re.compile(r"^(?P<host>\S+) › (?P<step>\S+)$")


class CliProcess:
    """``python -m pushdeploy -v ARGV`` in the background, its stdout and stderr read as one
    stream (``-v``: each step's step line comes as it begins, which the waits need).

    Lifecycle: started at once; ``close`` kills it if it still runs and reaps it (always call it).
    """

    def __init__(self, *argv: str | Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pushdeploy", "-v", *map(str, argv)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self._changed = threading.Condition()
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for raw in self.proc.stdout:
            with self._changed:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for_step(self, step: str, timeout: float = 30.0) -> None:
        """Return once a line says ``host \u203a STEP``; fail if the run ends or time runs out."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(
                (m := STEP_LINE.match(line)) and m["step"] == step for line in self._lines
            ):
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(
                        f"step {step!r} never showed (exit {self.proc.poll()}); output:\n"
                        + "\n".join(self._lines)
                    )
                self._changed.wait(min(left, 0.1))

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole foreground process group, as a terminal sends it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)

    def send(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit status (negative: killed by that signal), or None when still running."""
        try:
            status = self.proc.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(5)
        return status

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass(frozen=True)
class Proc:
    """One process as /proc showed it; ``start`` (clock ticks after boot) tells reused pids apart."""

    pid: int
    ppid: int
    sid: int
    start: int
    cmdline: tuple[str, ...]

    def cwd(self) -> str:
        try:
            return os.readlink(f"/proc/{self.pid}/cwd")
        except OSError:
            return ""

    def environ(self) -> bytes:
        try:
            return Path(f"/proc/{self.pid}/environ").read_bytes()
        except OSError:
            return b""

    def alive(self) -> bool:
        again = _read_proc(self.pid)
        return again is not None and again.start == self.start

    def __str__(self) -> str:
        return f"pid {self.pid} (session {self.sid}): {' '.join(self.cmdline) or '?'}"


def _read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
    if fields[0] == "Z":
        return None  # a zombie runs nothing; its parent only has not reaped it yet
    args = tuple(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)
    return Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]), args)


def processes() -> dict[int, Proc]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := _read_proc(int(entry))) is not None:
            table[proc.pid] = proc
    return table


def descendants(root: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    table = table if table is not None else processes()
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    todo = [root]
    while todo and len(found) < len(table):  # bounded: a pid is visited once at most
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def script_processes(sshd_pid: int) -> list[Proc]:
    """The ``bash -s`` processes sshd started for clients (not the subshells they forked)."""
    table = processes()
    return [
        proc
        for proc in descendants(sshd_pid, table)
        if proc.cmdline == ("bash", "-s") and table[proc.ppid].cmdline[:1] != ("bash",)
    ]


def leftovers(root: Path, sessions: Collection[int] = (), sshd_port: int = 0) -> list[Proc]:
    """Processes still running for a deploy to ``root`` (see the module doc), not this one. One
    of ``sessions`` counts only with an ``SSH_CONNECTION`` to ``sshd_port`` (ids get reused)."""
    names = {str(root), os.path.realpath(root)}
    needles = [name.encode() for name in names]
    ours = re.compile(rb"(?:^|\0)SSH_CONNECTION=[^\0]* %d(?:\0|$)" % sshd_port)
    found = []
    for proc in processes().values():
        if proc.pid == os.getpid():
            continue
        environ = proc.environ()
        if (
            (proc.sid in sessions and ours.search(environ))
            or any(name in arg for arg in proc.cmdline for name in names)
            or any(proc.cwd().startswith(name) for name in names)
            or any(needle in environ for needle in needles)
        ):
            found.append(proc)
    return found


def kill_all(procs: Collection[Proc]) -> None:
    """SIGKILL each process this test left behind, by pid, unless its pid was reused meanwhile."""
    for proc in procs:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


def releases(root: Path) -> set[str]:
    where = root / "releases"  # these three read what a deploy left; record_problems judges it
    return {entry.name for entry in where.iterdir()} if where.is_dir() else set()


def history(root: Path) -> list[list[str]]:
    deploys = root / ".deploys"
    text = deploys.read_text() if deploys.exists() else ""
    return [line.split("\t") for line in text.splitlines()]


def live(root: Path) -> str | None:
    current = root / "current"
    return os.readlink(current).rsplit("/", 1)[-1] if current.is_symlink() else None


def record_problems(root: Path, tree_file: str = "VERSION") -> list[str]:
    """The promises about what a deploy leaves on disk (pushdeploy/testing/invariants.py: live
    is good, never bad, a whole history, nothing half-built), through the one check the soak
    uses, and that ``.deploys`` names only complete releases (the tests that call this keep every
    release: nothing they deploy is pruned). The lock and the processes left are for the caller
    to check, against its own deadline."""
    from pushdeploy.testing import invariants
    from tests.support.hoststate import complete, state_of

    state = state_of(root, tree_file)
    problems = [
        str(v)
        for v in invariants.host_violations(root.name, state)
        if v.promise not in {"no-lock", "no-leftovers"}
    ]
    for line in history(root):
        if len(line) == 7 and not complete(root / "releases" / line[2], tree_file):
            problems.append(f".deploys names {line[2]}, which is not a complete release")
    return problems


def _cannot(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI runs as root and must run the disk-full tests", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str = "8m", inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` (and ``inodes``) at ``path`` for the duration (lazily unmounted if
    still busy)."""
    if os.geteuid() != 0:
        _cannot("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (f",nr_inodes={inodes}" if inodes else "")
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    done = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        _cannot(f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(target: Path, limit: int = 64 << 20) -> int:
    """Write zeros to ``target`` until the disk is full; return the bytes written."""
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while written < limit:
            try:
                written += os.write(fd, bytes(65536))
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    return written
                raise
    finally:
        os.close(fd)
    raise AssertionError(f"{target}: the disk was not full after {limit} bytes")
