"""TCP to the hosts: ``dial`` (tuned for SSH's small packets), and connections dialed ahead.

Standard library only, so it costs nothing to import before Paramiko.

Tuning: ``dial`` sets TCP_NODELAY, and re-arms TCP_QUICKACK before every read
(``QuickAckSocket``): sshd sends the small packets of a non-interactive session under Nagle's
rule, so when our ACK of one is delayed (up to 40 ms on Linux) its next one waits. It did, on
every channel open: +40 ms at 0 ms RTT.

Dialing ahead: a command's first round trips (TCP's handshake, then the server's banner) are
spent waiting, while pushdeploy still loads Paramiko and builds its scripts (0.1 s or more).
``Ahead`` starts them as soon as deploy.conf has named the hosts, one thread per host, and
sends our side of SSH's version exchange at once (``GREETING``: sshd sends its key exchange
offer only once it has it, a round trip later otherwise; Paramiko's own is then not sent). The
transport ``take``s the connection only when its route (~/.ssh/config, route.py) goes straight
to that same name and port; otherwise (a HostName, a Port, a ProxyJump or a ProxyCommand) it
dials as it always did, and what was dialed ahead is closed at the end of the command, nothing
but the greeting ever sent on it. A bare name without a dot (``web1``, ``localhost``) is usually
an alias of ~/.ssh/config, so it is not dialed ahead (nor looked up in DNS); nor is a connection
used once older than FRESH seconds (a server drops a login that does not come: LoginGraceTime),
or once the server has closed it. A dial that failed fails the transport with the same error,
and one not done within the host's ConnectTimeout (login.hop) with a time-out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pushdeploy import __version__

SSH_PORT = 22
# in SSH's version exchange (login.FastTransport): printable ASCII, no blank, no "-" (RFC 4253)
CLIENT_ID = "pushdeploy_" + "".join(c if "!" <= c <= "~" and c != "-" else "_" for c in __version__)
GREETING = f"SSH-2.0-{CLIENT_ID}\r\n".encode()
TIMEOUT = 15.0  # seconds: to connect, and for the key exchange
FRESH = 10.0  # seconds: a connection dialed ahead and not taken by then is not used

Target = tuple[str, int]  # (name, port)


def dial(host: str, port: int, timeout: float = TIMEOUT) -> QuickAckSocket:
    """A TCP connection to ``host:port`` (each address in turn), tuned as the module doc says.

    Raises what ``socket`` raises: gaierror, UnicodeError (a bad name), or the last OSError.
    """
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = QuickAckSocket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address for {host}")


class QuickAckSocket(socket.socket):
    """A socket that acknowledges what it reads at once (TCP_QUICKACK; Linux only, else a no-op).

    Linux leaves quick-ACK mode on its own, so it is re-armed before every read. ``greeted``:
    the GREETING this socket sent ahead; the first ``send`` of those same bytes (Paramiko's)
    is then taken as done.
    """

    QUICKACK = getattr(socket, "TCP_QUICKACK", None)
    greeted = b""

    def send(self, data: Any, flags: int = 0) -> int:
        greeted, self.greeted = self.greeted, b""
        if greeted and bytes(data) == greeted:
            return len(greeted)
        return super().send(data, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.QUICKACK is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: recv says so
                self.setsockopt(socket.IPPROTO_TCP, self.QUICKACK, 1)
        return super().recv(bufsize, flags)


def worth_dialing(name: str) -> bool:
    """An IP address, or a name with a dot: not, in all likelihood, an alias of ~/.ssh/config."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name.strip("[]"))
        return True
    return "." in name.strip(".")


class _Dial:
    """One connection being dialed in its own thread: its socket, or the error it ended with."""

    def __init__(self, target: Target, clock: Callable[[], float]) -> None:
        self.target, self.clock = target, clock
        self.done = threading.Event()
        self.sock: socket.socket | None = None
        self.error: OSError | UnicodeError | None = None
        self.connected = 0.0
        self.closed = False
        self.lock = threading.Lock()
        name = f"pushdeploy-dial-{target[0]}:{target[1]}"
        threading.Thread(target=self._dial, name=name, daemon=True).start()

    def _dial(self) -> None:
        sock: QuickAckSocket | None = None
        try:
            sock = dial(*self.target)
            sock.sendall(GREETING)  # sshd sends its KEXINIT once it has ours: now, not later
            sock.greeted = GREETING
        except (OSError, UnicodeError) as exc:
            if sock is not None:
                sock.close()
            sock, self.error = None, exc
        with self.lock:
            if self.closed and sock is not None:  # the command ended first
                sock.close()
                sock = None
            self.sock, self.connected = sock, self.clock()
        self.done.set()

    def take(self, wait: float = TIMEOUT + 1) -> socket.socket | None:
        """The connection if it is fresh and open; the dial's error; else None (it is closed).
        TimeoutError when it is not done within ``wait`` seconds more (ConnectTimeout)."""
        if not self.done.wait(wait):
            self.close()  # it closes what it connects, if it ever does
            raise TimeoutError("timed out")
        with self.lock:
            sock, self.sock = self.sock, None
        if self.error is not None:
            raise self.error
        if sock is None:
            return None
        if self.clock() - self.connected > FRESH or not _open(sock):
            sock.close()
            return None
        return sock

    def close(self) -> None:
        with self.lock:
            self.closed = True
            sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


def _open(sock: socket.socket) -> bool:
    """The server has not closed it (a read, not waiting, would not say end of stream)."""
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0.0)  # with a timeout, recv would wait for something to read
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:  # nothing to read yet: open
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)


class Ahead:
    """Connections dialed ahead for one command, each taken at most once."""

    def __init__(self, targets: Iterable[Target], clock: Callable[[], float] = time.monotonic):
        self._dials = {target: _Dial(target, clock) for target in dict.fromkeys(targets)}
        self._lock = threading.Lock()

    def take(self, name: str, port: int, wait: float = TIMEOUT + 1) -> socket.socket | None:
        with self._lock:
            found = self._dials.pop((name, port), None)
        return None if found is None else found.take(wait)

    def close(self) -> None:
        with self._lock:
            left, self._dials = list(self._dials.values()), {}
        for found in left:
            found.close()


_ACTIVE: list[Ahead] = []  # of the commands running in this process (tests run several)
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def dialing_ahead(targets: Iterable[Target]) -> Iterator[Ahead]:
    """Dial ``targets`` ahead for the time of the block; what was not taken is then closed."""
    ahead = Ahead(targets)
    with _ACTIVE_LOCK:
        _ACTIVE.append(ahead)
    try:
        yield ahead
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.remove(ahead)
        ahead.close()


def taken(name: str, port: int, wait: float = TIMEOUT + 1) -> socket.socket | None:
    """The connection to ``name:port`` dialed ahead for a running command, if there is one;
    ``wait``: at most so many seconds more for its dial to end (else TimeoutError)."""
    with _ACTIVE_LOCK:
        active = list(_ACTIVE)
    for ahead in active:
        sock = ahead.take(name, port, wait)
        if sock is not None:
            return sock
    return None
