"""The SSH handshake with one hop: dial, key exchange, host-key check and login.

It takes as few round trips and stalls as the protocol allows.

Against OpenSSH a connection costs, in round trips: TCP and the server's banner 1.5, the key
exchange 1, the login with the first session's channel open 1 (Paramiko alone takes 3: see
``PipelinedAuth`` and ``FirstSession``); then each script the exec request 1, and each later
script a channel open 1 more. sshd opens a session's window only once its command runs, so the
script, sent on stdin, cannot travel sooner (nor on the command line: it may hold secrets, and
every user of the server can read a command line). Three things make it so:

* ``sockets.dial`` sets TCP_NODELAY and TCP_QUICKACK (sockets.py says why), and the
  connection may be dialed ahead, while pushdeploy still starts (sockets.py).
* ``PipelinedAuth`` sends the signed publickey request right behind the service request.
* ``FirstSession`` sends the first session's CHANNEL_OPEN right behind that (RFC 4252 5.1: a
  server passes on what follows a login request that succeeds); a login that fails abandons it.

Host keys: known_hosts is loaded and an unknown key stops the run (``StrictPolicy``, for
``host-key = strict``) or is recorded with a warning (``AcceptNewPolicy``); a changed key always
stops it (Paramiko's ``BadHostKeyException``). This holds for every ProxyJump hop.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pushdeploy.transport.library import paramiko
from pushdeploy.transport.route import Route
from pushdeploy.transport.sockets import CLIENT_ID, TIMEOUT

_PARSED: dict[tuple[str, int, int], Any] = {}  # known_hosts files, parsed: see known_keys
_PARSED_LOCK = threading.Lock()


class PipelinedAuth(paramiko.auth_handler.AuthHandler):
    """Paramiko's login, except that a publickey request follows SERVICE_REQUEST at once.

    Paramiko waits for SERVICE_ACCEPT (one round trip) before it sends the signed request.
    sshd handles messages in order, and SERVICE_REQUEST is what enables USERAUTH_REQUEST, so
    the wait buys nothing. What is sent is the same: the signature covers the session ID,
    and the host key was checked before login began. ``FastTransport`` uses this only with
    OpenSSH servers; RSA keys wait, since their signature algorithm depends on the server's
    EXT_INFO, which may still be on its way.
    """

    pipelined = False

    def _request_auth(self) -> None:
        self.pipelined = True  # before anything is sent: SERVICE_ACCEPT may come back at once
        super()._request_auth()
        accepted = paramiko.Message()
        accepted.add_string("ssh-userauth")
        accepted.rewind()
        super()._parse_service_accept(accepted)  # sends the USERAUTH_REQUEST

    def _parse_service_accept(self, m: Any) -> None:
        if not self.pipelined:
            super()._parse_service_accept(m)


class FastTransport(paramiko.Transport):
    """Paramiko's Transport, logging in with ``PipelinedAuth`` where that is safe, and saying
    it is pushdeploy (sockets.CLIENT_ID: a connection dialed ahead has said so already)."""

    _CLIENT_ID = CLIENT_ID
    opens_session = False  # the target's login opens its FirstSession (TargetTransport)
    first_session: FirstSession | None = None

    def auth_publickey(self, username: str, key: Any, event: Any = None) -> list[str]:
        if event is not None or not self._pipelines(key):
            return list(super().auth_publickey(username, key, event))
        if not self.active or not self.initial_kex_done:
            raise paramiko.SSHException("No existing session")
        done = threading.Event()
        self.auth_handler = PipelinedAuth(self)
        self.auth_handler.auth_publickey(username, key, done)
        if not self.opens_session:  # a ProxyJump hop: no session wanted there
            return list(self.auth_handler.wait_for_response(done))
        opening = FirstSession(self)  # its CHANNEL_OPEN follows the login request at once
        try:
            methods = list(self.auth_handler.wait_for_response(done))
        except BaseException:
            opening.abandon()
            raise
        if methods or not self.is_authenticated():  # a partial success: more is asked
            opening.abandon()
        else:
            self.first_session = opening
        return methods

    def _pipelines(self, key: Any) -> bool:
        blob = getattr(key, "public_blob", None)  # a certificate's
        key_type = str(blob.key_type if blob else key.get_name())
        return str(self.remote_version).startswith("SSH-2.0-OpenSSH_") and "rsa" not in key_type


class FirstSession:
    """A session channel opened right behind the login request, in a thread: RFC 4252 5.1 has
    the server pass on what follows a request that succeeded, so the channel costs no round
    trip of its own. ``take`` gives it (None if it could not be had: then open one as usual)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.channel: Any = None
        self.done = threading.Event()
        self.abandoned = self.taken = False
        self.lock = threading.Lock()
        threading.Thread(target=self._open, name="pushdeploy-first-session", daemon=True).start()

    def _open(self) -> None:
        try:
            self.channel = self.transport.open_session(timeout=TIMEOUT)
        except Exception:  # the login failed, or the connection ended: take() says None
            self.channel = None
        finally:
            self.done.set()
            if self.abandoned and self.channel is not None:
                self.channel.close()

    def abandon(self) -> None:
        """Not to be used: its login failed, so the server may have refused it."""
        self.abandoned = True
        if self.done.is_set() and self.channel is not None:
            self.channel.close()

    def take(self) -> Any:
        """The channel, to one caller only (a script and an upload may ask at once)."""
        with self.lock:
            taken, self.taken = self.taken, True
        if taken or self.abandoned or not self.done.wait(TIMEOUT):
            return None
        return self.channel


class TargetTransport(FastTransport):
    """The last hop's transport: its login also opens the first session (``FirstSession``)."""

    opens_session = True


def session(transport: Any) -> Any:
    """A session channel: the ``FirstSession`` if the login opened one, else a new one."""
    first = getattr(transport, "first_session", None)
    channel = first.take() if first is not None else None
    return channel if channel is not None else transport.open_session(timeout=30)


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: Any) -> None:
        super().__init__(hostname)
        self.hostname, self.key = hostname, key


class StrictPolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise UnknownHostKey(hostname, key)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record an unknown key in known_hosts (as OpenSSH's StrictHostKeyChecking=accept-new)."""

    def __init__(self, known_hosts: Path, warn: Callable[[str], None]) -> None:
        self.known_hosts, self.warn = known_hosts, warn

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.warn(f"added {hostname} ({key.get_name()} {fingerprint(key)}) to {self.known_hosts}")


def known_keys(path: Path) -> Any:
    """The known_hosts file ``path``, parsed once per process (again if it changes).

    A fleet's connections share it: parsing costs 3 ms per 64 lines, for every host otherwise.
    """
    stat = path.stat()
    version = (str(path), stat.st_mtime_ns, stat.st_size)
    with _PARSED_LOCK:
        if version not in _PARSED:
            _PARSED[version] = paramiko.HostKeys(str(path))
        return _PARSED[version]


def login(
    route: Route, sock: Any, policy: Any, warn: Callable[[str], None], *, target: bool = True
) -> Any:
    """A logged-in ``SSHClient`` for ``route`` over ``sock`` (a socket, a ProxyCommand, or a
    channel of the hop before); ``target``: the last hop (not a ProxyJump host), whose login
    opens the first session. Raises what Paramiko raises, ``sock`` closed."""
    client = paramiko.SSHClient()
    known = client.get_host_keys()  # this host's lines of every known_hosts file
    for path in route.known_hosts_files():
        try:
            found = known_keys(path).lookup(route.known_name) or {}
        except (OSError, paramiko.SSHException) as exc:
            warn(f"cannot read {path}: {exc}")
            continue
        for key_type, key in found.items():
            known.add(route.known_name, key_type, key)
    client.set_missing_host_key_policy(policy)
    try:
        client.connect(
            route.host,
            port=route.port,
            username=route.user,
            sock=sock,
            timeout=TIMEOUT,
            transport_factory=TargetTransport if target else FastTransport,
            **route.connect_kwargs,
        )
    except BaseException:
        client.close()
        raise
    return client
