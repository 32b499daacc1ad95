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

Host keys: known_hosts is loaded and the key checked (hostkeys.py) for every ProxyJump hop,
``@revoked`` keys and host certificates inside the key exchange (``FastTransport._verify_key``).

Every stage waits for the server at most WAIT seconds (the banner, the key exchange, the login,
a channel's opening): a network that drops without closing (half-open) ends the login in
bounded time too. ``hop`` opens the stream and logs in, and loginerrors.py makes every failure
one line naming its cause: a connection that ended or went unanswered during the login
(``Unanswered``) is told apart from a refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pushdeploy.remote.protocol import SILENT_AFTER
from pushdeploy.transport import agents, hostkeys, loginerrors, sockets
from pushdeploy.transport.hostkeys import RefusedHostKey, UnknownHostKey
from pushdeploy.transport.library import paramiko
from pushdeploy.transport.loginerrors import Unanswered
from pushdeploy.transport.proxy import ProxyCommand
from pushdeploy.transport.route import Route
from pushdeploy.transport.sockets import CLIENT_ID

WAIT = SILENT_AFTER  # seconds a stage of the login waits for the server (a script's silence, too)


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
    known: Any = None  # what known_hosts says of this hop (hostkeys.load), and its names
    names: list[str] = []
    certified: str | None = None  # the @cert-authority line that vouched for its certificate
    keys_offered = 0  # for loginerrors: how many keys the login offered,
    disconnected = ""  # the server's reason if it disconnected,
    offered: dict[str, list[str]] = {}  # and the algorithms its KEXINIT named

    def _parse_kex_init(self, m: Any) -> None:
        self.offered = self._really_parse_kex_init(m)
        m.rewind()
        super()._parse_kex_init(m)

    def _parse_disconnect(self, m: Any) -> None:
        m.get_int()
        self.disconnected = m.get_text()
        m.rewind()
        super()._parse_disconnect(m)

    def _verify_key(self, host_key: bytes, sig: bytes) -> None:
        super()._verify_key(host_key, sig)
        if self.known is not None:
            self.certified = hostkeys.vet(self.known, self.names, host_key, self.host_key)

    def auth_publickey(self, username: str, key: Any, event: Any = None) -> list[str]:
        self.keys_offered += bool(self.active and self.initial_kex_done)
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
            self.channel = self.transport.open_session(timeout=WAIT)
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
        if taken or self.abandoned or not self.done.wait(WAIT):
            return None
        return self.channel


class TargetTransport(FastTransport):
    """The last hop's transport: its login also opens the first session (``FirstSession``)."""

    opens_session = True


def session(transport: Any) -> Any:
    """A session channel: the ``FirstSession`` if the login opened one, else a new one."""
    first = getattr(transport, "first_session", None)
    channel = first.take() if first is not None else None
    return channel if channel is not None else transport.open_session(timeout=WAIT)


def login(
    route: Route, sock: Any, policy: Any, warn: Callable[[str], None], *, target: bool = True
) -> Any:
    """A logged-in ``SSHClient`` for ``route`` over ``sock`` (a socket, a ProxyCommand, or a
    channel of the hop before); ``target``: the last hop (not a ProxyJump host), whose login
    opens the first session. Raises what Paramiko raises, ``sock`` closed; ``Unanswered``
    when the connection ended or the server said nothing for WAIT seconds."""
    client = hostkeys.RoutedClient(route)
    known = hostkeys.load(route, client, warn)  # this host's lines of every known_hosts file
    client.set_missing_host_key_policy(policy)
    agents.use(route, client, route.connect_kwargs)
    banner_wait = route.settings.connect_timeout or WAIT  # ConnectTimeout bounds the banner too

    def make_transport(sock: Any, **options: Any) -> Any:
        made = (TargetTransport if target else FastTransport)(sock, **options)
        made.known, made.names = (
            known,
            [route.known_name, route.settings.host_key_alias or route.host],
        )
        if known.authorities:  # ask for the server's host certificate first
            certs = [f"{k}-cert-v01@openssh.com" for k in made._preferred_keys]
            made._preferred_keys = (
                *[c for c in certs if c in made._key_info],
                *made._preferred_keys,
            )
        return made

    try:
        client.connect(
            route.host,
            port=route.port,
            username=route.user,
            sock=sock,
            timeout=WAIT,  # for the key exchange (the socket is connected already)
            banner_timeout=banner_wait,
            auth_timeout=WAIT,
            channel_timeout=WAIT,
            transport_factory=make_transport,
            **route.connect_kwargs,
        )
    except BaseException as exc:
        transport = client.get_transport()
        ended = transport is None or not transport.is_active()
        client.close()
        sharper = loginerrors.sharpened(exc, transport)
        if sharper is not None:
            raise sharper from None
        why = unanswered(exc, ended, banner_wait)
        if why:
            raise Unanswered(why) from None
        raise
    return client


def unanswered(exc: BaseException, ended: bool, banner_wait: float = WAIT) -> str | None:
    """Why a login failed for want of the server (``ended``: the connection is gone), or None:
    the server answered (a refusal, a host key, ...). Paramiko says "No existing session" when
    the key exchange did not finish (in time, if the connection lives on), "Authentication
    timeout." when the login had no answer, and wraps a socket's time-out in its own exception."""
    said = (
        UnknownHostKey,
        RefusedHostKey,
        paramiko.BadHostKeyException,
        paramiko.ProxyCommandFailure,
    )
    if isinstance(exc, said) or not isinstance(exc, (OSError, EOFError, paramiko.SSHException)):
        return None
    chain = [exc, exc.__cause__, exc.__context__]
    timed_out = any(isinstance(link, TimeoutError) for link in chain)
    timed_out |= str(exc) in {"Authentication timeout.", "No existing session"} and not ended
    if timed_out:
        waited = banner_wait if "banner" in str(exc) else WAIT
        return f"no answer from the server for {waited} s during the login (a network problem?)"
    if ended or isinstance(exc, EOFError):
        return "the connection closed during the login"
    return None


def hop(
    route: Route,
    before: Any,
    policy: Any,
    warn: Callable[[str], None],
    label: str,
    missing: list[str],
    target: bool = True,
) -> Any:
    """Open the stream to ``route`` (directly, by its ProxyCommand, or through the logged-in hop
    ``before``) and log in (``login``); Paramiko's and the socket's errors become one line."""
    proxy: ProxyCommand | None = None
    client = None
    try:
        if before is not None:
            through = before.get_transport()
            if through is None or not through.is_active():
                raise Unanswered("the connection to the jump host was lost")
            sock = through.open_channel(
                "direct-tcpip", (route.host, route.port), ("", 0), timeout=sockets.TIMEOUT
            )
        elif route.proxy_command:  # ours, which fails fast
            sock = proxy = ProxyCommand(route.proxy_command)
        else:
            bound = route.settings.connect_timeout  # ConnectTimeout, else sockets.TIMEOUT
            sock = sockets.taken(
                route.host, route.port, bound or sockets.TIMEOUT + 1
            ) or sockets.dial(route.host, route.port, bound or sockets.TIMEOUT)
        client = login(route, sock, policy, warn, target=target)
        return client
    except (OSError, EOFError, UnicodeError, paramiko.SSHException) as exc:
        running = proxy is not None and proxy.process.poll() is None
        raise loginerrors.explain(exc, route, label, missing, running) from None
    finally:
        if proxy is not None and client is None:
            proxy.close()
