"""A TCP proxy on 127.0.0.1 whose faults a test triggers at any moment (the network breaking).

``FaultProxy`` forwards every connection to a target port and, on the test's word (from any
thread), breaks all of them:

* ``cut()``: close every connection now, both sides (each sees its end of stream);
* ``cut_after(n)``: the same, once ``n`` more bytes have passed, both directions counted (the
  last chunk is cut to fit), for sweeping a window of a protocol byte by byte;
* ``stall(seconds)``: hold all traffic, then let it go on as it was;
* ``blackhole()``: a half-open network: nothing is forwarded either way any more, yet the
  sockets stay open and neither side ever sees an end (no FIN, no RST) until ``heal()`` or
  ``close()``. What is held is not read, so the senders' buffers fill as over a dead link.

``heal()`` ends a stall or a black hole and forgets a pending ``cut_after``. ``accepted``,
``open`` and ``passed`` (bytes each way) count what went through.

Lifecycle: listening once constructed; ``close()`` (or the context manager, or ``lifetime``
seconds running out) stops accepting and closes every connection. Threads are daemons. (The
proxy that delays every chunk instead is delayproxy.py.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

HOST = "127.0.0.1"
_CHUNK = 65536
_POLL = 0.2  # seconds a held chunk waits before it looks again (a stall's end, the lifetime)


class _Connection:
    """One proxied connection: the client's socket and the target's."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class FaultProxy:
    """A TCP proxy from 127.0.0.1:``port`` to ``target``, with faults on demand (module doc)."""

    def __init__(self, target_host: str, target_port: int, *, lifetime: float = 600.0) -> None:
        self.target = (target_host, target_port)
        self.host = HOST
        self.accepted = 0
        self.passed = {"up": 0, "down": 0}  # up: client to target; down: target to client
        self._state = threading.Condition()
        self._connections: set[_Connection] = set()
        self._budget: int | None = None  # bytes left before a cut_after cuts
        self._cutting = False  # the chunk that spent the budget is on its way: hold the rest
        self._stalled_until = 0.0  # time.monotonic()
        self._holed = False
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self._acceptor.start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    # -- faults, from any thread -----------------------------------------------------------------

    def cut(self) -> None:
        """Close every connection now, both sides."""
        with self._state:
            connections, self._connections = list(self._connections), set()
            self._budget, self._cutting = None, False
            self._state.notify_all()
        for connection in connections:
            connection.close()

    def cut_after(self, count: int) -> None:
        """Close every connection once ``count`` more bytes have passed (both ways counted)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._state:
            self._budget = count

    def stall(self, seconds: float) -> None:
        """Hold all traffic for ``seconds``, then forward it as if nothing happened."""
        with self._state:
            self._stalled_until = max(self._stalled_until, time.monotonic() + seconds)
            self._state.notify_all()

    def blackhole(self) -> None:
        """Forward nothing any more, either way, and never close: a half-open network."""
        with self._state:
            self._holed = True
            self._state.notify_all()

    def heal(self) -> None:
        """End a stall or a black hole (what was held goes on) and forget a pending cut."""
        with self._state:
            self._holed, self._stalled_until = False, 0.0
            if not self._cutting:
                self._budget = None
            self._state.notify_all()

    @property
    def open(self) -> int:
        with self._state:
            return len(self._connections)

    @property
    def total(self) -> int:
        """Bytes passed so far, both ways."""
        with self._state:
            return self.passed["up"] + self.passed["down"]

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        with self._state:
            self._closed = True
            self._state.notify_all()
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        if self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FaultProxy {self.host}:{self.port} -> {self.target[0]}:{self.target[1]}>"

    # -- internals -------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(client, upstream)
            with self._state:
                if self._closed:
                    connection.close()
                    return
                self.accepted += 1
                self._connections.add(connection)
            for src, dst, way in ((client, upstream, "up"), (upstream, client, "down")):
                name = f"faultproxy-{way}"
                args = (connection, src, dst, way)
                threading.Thread(target=self._pump, args=args, name=name, daemon=True).start()

    def _pump(
        self, connection: _Connection, src: socket.socket, dst: socket.socket, way: str
    ) -> None:
        """Copy one direction, a chunk at a time, each chunk let through by ``_admit``."""
        while True:
            if not self._wait(connection):  # not even read while held: the sender's buffers fill
                return
            try:
                data = src.recv(_CHUNK)
            except OSError:
                data = b""
            admitted = self._admit(connection, len(data), way)
            if admitted is None:
                return  # cut (or closed) while it was held
            allowed, last = admitted
            try:
                if data:
                    dst.sendall(data[:allowed])
                else:
                    dst.shutdown(socket.SHUT_WR)  # pass a half-close on
            except OSError:
                self._drop(connection)
                data = b""
            if last:  # a cut_after's last byte went through (or could not): cut, freeing the rest
                self.cut()
                return
            if not data:
                return

    def _wait(self, connection: _Connection) -> bool:
        """Wait while traffic is held (a stall, a black hole, a cut on its way); False: the
        connection is gone. Called with the lock held, or takes it."""
        with self._state:
            while not (self._closed or connection not in self._connections):
                if not (self._holed or time.monotonic() < self._stalled_until or self._cutting):
                    return True
                self._state.wait(_POLL)
            return False

    def _admit(self, connection: _Connection, size: int, way: str) -> tuple[int, bool] | None:
        """How many of ``size`` bytes read may go on, once nothing holds them, and whether they
        end a ``cut_after`` (the caller then cuts); None: the connection is gone. Counts what it
        lets through. While that last chunk is on its way, every other chunk is held."""
        with self._state:
            if not self._wait(connection):
                return None
            allowed = size if self._budget is None else min(size, self._budget)
            if self._budget is not None and (size or not self._budget):
                self._budget -= allowed
                self._cutting = self._budget == 0
            self.passed[way] += allowed
            return allowed, self._cutting

    def _drop(self, connection: _Connection) -> None:
        with self._state:
            self._connections.discard(connection)
        connection.close()
