"""The fault proxy the connection tests use (tests/support/faultproxy.py), against an echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy("127.0.0.1", int(server.server_address[1]), lifetime=30) as proxy:
            yield proxy
    finally:
        server.shutdown()
        server.server_close()


def connect(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=2)
    sock.settimeout(2)
    return sock


def received(sock: socket.socket, limit: int = 1 << 16) -> bytes:
    """What comes until the end of the stream (or ``limit`` bytes)."""
    data = b""
    while len(data) < limit and (chunk := sock.recv(limit - len(data))):
        data += chunk
    return data


def test_it_forwards_both_ways_and_counts_the_bytes(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        assert received(sock, 5) == b"hello"
    assert (proxy.accepted, proxy.passed) == (1, {"up": 5, "down": 5})


def test_cut_after_lets_exactly_n_bytes_through_then_closes_both_sides(proxy: FaultProxy) -> None:
    """7 bytes: the 5 sent and 2 of their echo; then the client sees the end."""
    proxy.cut_after(7)
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        assert received(sock) == b"he"
    assert (proxy.total, proxy.open) == (7, 0)


def test_a_black_hole_holds_everything_without_closing_until_it_heals(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        proxy.blackhole()
        sock.sendall(b"lost?")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # neither data nor the end of the stream
            sock.recv(1)
        assert (proxy.total, proxy.open) == (0, 1)
        proxy.heal()
        sock.settimeout(2)
        assert received(sock, 5) == b"lost?"


def test_a_stall_delays_traffic_then_it_goes_on(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        proxy.stall(0.3)
        started = time.monotonic()
        sock.sendall(b"late")
        assert received(sock, 4) == b"late"
        assert time.monotonic() - started >= 0.25


def test_cut_closes_every_connection_and_new_ones_still_pass(proxy: FaultProxy) -> None:
    first, second = connect(proxy), connect(proxy)
    with first, second:
        for sock in (first, second):  # both through the proxy before the cut
            sock.sendall(b"x")
            assert received(sock, 1) == b"x"
        proxy.cut()
        assert (received(first), received(second)) == (b"", b"")
    with connect(proxy) as third:
        third.sendall(b"y")
        assert received(third, 1) == b"y"
