"""A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time each way (tests, benchmarks).

Each chunk is delivered at its arrival time plus ``delay``, in order, so a round trip costs
``2 * delay`` without delays adding up. Lifetime is bounded; ``close()`` ends every connection.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

HOST = "127.0.0.1"

_EOF = b""


class _Link:
    """The two directions of one proxied connection: closed when both ended, or one failed."""

    def __init__(self, close: Callable[[], None]):
        self._close = close
        self._lock = threading.Lock()
        self._ended = 0

    def half_done(self) -> None:
        with self._lock:
            self._ended += 1
            both = self._ended == 2
        if both:
            self._close()

    def abort(self) -> None:
        self._close()


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays every chunk by ``delay`` seconds in each direction.

    Round-trip time is ``2 * delay``. Each chunk is stamped when it arrives and written out at
    ``arrival + delay`` by a per-direction writer thread, so order is kept and a burst costs one
    delay, not one per chunk. With ``handshake=True`` (the default) the connection to the target
    is opened ``3 * delay`` after the client connected: the client's ``connect()`` to us returns at
    once, so this is where the SYN / SYN-ACK / ACK of a real link would have cost time. Bytes the
    client sends meanwhile still arrive at ``sent + delay`` or when the connection exists.

    ``accepted`` counts the connections accepted so far (benchmarks: connections per host).

    Lifecycle: listening once constructed; ``close()`` (or the context manager, or ``lifetime``
    seconds running out) stops accepting and cuts every connection. Threads are daemons.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay: float,
        handshake: bool = True,
        lifetime: float = 3600.0,
    ):
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.target = (target_host, target_port)
        self.delay = delay
        self.handshake = handshake
        self.host = HOST
        self.accepted = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept_loop, name="delayproxy", daemon=True)
        self._acceptor.start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    @property
    def rtt(self) -> float:
        return 2 * self.delay

    def close(self) -> None:
        """Stop listening and shut every proxied connection down (idempotent)."""
        self._closed.set()
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=2)

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DelayProxy {self.host}:{self.port} -> {self.target} delay={self.delay}s>"

    # -- internals ---------------------------------------------------------------------------

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1  # only this thread writes it
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._track(client):
                client.close()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        to_target: queue.Queue[tuple[float, bytes]] = queue.Queue()
        to_client: queue.Queue[tuple[float, bytes]] = queue.Queue()
        # Read the client at once so that arrival times are true even before the target exists.
        threading.Thread(target=self._read, args=(client, to_target), daemon=True).start()
        if self.handshake and self._closed.wait(3 * self.delay):
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._track(upstream):
            upstream.close()
            return

        def close_both() -> None:
            self._drop(client)
            self._drop(upstream)

        link = _Link(close_both)
        threading.Thread(target=self._read, args=(upstream, to_client), daemon=True).start()
        threading.Thread(target=self._write, args=(to_client, client, link), daemon=True).start()
        self._write(to_target, upstream, link)

    def _read(self, src: socket.socket, out: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = _EOF
            out.put((time.monotonic() + self.delay, data))
            if not data:
                return

    def _write(
        self, inbox: queue.Queue[tuple[float, bytes]], dst: socket.socket, link: _Link
    ) -> None:
        while not self._closed.is_set():
            try:
                due, data = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            wait = due - time.monotonic()
            if wait > 0 and self._closed.wait(wait):
                break
            try:
                if data:
                    dst.sendall(data)
                    continue
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on, after the data before it
            except OSError:
                link.abort()  # the peer is gone: cut the other direction too
                return
            break
        link.half_done()

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
