"""Reading what a peer sent, in tests: exactly N bytes (less only if it closed first)."""

from __future__ import annotations

import socket


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from ``sock``, or what came before the peer closed it."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
