"""The monitor's sockets: listen endpoints, per-worker health channels, the LISTEN_FDS hand-off.

Lifecycle: the supervisor binds every ``listen`` endpoint once at start and keeps them open until
it stops, so a reload never closes a listening socket (connections queue in the kernel while
generations change hands). Each worker also gets one private loopback socket, its *health
channel*, passed as the last fd and named ``health`` in LISTEN_FDNAMES; readiness and heartbeat
talk to that worker alone through it (the shared sockets cannot tell workers apart).

Why the trampoline: systemd's protocol wants the fds at 3, 4, ... and ``LISTEN_PID`` equal to the
pid of the process that reads them. ``subprocess`` cannot renumber fds, and ``preexec_fn`` is
unsafe once threads exist (readiness checks run in threads). So a worker is started as
``python3 -I -S -c TRAMPOLINE`` with the fds inherited through ``pass_fds``: the trampoline moves
them to 3.., sets ``LISTEN_PID`` to its own pid and ``exec``s ``/bin/sh -c 'exec <app>'``. Both
execs keep the pid, so ``LISTEN_PID`` is the app's pid -- hence ``app`` must be a simple command.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from dataclasses import dataclass

LISTEN_FD_NAME = "listen"
HEALTH_FD_NAME = "health"


@dataclass(frozen=True)
class Endpoint:
    """One ``listen`` entry: a TCP host and port, or a unix socket path."""

    text: str
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def is_unix(self) -> bool:
        return bool(self.path)


def parse_endpoint(text: object, *, base_dir: str = ".") -> Endpoint:
    """Parse ``host:port``, ``[v6]:port`` or a path containing ``/`` (relative to ``base_dir``)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"expected an address string, got {text!r}")
    if "/" in text:
        return Endpoint(text=text, path=os.path.normpath(os.path.join(base_dir, text)))
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
        if ":" in host:
            raise ValueError(f"{text!r}: write IPv6 addresses as [addr]:port")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected host:port, [v6addr]:port or a socket path")
    return Endpoint(text=text, host=host, port=int(port))


def bind(endpoint: Endpoint, backlog: int = socket.SOMAXCONN) -> socket.socket:
    """Bind and listen; a stale unix socket file (not any other file) is replaced."""
    if endpoint.is_unix:
        try:
            if stat.S_ISSOCK(os.lstat(endpoint.path).st_mode):
                os.unlink(endpoint.path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(endpoint.path)
    else:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    sock.listen(backlog)
    return sock


def bind_health() -> socket.socket:
    """A private loopback listener for one worker's readiness and heartbeat checks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def fd_names(listen_count: int) -> list[str]:
    """LISTEN_FDNAMES entries: every listen socket, then the worker's health channel."""
    return [LISTEN_FD_NAME] * listen_count + [HEALTH_FD_NAME]


TRAMPOLINE = """\
import fcntl, os, sys
fds = [int(x) for x in os.environ.pop("PUSHDEPLOY_PASS_FDS").split(",")]
n = len(fds)
high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + n) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_FDS"] = str(n)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv("/bin/sh", ["/bin/sh", "-c", "exec " + sys.argv[1]])
"""


def activation_argv(app: str) -> list[str]:
    """The command that starts ``app`` with the passed fds renumbered from 3 (see module doc)."""
    return [sys.executable or "python3", "-I", "-S", "-c", TRAMPOLINE, app]


def activation_env(base: dict[str, str], fds: list[int], names: list[str]) -> dict[str, str]:
    """The environment for ``activation_argv``: fds to move, their names; no stale protocol vars."""
    env = {
        k: v
        for k, v in base.items()
        if k not in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET")
    }
    env["PUSHDEPLOY_PASS_FDS"] = ",".join(str(fd) for fd in fds)
    env["LISTEN_FDNAMES"] = ":".join(names)
    return env


def sd_notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``READY=1`` and friends to systemd when run as a Type=notify service; else no-op."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True
