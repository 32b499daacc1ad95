"""A real smart-HTTP git server on 127.0.0.1 for tests: ``git http-backend`` behind HTTP Basic auth.

``serve(root, token)`` is a context manager yielding a ``GitHTTPServer`` bound to a free port of
127.0.0.1. Each request runs ``git http-backend`` as a CGI program (one subprocess per request,
``GIT_PROJECT_ROOT=root``, every repository under it exported), so clone, fetch and ls-remote
speak the same protocol as GitHub, GitLab or Gitea. A request without ``Authorization: Basic``
whose password is ``token`` gets ``401`` with ``WWW-Authenticate``, which is what makes git ask its
credential helpers; any user name is accepted (as GitHub does for a token) and recorded.

Every request is recorded in ``requests`` (method, path, the raw Authorization header and the
user and password it carries), so a test can assert the token was sent and as which user.

``redirect_to`` turns the server into a redirector: every request answers ``302`` to the same path
under that base URL, without asking for credentials (a moved repository, or a hostile one).

Plain HTTP is enough here: git sends credentials to ``http://127.0.0.1`` as it would over HTTPS,
and TLS would only add a certificate authority to every test. Lifecycle: the socket is bound
before ``serve`` yields (no readiness wait), requests are served by a daemon thread, and leaving the
``with`` block shuts the server down and closes the socket.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REALM = "pushdeploy-test"
BACKEND_TIMEOUT = 60  # seconds one git http-backend run may take
MAX_CHUNKS = 100_000  # a chunked request body has at most this many chunks


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as the server saw it; ``status`` is what it answered."""

    method: str
    path: str
    authorization: str | None
    user: str | None
    password: str | None
    status: int


@dataclasses.dataclass
class GitHTTPServer:
    root: Path
    token: str
    port: int = 0
    redirect_to: str | None = None
    requests: list[Request] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str, user: str | None = None) -> str:
        """The clone URL of repository ``name`` under ``root``, naming ``user`` when given."""
        userinfo = f"{urllib.parse.quote(user, safe='')}@" if user else ""
        return f"http://{userinfo}127.0.0.1:{self.port}/{name}"

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def authorized(self) -> list[Request]:
        """The requests that carried the right token."""
        with self.lock:
            return [r for r in self.requests if r.password == self.token]


def _basic(header: str | None) -> tuple[str | None, str | None]:
    """User and password of an ``Authorization: Basic`` header, or ``(None, None)``."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else (None, None)


def _cgi_response(output: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a CGI program's output (``Status:`` header, default 200)."""
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = output.partition(b"\n\n")
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.split()[0])
        elif name.strip():
            headers.append((name.strip(), value.strip()))
    return status, headers, body


class _Handler(BaseHTTPRequestHandler):
    server_version = "pushdeploy-githttp"
    git: GitHTTPServer  # set on the subclass ``serve`` makes

    def log_message(self, format: str, *args: object) -> None:
        pass  # the requests list is the log

    def do_GET(self) -> None:
        self.handle_git()

    def do_POST(self) -> None:
        self.handle_git()

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            for _ in range(MAX_CHUNKS):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()  # the blank line after the last chunk (no trailers)
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_git(self) -> None:
        path, _, query = self.path.partition("?")
        authorization = self.headers.get("Authorization")
        user, password = _basic(authorization)

        def record(status: int) -> None:
            self.git.record(Request(self.command, path, authorization, user, password, status))

        if self.git.redirect_to is not None:
            record(302)
            return self.answer(302, [("Location", self.git.redirect_to + self.path)])
        if password != self.git.token:
            record(401)
            challenge = ("WWW-Authenticate", f'Basic realm="{REALM}"')
            return self.answer(401, [challenge, ("Content-Type", "text/plain")], b"denied\n")
        body = self.body()
        environ = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.git.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "PATH_INFO": urllib.parse.unquote(path),
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user or "",
            "REMOTE_ADDR": self.client_address[0],
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"],
            input=body,
            capture_output=True,
            env=environ,
            check=False,
            timeout=BACKEND_TIMEOUT,
        )
        status, headers, content = _cgi_response(done.stdout)
        if done.returncode != 0 and not done.stdout:
            status, headers, content = 500, [], done.stderr
        record(status)
        self.answer(status, headers, content)


@contextmanager
def serve(root: Path, token: str, redirect_to: str | None = None) -> Iterator[GitHTTPServer]:
    """A running server for the repositories under ``root``, wanting ``token`` as the password."""
    git = GitHTTPServer(root=root, token=token, redirect_to=redirect_to)
    handler = type("Handler", (_Handler,), {"git": git})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    git.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="githttp", daemon=True)
    thread.start()
    try:
        yield git
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
