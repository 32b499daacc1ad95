"""Open-loop HTTP/1.1 load from one thread: requests at fixed times over a bounded connection pool.

``python3 bench/loadgen.py PORT --rate R --duration S [--keepalive] [--pool N]`` sends
``R * S`` ``GET /`` requests to 127.0.0.1:PORT, request ``i`` scheduled at ``start + i / R``,
and prints one line per request when done::

    scheduled latency ok lag new error

``scheduled`` is a ``time.monotonic()`` reading (CLOCK_MONOTONIC, the same clock in every
process of the machine, so the caller can place requests inside its own time windows);
``latency`` counts from the scheduled time, not from the moment the request went out, so a
stall of the server *or of this client* shows up instead of being hidden (no coordinated
omission); ``lag`` is this client's own part of it (scheduled time to send); ``new`` is 1 when
the request opened a connection. Nothing is retried: ``ok`` is 0 for any socket error, a
connection closed before the whole answer came, a status other than 200, or a body that does
not start with one of ``--expect`` (default ``A`` or ``B``, the bench's two releases).

Keep-alive (``--keepalive``): up to ``--pool`` connections are kept open and reused, like a
client's connection pool. An answer with ``Connection: close`` closes its connection, and the
next request opens a new one (nothing was sent on the closed one, so that is not a retry). A
pooled connection the server closed while idle is dropped unused; one it closes just as a request
goes out fails that request. Without keep-alive every request sends ``Connection: close`` on a
connection of its own.

Why one thread and ``select``: a pool of client threads (an earlier version of the bench used 32
``http.client`` threads) measures its own GIL contention. When the monitor retired a generation
and 32 kept-alive connections reconnected at once, those threads added 2-5 ms to requests that
the server had answered in well under 1 ms. Here one thread sleeps in ``select`` (microsecond
timeouts, unlike ``epoll``'s milliseconds) until the next send time or the next socket event.
Standard library only; bounded by ``duration`` plus the per-request timeout.
"""

from __future__ import annotations

import argparse
import collections
import errno
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

REQUEST_TIMEOUT = 5.0
RECV_SIZE = 65536


@dataclass
class Outcome:
    scheduled: float
    latency: float
    ok: bool
    lag: float
    new: bool
    error: str = ""

    def line(self) -> str:
        return (
            f"{self.scheduled:.6f} {self.latency:.6f} {int(self.ok)} {self.lag:.6f} "
            f"{int(self.new)} {self.error or '-'}"
        )

    @classmethod
    def parse(cls, line: str) -> Outcome:
        """The outcome ``line`` printed (for the caller that ran this script)."""
        scheduled, latency, ok, lag, new, error = line.split()
        error = "" if error == "-" else error
        return cls(float(scheduled), float(latency), ok == "1", float(lag), new == "1", error)


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    connected: bool
    new: bool = True  # no request has been answered on it yet
    scheduled: float = 0.0
    lag: float = 0.0
    pending: bytes = b""  # the part of the request not sent yet
    received: bytearray = field(default_factory=bytearray)


class LoadGenerator:
    def __init__(self, port: int, keepalive: bool, pool: int, expect: tuple[bytes, ...]) -> None:
        self.port = port
        self.keepalive = keepalive
        self.pool = pool
        self.expect = expect
        self.request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (
            b"\r\n" if keepalive else b"Connection: close\r\n\r\n"
        )
        self.selector = selectors.SelectSelector()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.queued: collections.deque[float] = collections.deque()  # no connection free yet
        self.outcomes: list[Outcome] = []

    def run(self, rate: float, duration: float) -> list[Outcome]:
        start = time.monotonic() + 0.05
        total = int(rate * duration)
        deadline = start + duration + 2 * REQUEST_TIMEOUT
        sent = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            while sent < total and start + sent / rate <= now:
                self.queued.append(start + sent / rate)
                sent += 1
            self._dispatch_queued()
            if sent >= total and not self.busy and not self.queued:
                break
            wake = start + sent / rate if sent < total else now + 0.05
            for key, events in self.selector.select(max(0.0, wake - time.monotonic())):
                self._on_event(key.data, events)
            self._expire(time.monotonic())
        for conn in [*self.busy]:
            self._finish(conn, False, "unfinished")
        return self.outcomes

    # -- connections ---------------------------------------------------------------------------

    def _dispatch_queued(self) -> None:
        while self.queued and (self.idle or len(self.idle) + len(self.busy) < self.pool):
            scheduled = self.queued.popleft()
            conn = self.idle.pop() if self.idle else self._open(scheduled)
            if conn is not None:
                self._send(conn, scheduled)

    def _open(self, scheduled: float) -> Connection | None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(("127.0.0.1", self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            now = time.monotonic()
            error = type(OSError(code, "connect")).__name__  # errno -> ConnectionRefusedError...
            self.outcomes.append(
                Outcome(scheduled, now - scheduled, False, now - scheduled, True, error)
            )
            return None
        conn = Connection(sock, connected=code == 0)
        self.selector.register(sock, selectors.EVENT_WRITE, conn)
        return conn

    def _send(self, conn: Connection, scheduled: float) -> None:
        conn.scheduled = scheduled
        conn.lag = time.monotonic() - scheduled
        conn.pending = self.request
        conn.received.clear()
        self.busy.add(conn)
        self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def _on_event(self, conn: Connection, events: int) -> None:
        if conn not in self.busy:  # an idle pooled connection the server closed: drop it
            self.idle.remove(conn)
            self._close(conn)
            return
        try:
            if events & selectors.EVENT_WRITE:
                self._write(conn)
            else:
                self._read(conn)
        except OSError as e:
            self._finish(conn, False, type(e).__name__)

    def _write(self, conn: Connection) -> None:
        if not conn.connected:
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, "connect")  # OSError picks the subclass for the errno
            conn.connected = True
        sent = conn.sock.send(conn.pending)
        conn.pending = conn.pending[sent:]
        if not conn.pending:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def _read(self, conn: Connection) -> None:
        data = conn.sock.recv(RECV_SIZE)
        if not data:
            self._finish(conn, False, "RemoteDisconnected")
            return
        conn.received += data
        head, found, body = bytes(conn.received).partition(b"\r\n\r\n")
        if not found:
            return
        status_line, *header_lines = head.split(b"\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if len(body) < int(headers.get(b"content-length", b"0")):
            return
        status = int(status_line.split()[1])
        ok = status == 200 and body.startswith(self.expect)
        close = not self.keepalive or headers.get(b"connection") == b"close"
        self._finish(conn, ok, "" if ok else f"HTTP-{status}", close=close)

    def _finish(self, conn: Connection, ok: bool, error: str, close: bool = True) -> None:
        now = time.monotonic()
        self.outcomes.append(
            Outcome(conn.scheduled, now - conn.scheduled, ok, conn.lag, conn.new, error)
        )
        self.busy.discard(conn)
        conn.new = False
        if close or not ok:
            self._close(conn)
        else:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)  # to see a close while idle
            self.idle.append(conn)

    def _close(self, conn: Connection) -> None:
        self.selector.unregister(conn.sock)
        conn.sock.close()

    def _expire(self, now: float) -> None:
        for conn in [c for c in self.busy if now - c.scheduled > REQUEST_TIMEOUT]:
            self._finish(conn, False, "timeout")


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("--rate", type=float, required=True, help="requests per second")
    p.add_argument("--duration", type=float, required=True, help="seconds")
    p.add_argument("--keepalive", action="store_true")
    p.add_argument("--pool", type=int, default=32, help="most connections open at once")
    p.add_argument("--expect", default="A,B", help="comma-separated body prefixes that are ok")
    args = p.parse_args(argv)
    expect = tuple(prefix.encode() for prefix in args.expect.split(","))
    generator = LoadGenerator(args.port, args.keepalive, args.pool, expect)
    for outcome in generator.run(args.rate, args.duration):
        out.write(outcome.line() + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
