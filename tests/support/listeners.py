"""Real servers on 127.0.0.1 that notifications are sent to: an HTTP receiver and an SMTP server.

* ``Receiver``: records every request (method, path, headers, the exact body) and answers each
  path as its ``Answer`` says: a sequence of statuses (``[500, 200]``: fail once, then take it;
  the last one repeats) or a hang (the request is read and never answered). Anything else: 200.
* ``MailServer``: aiosmtpd with STARTTLS (a self-signed certificate for 127.0.0.1, see
  ``certificate``) and AUTH LOGIN/PLAIN for the users it is given; it records each message and
  each login, with whether TLS was on at the time. ``starttls=False`` makes a server that offers
  no STARTTLS but does offer AUTH in the clear (what a client must refuse to use).
* ``refusing_port``: a port of 127.0.0.1 bound but not listening: a connection is refused.
* ``silent_port``: a port of 127.0.0.1 listening, never accepting: connected, then no answer.

Lifecycle: each is listening once constructed (aiosmtpd's controller waits for its banner) and is
stopped by ``close()`` or the end of its ``with``; hung answers are released then, or after
``LIFETIME`` seconds in any case.
"""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
LIFETIME = 30.0  # the longest a hung answer waits for close()


@dataclass
class Answer:
    """How a path is answered: ``statuses`` in turn (the last repeats), or never (``hang``)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    hang: bool = False
    body: bytes = b"ok"


@dataclass(frozen=True)
class Received:
    """One request as read; header names lower-case; ``at`` is its ``time.monotonic()``."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """An HTTP server recording what is sent to it (see the module docstring)."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[Received] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._serve(self)

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        path = handler.path.partition("?")[0]
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            self.requests.append(
                Received(handler.command, handler.path, headers, body, time.monotonic())
            )
            turn = self._counts[path] = self._counts.get(path, 0) + 1
        answer = self.answers.get(path, Answer())
        if answer.hang:
            self.closing.wait(LIFETIME)
            return
        status = answer.statuses[min(turn, len(answer.statuses)) - 1]
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections while the ``with`` lasts."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port of 127.0.0.1 that takes connections (the kernel's backlog) and never says a byte:
    a target that accepts and never answers, while the ``with`` lasts."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen(64)
        yield sock.getsockname()[1]


# --- SMTP ----------------------------------------------------------------------------------------


def certificate(directory: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file, cert PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pushdeploy test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "smtp.crt", directory / "smtp.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem


@dataclass(frozen=True)
class Mail:
    """One message as the server took it; ``tls``: whether STARTTLS was on."""

    sender: str
    recipients: list[str]
    content: bytes
    tls: bool


@dataclass(frozen=True)
class Login:
    mechanism: str
    user: str
    password: str
    tls: bool


class _Controller(Controller):
    """aiosmtpd's controller on a free port: the port is read once the server listens."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailServer:
    """A real SMTP server (see the module docstring); ``client_context`` trusts its certificate."""

    def __init__(
        self, directory: Path, users: dict[str, str] | None = None, starttls: bool = True
    ) -> None:
        self.users = users or {}
        self.messages: list[Mail] = []
        self.logins: list[Login] = []
        cert_file, key_file, pem = certificate(directory)
        self.client_context = ssl.create_default_context(cadata=pem.decode("ascii"))
        server_context: ssl.SSLContext | None = None
        if starttls:
            server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_context.load_cert_chain(cert_file, key_file)
        self.controller = _Controller(
            self,
            hostname=HOST,
            port=0,
            tls_context=server_context,
            require_starttls=starttls,
            auth_require_tls=starttls,
            authenticator=self._authenticate,
        )
        self.controller.start()
        self.port = self.controller.port
        self.address = f"{HOST}:{self.port}"

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        self.logins.append(Login(mechanism, user, password, session.ssl is not None))
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=self.users.get(user) == password, handled=False)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        self.messages.append(
            Mail(mail_from, list(envelope.rcpt_tos), content, session.ssl is not None)
        )
        return "250 Message accepted for delivery"

    def close(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
