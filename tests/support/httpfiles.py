"""A real HTTP file server on 127.0.0.1 for tests: routes, ETags, redirects, broken answers, a log.

``with HTTPFiles({"/app.tar.gz": Route(body)}) as files:`` serves each path as its ``Route`` says
(anything else is a 404) and records every request in ``files.requests``. Routes can be changed
while the server runs (``files.routes[path] = ...``). The knobs a route has:

* ``status``, ``headers``: the answer's status and extra headers (``redirect()`` builds one);
* ``etag``: sent as ETag; a request whose If-None-Match names it gets a 304 without a body;
* ``repeat``: the body is sent that many times (a large body without a large ``bytes``);
* ``truncate``: Content-Length says the whole body, then only that many bytes come and the
  connection closes;
* ``stall_after``: the headers and that many bytes of the body come, then nothing more;
* ``hang``: the request is read, and nothing is ever answered;
* ``auth``: (user, password) that basic auth must name, else a 401.

Lifecycle: listening on a free port of 127.0.0.1 once constructed (no wait for readiness);
``close()`` (or leaving the ``with``) ends stalled and hung answers and stops the server. Its
threads are daemons, and a stalled answer gives up after ``LIFETIME`` seconds in any case.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
from dataclasses import dataclass, field
from types import TracebackType

HOST = "127.0.0.1"
LIFETIME = 60.0  # the longest a stalled or hung answer waits for close()


@dataclass
class Route:
    """What the server answers for one path (see the module docstring for the knobs)."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    repeat: int = 1
    truncate: int | None = None
    stall_after: int | None = None
    hang: bool = False
    auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class Request:
    """One request as the server read it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]


def redirect(location: str, status: int = 302) -> Route:
    return Route(status=status, headers={"Location": location})


def content_md5(data: bytes) -> str:
    """The Content-MD5 header value for ``data`` (base64 of the MD5 digest)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def basic(user: str, password: str) -> str:
    """The Authorization header value of basic auth for ``user`` and ``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    files: HTTPFiles

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer (a test of timeouts) is not an error here


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log is files.requests

    def _answer(self, with_body: bool) -> None:
        files = self.server.files
        headers = {name.lower(): value for name, value in self.headers.items()}
        files._record(Request(self.command, self.path, headers))
        route = files.routes.get(self.path)
        self.close_connection = True
        if route is None:
            self.send_error(404)
        elif route.hang:
            files.closing.wait(LIFETIME)
        elif route.auth and headers.get("authorization") != basic(*route.auth):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="files"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route.etag and route.etag in _etags(headers.get("if-none-match", "")):
            self.send_response(304)
            self.send_header("ETag", route.etag)
            self.end_headers()
        else:
            self._send(route, with_body)

    def _send(self, route: Route, with_body: bool) -> None:
        total = len(route.body) * route.repeat
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.etag:
            self.send_header("ETag", route.etag)
        if "content-length" not in {name.lower() for name in route.headers}:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        if not with_body:
            return
        budget = min(n for n in (total, route.truncate, route.stall_after) if n is not None)
        for _ in range(route.repeat):
            if budget <= 0:
                break
            piece = route.body[:budget]
            self.wfile.write(piece)
            budget -= len(piece)
        self.wfile.flush()
        if route.stall_after is not None:
            self.server.files.closing.wait(LIFETIME)


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


class HTTPFiles:
    """A ThreadingHTTPServer on 127.0.0.1 serving ``routes`` from a thread of its own."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._server = _Server((HOST, 0), _Handler)
        self._server.files = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, userinfo: str = "") -> str:
        """``http://[userinfo@]127.0.0.1:PORT/path``."""
        return f"http://{userinfo + '@' if userinfo else ''}{HOST}:{self.port}{path}"

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in order."""
        with self._lock:
            return list(self._requests)

    def asked(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far."""
        return [(request.method, request.path) for request in self.requests]

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> HTTPFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
