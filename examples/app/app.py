"""Example app for pushdeploy's monitor: stdlib HTTP, socket activation, graceful SIGTERM.

Serves every socket passed by systemd's protocol (LISTEN_FDS, when LISTEN_PID is this process),
else binds 127.0.0.1:$PORT (default 8000). ``GET /`` answers ``<VERSION file> <pid>``,
``GET /health`` answers ``ok``. On SIGTERM it stops accepting, answers in-flight requests with
``Connection: close``, closes kept-alive connections once they are idle, and exits when none is
left.

Test knobs, read from files in the working directory (the release):
``BROKEN`` exit 1 at start; ``SLOW_START`` (seconds) sleep before serving; ``HANG_AFTER``
(seconds) after that long every handler blocks forever (so only a heartbeat can notice).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

DRAIN_IDLE = 1.0  # while draining, close a kept-alive connection idle this long
STARTED = time.monotonic()
draining = threading.Event()
connections = 0
connections_lock = threading.Lock()


def knob(name: str) -> float | None:
    try:
        with open(name, encoding="utf-8") as f:
            return float(f.read().strip() or 0)
    except FileNotFoundError:
        return None


def listen_sockets() -> list[socket.socket]:
    """The sockets systemd (or pushdeploy's monitor) passed us, else our own on $PORT."""
    if os.environ.get("LISTEN_PID") == str(os.getpid()):
        count = int(os.environ.get("LISTEN_FDS", "0"))
        return [socket.socket(fileno=fd) for fd in range(3, 3 + count)]
    sock = socket.create_server(("127.0.0.1", int(os.environ.get("PORT", "8000"))))
    return [sock]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Buffer each response and send it in one write at the end of the request. Unbuffered (the
    # default), the headers and the body go out as two small segments, and Nagle's algorithm
    # holds the second until the client ACKs the first, which a delayed ACK puts off ~40 ms.
    wbufsize = 64 * 1024
    version = "unknown"
    hang_after: float | None = None

    def handle(self) -> None:
        global connections
        with connections_lock:
            connections += 1
        try:
            idle_since = time.monotonic()
            self.close_connection = False
            while not self.close_connection:
                # Wait for the next request in short slices so a drain can close idle ones.
                readable, _, _ = select.select([self.connection], [], [], 0.1)
                if not readable:
                    if draining.is_set() and time.monotonic() - idle_since > DRAIN_IDLE:
                        return
                    continue
                self.handle_one_request()
                idle_since = time.monotonic()
        finally:
            with connections_lock:
                connections -= 1

    def do_GET(self) -> None:
        hang = self.hang_after
        if hang is not None and time.monotonic() - STARTED > hang:
            threading.Event().wait()  # hung for good: only SIGKILL ends this
        if self.path == "/health":
            body = b"ok\n"
        elif self.path == "/":
            body = f"{self.version} {os.getpid()}\n".encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the bench sends thousands of requests


class Server(HTTPServer):
    daemon_threads = True

    def process_request(self, request: socket.socket, client_address: object) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: socket.socket, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def main() -> int:
    if os.path.exists("BROKEN"):
        print("BROKEN file present: refusing to start", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    slow = knob("SLOW_START")
    if slow:
        stop.wait(slow)
    try:
        with open("VERSION", encoding="utf-8") as f:
            Handler.version = f.read().strip()
    except FileNotFoundError:
        pass
    Handler.hang_after = knob("HANG_AFTER")
    servers = []
    for sock in listen_sockets():
        # Non-blocking: when several processes share a socket, the losers of an accept race
        # must go back to select instead of blocking in accept() (and missing the shutdown).
        sock.setblocking(False)
        server = Server(sock.getsockname(), Handler, bind_and_activate=False)
        server.socket.close()  # the unbound socket HTTPServer made; serve the passed one instead
        server.socket = sock
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    # Wait with a timeout: a signal may be delivered to a handler thread, and then only a main
    # thread that wakes up now and then gets to run the Python-level handler.
    while not stop.wait(0.1):
        pass
    draining.set()
    for server in servers:
        server.shutdown()  # stops accepting; the socket stays open in the other processes
    for server in servers:
        server.socket.close()
    deadline = time.monotonic() + 3600
    while connections and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
