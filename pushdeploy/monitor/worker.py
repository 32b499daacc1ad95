"""One worker process: spawned with its fds per LISTEN_FDS, watched, signalled, reaped.

Lifecycle: ``spawn`` starts the app (``sockets.spawn_with_fds``) in a release directory with
the shared listening sockets and a fresh health channel; ``poll`` reaps it when it exits;
``terminate`` asks it to drain (SIGTERM) and ``kill`` ends it (SIGKILL). The worker's stdout and
stderr go straight to the app log file (opened with O_APPEND, so every worker and generation can
share it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field

from pushdeploy.monitor import sockets


@dataclass
class Worker:
    """A running (or exited) app process and the private health socket the monitor keeps for it."""

    slot: int
    generation: int
    pid: int
    health: socket.socket
    started: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.monotonic)
    ready: bool = False
    exit_status: int | None = None
    signalled: bool = False

    @property
    def health_address(self) -> tuple[str, int]:
        host, port = self.health.getsockname()[:2]
        return host, port

    @property
    def alive(self) -> bool:
        return self.exit_status is None

    def uptime(self) -> float:
        return time.monotonic() - self.started_mono

    def poll(self) -> int | None:
        """Reap the process if it exited; returns its status (negative: killed by that signal)."""
        if self.exit_status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: the exit status is lost
                pid, status = self.pid, 255 << 8
            if pid == self.pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
                self.health.close()
        return self.exit_status

    def terminate(self) -> None:
        """Ask the worker to finish in-flight requests and exit."""
        self._signal(signal.SIGTERM)
        self.signalled = True

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.exit_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)  # not reaped yet, so the pid cannot be reused

    def describe_exit(self) -> str:
        status = self.exit_status
        if status is None:
            return "running"
        if status < 0:
            try:
                return f"killed by {signal.Signals(-status).name}"
            except ValueError:
                return f"killed by signal {-status}"
        return f"exited with status {status}"

    def as_status(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "pid": self.pid,
            "generation": self.generation,
            "started": round(self.started, 3),
            "ready": self.ready,
        }


def spawn(
    *,
    app: str,
    release: str,
    slot: int,
    generation: int,
    listeners: list[socket.socket],
    env: dict[str, str],
    log_path: str,
) -> Worker:
    """Start ``app`` in ``release`` with the listeners (fd 3..) and a new health channel (last)."""
    health = sockets.bind_health()
    fds = [s.fileno() for s in listeners] + [health.fileno()]
    names = sockets.fd_names(len(listeners))
    child_env = sockets.activation_env(env, len(fds), names, release)
    child_env["PUSHDEPLOY_GENERATION"] = str(generation)
    child_env["PUSHDEPLOY_WORKER"] = str(slot)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        pid = sockets.spawn_with_fds(sockets.activation_argv(app), child_env, fds, log_fd)
    except OSError:
        health.close()
        raise
    finally:
        os.close(log_fd)
    return Worker(slot=slot, generation=generation, pid=pid, health=health)
