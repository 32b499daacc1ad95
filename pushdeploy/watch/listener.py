"""The HTTP side of ``watch --listen``: each request one verdict, one answer and one line.

A ``Listener`` serves stdlib ``http.server`` in threads of its own. Each request is judged by
webhooks.judge and answered with a short JSON ``{status, reason}``, and the listener says one line
for it (``webhook: 202 accepted (github, ID)``), whatever the client does: half a request, a hang-up
before the answer, or silence until the time-out; never a traceback. A connection that sends
nothing at all is no request and says nothing. Each connection is bounded: a socket time-out, a
whole-body deadline, at most CLIENTS requests at once, one request a connection.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pushdeploy.errors import UsageError
from pushdeploy.watch.webhooks import Deliveries, Verdict, body_length, judge, printable

CLIENTS = 8  # requests served at once; more are closed unanswered
TIMEOUT = 10.0  # seconds: the socket's time-out, and the deadline of a whole body
_ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[IPv6]:PORT``) as ``--listen`` takes it; port 0 picks a free one."""
    found = _ADDRESS.fullmatch(text.strip())
    if found is None or int(found["port"]) > 65535:
        raise UsageError(
            f"watch --listen: expected HOST:PORT, got {text!r}", "e.g. --listen 127.0.0.1:8780"
        )
    return found["v6"] or found["host"], int(found["port"])


class _Handler(BaseHTTPRequestHandler):
    """One request a connection (HTTP/1.0): one verdict, its answer, and after ``handle`` its one
    line (``Listener.heard``), whatever the client did (the module docstring)."""

    server: _Server
    timeout = TIMEOUT  # StreamRequestHandler sets it on the socket
    server_version = "pushdeploy-watch"
    sys_version = ""
    verdict: Verdict | None = None  # this connection's one verdict, once given
    unanswered = ""  # why the client got no answer, for the line
    timed_out = False

    def handle(self) -> None:
        gone = ""
        try:
            self.handle_one_request()
        except OSError as exc:  # a reset while reading (a failed answer is _give's to say)
            gone = type(exc).__name__
        if self.verdict is None and self.timed_out:
            self._give(Verdict(408, f"no whole request within {self.timeout:g} s"))
        elif self.verdict is None and gone:  # nothing to answer on a connection reset
            self.verdict = Verdict(400, f"the client hung up mid-request ({gone})")
        if self.verdict is not None:
            self.server.listener.heard(self.verdict, self.unanswered)

    def do_POST(self) -> None:
        listener = self.server.listener
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}
        length = body_length(headers)
        body = b"" if isinstance(length, Verdict) else self._body(length)
        self._give(judge(headers, body, listener.secret, listener.ref, listener.deliveries))

    def do_GET(self) -> None:
        self._give(Verdict(405, "POST push webhooks here"))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line or headers, another method): our
        answer and our line, as for every verdict."""
        self._give(Verdict(code, printable(message or HTTPStatus(code).phrase, 80)))

    def log_error(self, format: str, *args: Any) -> None:
        """Only http.server's time-out says this now (send_error is ours): ``handle`` says it."""
        self.timed_out = True

    def _body(self, length: int) -> bytes:
        """Up to ``length`` bytes, all within TIMEOUT seconds; fewer if the sender stops."""
        deadline, chunks, left = time.monotonic() + TIMEOUT, [], length
        while left > 0 and time.monotonic() < deadline:
            try:
                chunk = self.rfile.read1(min(left, 1 << 16))
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _give(self, verdict: Verdict) -> None:
        """Answer ``verdict``; a client gone meanwhile gets none (``unanswered`` says so)."""
        self.verdict = verdict
        data = (json.dumps({"status": verdict.status, "reason": verdict.reason}) + "\n").encode()
        self.close_connection = True  # an unread body must not be taken for the next request
        try:
            self.send_response(verdict.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # BrokenPipeError, ConnectionResetError
            self.unanswered = "not answered: the client hung up"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the listener says one line of its own per request (``Listener.heard``)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    listener: Listener

    def __init__(self, address: tuple[str, int], listener: Listener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = listener
        self.slots = threading.BoundedSemaphore(CLIENTS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: closed unanswered
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An error no handler foresaw (a bug): one line, not socketserver's traceback."""
        error = sys.exc_info()[1]
        self.listener.say(f"webhook: error: {type(error).__name__}: {printable(str(error))}")

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Listener:
    """The HTTP listener of ``watch --listen``: ``on_push`` is called for each accepted push,
    ``say`` with one line per request. Lifecycle: ``start`` binds and serves in a thread (a
    bind failure is a ``UsageError``), ``close`` stops it and waits for that thread."""

    def __init__(self, address: tuple[str, int], secret: str, ref: str | None,
                 on_push: Callable[[], None], say: Callable[[str], None]) -> None:  # fmt: skip
        self.address, self.secret, self.ref = address, secret, ref
        self.on_push, self.say = on_push, say
        self.deliveries = Deliveries()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind and serve; the address bound (its real port, when 0 was asked)."""
        try:
            self._server = _Server(self.address, self)
        except OSError as exc:
            host, port = self.address
            raise UsageError(
                f"watch --listen {host}:{port}: cannot listen: {exc.strerror or exc}",
                "pick a free port on an address of this machine",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="webhooks", daemon=True
        )
        self._thread.start()
        bound = self._server.server_address
        return str(bound[0]), int(bound[1])

    def heard(self, verdict: Verdict, unanswered: str = "") -> None:
        """One request's one line; an accepted push wakes the watcher, answered or not."""
        notes = [verdict.provider, printable(verdict.delivery), unanswered]
        where = ", ".join(filter(None, notes))
        self.say(f"webhook: {verdict.status} {verdict.reason}" + (f" ({where})" if where else ""))
        if verdict.accepted:
            self.on_push()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
