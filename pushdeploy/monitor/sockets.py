"""The monitor's sockets: listen endpoints, per-worker health channels, the LISTEN_FDS hand-off.

Lifecycle: the supervisor binds every ``listen`` endpoint once at start and keeps them open until
it stops, so a reload never closes a listening socket (connections queue in the kernel while
generations change hands). Each worker also gets one private loopback socket, its *health
channel*, passed as the last fd and named ``health`` in LISTEN_FDNAMES; readiness and heartbeat
talk to that worker alone through it (the shared sockets cannot tell workers apart).

How a worker starts: systemd's protocol wants the fds at 3, 4, ... and ``LISTEN_PID`` equal to
the pid of the process that reads them. ``subprocess`` cannot renumber fds and ``preexec_fn`` is
unsafe once threads exist (readiness checks run in threads), so ``spawn_with_fds`` uses
``os.posix_spawn`` with dup2 file actions to put the fds at 3.. and runs
``/bin/sh -c 'cd "$PUSHDEPLOY_RELEASE"; LISTEN_PID=$$; export LISTEN_PID; exec <app>'``: ``$$`` is
the shell's pid and ``exec`` keeps it, so ``LISTEN_PID`` is the app's pid -- hence ``app`` must
be a simple command. No extra interpreter starts (an earlier Python trampoline cost ~20 ms of
CPU per worker, visible as tail latency during reloads).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import stat
from dataclasses import dataclass
from typing import Any

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
    """Bind and listen; a stale unix socket file (one nobody accepts on) is replaced."""
    if endpoint.is_unix:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(endpoint.path).st_mode) and not _answers(endpoint.path):
                os.unlink(endpoint.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: Any = endpoint.path
    else:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _answers(path: str) -> bool:
    """Is a live server behind this unix socket file? (Then it is not ours to remove.)"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def bind_health() -> socket.socket:
    """A private loopback listener for one worker's readiness and heartbeat checks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def fd_names(listen_count: int) -> list[str]:
    """LISTEN_FDNAMES entries: every listen socket, then the worker's health channel."""
    return [LISTEN_FD_NAME] * listen_count + [HEALTH_FD_NAME]


# `$$` is the shell's pid and `exec` keeps it, so LISTEN_PID ends up the app's own pid.
SHELL = 'cd "$PUSHDEPLOY_RELEASE" || exit 127; LISTEN_PID=$$; export LISTEN_PID; exec '


def activation_argv(app: str) -> list[str]:
    """The command that starts ``app`` with LISTEN_PID set to its own pid (see module doc)."""
    return ["/bin/sh", "-c", SHELL + app]


def activation_env(
    base: dict[str, str], count: int, names: list[str], release: str
) -> dict[str, str]:
    """The environment for ``activation_argv``: fd count and names; no stale protocol vars."""
    env = {
        k: v
        for k, v in base.items()
        if k not in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET")
    }
    env["LISTEN_FDS"] = str(count)
    env["LISTEN_FDNAMES"] = ":".join(names)
    env["PUSHDEPLOY_RELEASE"] = release
    return env


def spawn_with_fds(argv: list[str], env: dict[str, str], fds: list[int], log_fd: int) -> int:
    """``posix_spawn`` argv with ``fds`` at 3, 4, ..., stdin /dev/null, stdout+stderr to log_fd.

    Every other fd stays behind: Python opens them close-on-exec, the copies made here to
    renumber safely (at 3+len(fds) and up, so no dup2 clobbers a source) are close-on-exec too,
    and inheritable fds the monitor itself inherited (from a shell, a CI runner) are closed.
    Signals Python ignores (SIGPIPE, SIGXFSZ) are reset to their defaults, as subprocess does.
    """
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + len(fds)) for fd in fds]
    try:
        actions: list[tuple[Any, ...]] = [
            (os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds() if fd not in high
        ]
        actions += [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log_fd, 1),
            (os.POSIX_SPAWN_DUP2, log_fd, 2),
        ]
        actions += [(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(high)]
        return os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=actions,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            setsigmask=(),
        )
    finally:
        for fd in high:
            os.close(fd)


def _inheritable_fds() -> list[int]:
    """Open fds above stderr without close-on-exec (like subprocess's close_fds, for spawn)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = os.listdir("/dev/fd")
    found = []
    for name in names:
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):  # the directory listing's own fd, now closed
                if os.get_inheritable(fd):
                    found.append(fd)
    return found


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
