"""The bash tier's harness: lines calling the server-side bash functions, in a temporary root.

``BashHost`` is one "server": a deploy root (``app/``) laid out by ``Layout``, a ``bin/`` put
first on PATH for stub programs (a ``df`` that reports a full disk), and ``run``/``start`` for a
body of bash. The body runs inside the very script a deploy sends (``scripts.wrap``: the header
from SHELL_LAYOUT/PATH_NAMES and ``protocol.contract()``, prelude.sh, the git library, then the
body, ``OK=1`` and ``mark done``), so it calls the real functions by their real names and nothing
of the header is written twice. The script ends in ``main 3<&0 </dev/null`` like every one,
so its stdin, a pipe the test holds (``say``, ``close_input``), is what the guard reads as the
client's input. Each script runs in a session of its own, because prelude.sh
signals its whole process group (``kill -TERM 0``); ``stop`` ends what is left of it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pushdeploy import sources
from pushdeploy.config import deployconf
from pushdeploy.config.environment import Environment
from pushdeploy.remote import protocol, scripts
from pushdeploy.remote.layout import Layout

TOKEN = "token-of-this-run"
OWNER = "tester@laptop pid 4242 deploy"
WHO = "tester@laptop"
RUN = scripts.Run(TOKEN, OWNER, WHO, "20250101T120000Z")
CONF = "[bash]\nhost = deploy@bash-tier.invalid\nrepo = /nowhere/repo.git\npath = {path}\n"
TIMEOUT = 10.0  # seconds a script may take; each takes milliseconds


def release_id(n: int) -> str:
    """The n-th release's ID (n < 60), named for its commit ``sha(n)`` like a real one."""
    return f"20250101T1200{n:02d}Z-{sha(n)[:7]}"


def sha(n: int) -> str:
    return (f"{n:x}" * 40)[:40]


def entry(n: int, ref: str = "main", action: str = "deploy", outcome: str = "ok") -> list[str]:
    """Release n's line of .deploys as ``BashHost.history`` gives it (no time)."""
    return [sha(n), release_id(n), ref, WHO, action, outcome]


@dataclass
class Result:
    """What a script said (its markers, parsed as the client parses them) and how it ended."""

    status: int
    outcome: protocol.Outcome
    stderr: str

    @property
    def values(self) -> dict[str, str]:
        return self.outcome.values

    @property
    def failure(self) -> tuple[str | None, str | None]:
        """The failed step and why, as the ``fail`` marker said; (None, None) when none."""
        return self.outcome.failed_step, self.outcome.failure


class Running:
    """One script under way: its input to write to or close, its markers so far, its end."""

    def __init__(self, script: Path, environ: dict[str, str]) -> None:
        self.out_path = script.with_suffix(".out")
        self.err_path = script.with_suffix(".err")
        read_end, self._input = os.pipe()
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(
                [shutil.which("bash") or "bash", str(script)],
                stdin=read_end,
                stdout=out,
                stderr=err,
                env=environ,
                start_new_session=True,  # its `kill -TERM 0` must reach only its own processes
            )
        os.close(read_end)
        self.status: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def say(self, line: str) -> None:
        """A line of the client's input (a word for await_word, or "stop")."""
        os.write(self._input, f"{line}\n".encode())

    def close_input(self) -> None:
        """The client goes away: the end of the script's input (fd 3 for the guard)."""
        if self._input >= 0:
            os.close(self._input)
            self._input = -1

    def markers(self) -> list[str]:
        """The marker lines so far, but the beats (they come at any moment: beats_start)."""
        text = self.out_path.read_text(encoding="utf-8", errors="replace")
        beat = protocol.PREFIX + protocol.BEAT
        return [
            line for line in text.splitlines() if line.startswith(protocol.PREFIX) and line != beat
        ]

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Poll ``ready`` until it holds; fail, saying ``what`` was awaited, at the deadline."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s; markers:\n{self._said()}")
            time.sleep(0.005)

    def wait_for(self, marker: str, timeout: float = TIMEOUT) -> None:
        """Wait for a line starting ``::pushdeploy::MARKER``; fail if the script ends first."""
        start = protocol.PREFIX + marker

        def printed() -> bool:
            if any(line.startswith(start) for line in self.markers()):
                return True
            if self.process.poll() is not None:
                raise AssertionError(f"the script ended before {marker!r}:\n{self._said()}")
            return False

        self.wait_until(f"marker {marker!r}", printed, timeout)

    def kill(self) -> None:
        """SIGKILL to the script's own shell alone (its guard and children live on), reaped."""
        self.process.kill()
        self.status = self.process.wait(TIMEOUT)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float = TIMEOUT) -> Result:
        """Wait for the end (the input stays open until then, as a client's does) and read it."""
        try:
            status = self._wait(timeout) if self.status is None else self.status
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"the script still ran after {timeout} s:\n{self._said()}"
            ) from None
        self.close_input()
        outcome = protocol.Outcome(status)
        for line in self.out_path.read_text(encoding="utf-8").splitlines():
            outcome.add(protocol.parse(line))
        return Result(status, outcome, self.err_path.read_text(encoding="utf-8", errors="replace"))

    def _wait(self, timeout: float) -> int:
        """Popen.wait with a timeout polls, up to 50 ms late; a pidfd says at once (Linux)."""
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return self.process.wait(timeout)
        try:
            select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        return self.process.wait(0.01)  # TimeoutExpired when it still runs

    def stop(self) -> None:
        """End whatever is left of this script's session (its group), and the input.

        The group's ID is the script's PID: ours while the script is unreaped, and while any
        process of the group lives (Linux hands out no PID still in use as a group's ID). Once
        reaped, a live process with that PID is someone else's, and then nothing of ours is left.
        """
        if self.process.returncode is not None and Path(f"/proc/{self.pid}").exists():
            self.close_input()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.returncode is None:
            self.process.wait(TIMEOUT)
        self.close_input()

    def _said(self) -> str:
        errors = self.err_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(self.markers()) + (f"\nstderr:\n{errors}" if errors else "")


class BashHost:
    """A deploy root in ``base/app`` and the scripts run against it (see the module's docstring)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "app"
        self.bin = base / "bin"
        self.work = base / "harness"  # the scripts, their output and deploy.conf
        for folder in (self.root, self.bin, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        self.layout = Layout(str(self.root))
        self.releases = Path(self.layout.releases)
        self.current = Path(self.layout.current)
        self.deploys = Path(self.layout.deploys)
        self.state = Path(self.layout.state)
        self.lock = Path(self.layout.lock)
        self.run_logs = Path(self.layout.run_logs)
        self.started: list[Running] = []
        self._scripts = 0

    def environment(self, **settings: str) -> Environment:
        """The environment [bash] of a deploy.conf for this root, plus ``settings`` (keys)."""
        conf = self.work / "deploy.conf"
        extra = "".join(f"{key.replace('_', '-')} = {value}\n" for key, value in settings.items())
        conf.write_text(CONF.format(path=self.root) + extra, encoding="utf-8")
        return deployconf.load(conf, "bash", environ={})

    def start(self, body: str, *, run: scripts.Run = RUN, **settings: str) -> Running:
        """Start the deploy script of ``settings`` with ``body`` as what it does."""
        env = self.environment(**settings)
        text = scripts.wrap(env, run, [body], user=True, kind="bash tier", source=sources.of(env))
        return self.launch(text)

    def launch(self, text: str) -> Running:
        """Start a whole script as built (``scripts.setup``, say), stub programs first on PATH."""
        self._scripts += 1
        script = self.work / f"script{self._scripts}.sh"
        script.write_text(text, encoding="utf-8")
        environ = dict(os.environ, PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        running = Running(script, environ)
        self.started.append(running)
        return running

    def run(self, body: str, *, run: scripts.Run = RUN, **settings: str) -> Result:
        """Run ``body`` to its end, the client's input open all along."""
        return self.start(body, run=run, **settings).finish()

    def stop_all(self) -> None:
        for running in self.started:
            running.stop()

    # --- the state a script meets ---

    def release(self, n: int, live: bool = False) -> str:
        """Release n on disk with its REVISION (and ``current`` at it when ``live``)."""
        release = release_id(n)
        (self.releases / release).mkdir(parents=True)
        (self.releases / release / "REVISION").write_text(f"{sha(n)}\n", encoding="utf-8")
        if live:
            self.current.unlink(missing_ok=True)
            self.current.symlink_to(f"releases/{release}")
        return release

    def record(self, *numbers: int, action: str = "deploy", outcome: str = "ok") -> None:
        """A line of .deploys per release number, as ``log`` writes them."""
        with self.deploys.open("a", encoding="utf-8") as deploys:
            for n in numbers:
                fields = (sha(n), "2025-01-01T12:00:00Z", release_id(n), "main", WHO, action)
                deploys.write("\t".join((*fields, outcome)) + "\n")

    def history(self) -> list[list[str]]:
        """.deploys, each line's fields without the time (field 2)."""
        lines = self.deploys.read_text(encoding="utf-8").splitlines()
        return [fields[:1] + fields[2:] for fields in (line.split("\t") for line in lines)]

    def hold_lock(self, token: str, owner: str, age: float = 0.0) -> None:
        """Someone's lock, refreshed ``age`` seconds ago."""
        self.lock.mkdir(parents=True)
        (self.lock / protocol.LOCK_TOKEN).write_text(f"{token}\n", encoding="utf-8")
        (self.lock / protocol.LOCK_OWNER).write_text(f"{owner}\n", encoding="utf-8")
        then = time.time() - age
        os.utime(self.lock / protocol.LOCK_OWNER, (then, then))

    def stub(self, name: str, text: str) -> None:
        """A program ``name`` found first on the script's PATH: a /bin/sh script."""
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{text}", encoding="utf-8")
        path.chmod(0o755)

    def link(self, path: Path) -> str:
        """What the symlink at ``path`` holds, or "" when there is none."""
        return os.readlink(path) if path.is_symlink() else ""
