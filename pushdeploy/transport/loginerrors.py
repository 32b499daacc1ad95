"""Paramiko's login failures as one ConnectionError or HostKeyError line, naming the SSH cause.

login.py raises what Paramiko raises, sharpened where the transport knows more than the
exception says: ``TooManyKeys`` when the server closed the login at its MaxAuthTries (Paramiko
then says only "No existing session"), ``NoCommonAlgorithm`` with both sides' lists when the key
exchange found nothing in common, ``Unanswered`` when the network, not the server, ended it.
``explain`` turns each into the line and the hint the user sees.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pushdeploy.errors import ConnectionError, HostKeyError, PushdeployError
from pushdeploy.transport import identity
from pushdeploy.transport.hostkeys import RefusedHostKey, UnknownHostKey, fingerprint
from pushdeploy.transport.library import paramiko
from pushdeploy.transport.route import SSH_PORT, Route

MAX_TRIES = "Too many authentication failures"  # sshd's words when MaxAuthTries is reached
OPENSSH_HINT = "set ssh = openssh in deploy.conf: the system ssh speaks more of SSH than Paramiko"
# Paramiko's IncompatiblePeer text -> what is missing, the server's list in KEXINIT, ours
_ALGORITHMS = {
    "kex algorithm": ("key exchange", "kex_algo_list", "preferred_kex"),
    "host key": ("host key type", "server_key_algo_list", "preferred_keys"),
    "ciphers": ("cipher", "client_encrypt_algo_list", "preferred_ciphers"),
    "macs": ("MAC", "client_mac_algo_list", "preferred_macs"),
}


class Unanswered(paramiko.SSHException):
    """The login stopped short for want of the server: the connection ended, or no answer came."""


class TooManyKeys(paramiko.SSHException):
    """The server closed the login after ``offered`` keys (its MaxAuthTries)."""

    def __init__(self, offered: int) -> None:
        super().__init__(f"the server closed the login after {offered} keys")
        self.offered = offered


class NoCommonAlgorithm(paramiko.SSHException):
    """The key exchange found no ``what`` that both sides speak."""

    def __init__(self, what: str, theirs: list[str], ours: list[str]) -> None:
        super().__init__(
            f"no {what} in common with the server: it offers {', '.join(theirs) or 'none'};"
            f" Paramiko offers {', '.join(ours)}"
        )


def sharpened(exc: BaseException, transport: Any) -> paramiko.SSHException | None:
    """``TooManyKeys`` or ``NoCommonAlgorithm`` for a login that failed with ``exc`` on
    ``transport`` (a ``login.FastTransport``), if that is what happened; else None."""
    if MAX_TRIES in str(getattr(transport, "disconnected", "")):
        return TooManyKeys(int(getattr(transport, "keys_offered", 0)))
    offered = getattr(transport, "offered", None)
    if isinstance(exc, paramiko.IncompatiblePeer) and offered:
        for said, (what, theirs, ours) in _ALGORITHMS.items():
            if said in str(exc):
                return NoCommonAlgorithm(what, offered[theirs], list(getattr(transport, ours)))
    return None


def explain(
    exc: BaseException, route: Route, label: str, missing: list[str], proxy_running: bool
) -> PushdeployError:
    """The error to raise for a login to ``route`` that failed with ``exc`` (``missing``:
    IdentityFiles that do not exist; ``proxy_running``: its ProxyCommand still runs)."""
    if isinstance(exc, UnknownHostKey):
        return HostKeyError(
            f"{label}: unknown host key {exc.key.get_name()} {fingerprint(exc.key)} for {exc.hostname}",
            "check the fingerprint with the server's admin, then rerun with --host-key accept-new "
            f"(or add it to {route.new_keys_file()})",
        )
    if isinstance(exc, RefusedHostKey):
        return HostKeyError(
            f"{label}: {route.known_name} refused: {exc}",
            "ask the server's admin which host key is current; fix known_hosts at the line named",
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        known = route.known_name if route.port == SSH_PORT else f"'{route.known_name}'"
        return HostKeyError(
            f"{label}: host key CHANGED: it is now {fingerprint(exc.key)}, "
            f"known_hosts says {fingerprint(exc.expected_key)}",
            f"if the server was rebuilt, remove the old key with: ssh-keygen -R {known}"
            " (otherwise someone may be intercepting the connection)",
        )
    if isinstance(exc, TooManyKeys):
        return ConnectionError(
            f"{label}: login refused for user {route.user}: {exc} ({MAX_TRIES}: its MaxAuthTries)",
            "set IdentitiesOnly yes with the right IdentityFile in ~/.ssh/config,"
            " or 'key' in deploy.conf",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return _refused(exc, route, label, missing)
    if isinstance(exc, paramiko.ProxyCommandFailure):
        return ConnectionError(
            f"{label}: the ProxyCommand for {route.host} failed: {exc.error}",
            f"check ProxyCommand in ~/.ssh/config; run it by hand: {exc.command}",
        )
    through = " (through the ProxyCommand in ~/.ssh/config)" if route.proxy_command else ""
    through = f" (through {route.jump.name})" if route.jump else through
    reason = "no SSH answer came through it in time" if proxy_running else _reason(exc, route.host)
    hint = None
    if isinstance(exc, Unanswered):
        hint = "try again; if it keeps happening, check the network to the host and its sshd log"
    elif isinstance(exc, NoCommonAlgorithm):
        hint = OPENSSH_HINT
    return ConnectionError(
        f"{label}: cannot connect to {route.host}:{route.port}{through}: {reason}", hint
    )


def _refused(exc: BaseException, route: Route, label: str, missing: list[str]) -> ConnectionError:
    why = f"{exc}; {identity.describe_missing(missing)}" if missing else str(exc)
    locked = [path for path in _key_files(route) if _needs_passphrase(path)]
    if locked:  # Paramiko cannot ask for the passphrase; ssh would, or take it from the agent
        why = f"the key {locked[0]} needs its passphrase, and no agent offered it"
        return ConnectionError(
            f"{label}: login refused for user {route.user}: {why}",
            f"add the key to your ssh-agent: ssh-add {locked[0]}",
        )
    return ConnectionError(
        f"{label}: login refused for user {route.user}: {why}",
        "check 'user' and 'key' in deploy.conf and that the key is in authorized_keys",
    )


def _key_files(route: Route) -> list[str]:
    named = route.connect_kwargs.get("key_filename") or []
    return [str(p) for p in ([named] if isinstance(named, str) else named)]


def _needs_passphrase(path: str) -> bool:
    if path.endswith(".pub") or not os.path.isfile(path):
        return False
    try:
        paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        return True
    except TypeError as exc:  # cryptography's, for an OpenSSH-format key: "password-protected"
        return "password" in str(exc)
    except Exception:  # unreadable or of a kind Paramiko cannot load: not this cause
        return False
    return False


def _reason(exc: BaseException, hostname: str) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {hostname}"
    if isinstance(exc, UnicodeError):  # socket's IDNA step: e.g. HostName in ~/.ssh/config
        return f"{hostname!r} is not a valid host name (a label empty or over 63 characters?)"
    if isinstance(exc, paramiko.ChannelException):  # the jump host's answer
        return str(exc.text)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
