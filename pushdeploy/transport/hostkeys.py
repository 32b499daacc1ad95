"""Host keys: what known_hosts says of a hop, what an unknown key does, and fingerprints.

``load`` reads a hop's known_hosts files (knownhosts.py: every UserKnownHostsFile and
GlobalKnownHostsFile, under its HostKeyAlias if it has one; a line that cannot be read is
skipped with a warning naming file and line, once per process). ``vet`` runs inside the key
exchange (login.FastTransport): a ``@revoked`` key stops the login, even when it is also listed
plainly, and a host certificate is known when a ``@cert-authority`` line vouches for it. Then an
unknown key stops the run (``StrictPolicy``, for ``host-key = strict``) or is recorded with a
warning (``AcceptNewPolicy``: in the first UserKnownHostsFile, hashed if HashKnownHosts is yes);
a changed key always stops it (Paramiko's ``BadHostKeyException``). Fingerprints are shown as
OpenSSH shows them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pushdeploy.transport import knownhosts
from pushdeploy.transport.library import paramiko

if TYPE_CHECKING:
    from pushdeploy.transport.route import Route

_WARNED: set[str] = set()  # problems of known_hosts files already told, once per process
_WARNED_LOCK = threading.Lock()


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: Any) -> None:
        super().__init__(hostname)
        self.hostname, self.key = hostname, key


class RefusedHostKey(paramiko.SSHException):
    """A host key that known_hosts refuses: ``@revoked``, or a certificate no CA vouches for."""


class RoutedClient(paramiko.SSHClient):
    """Paramiko's client, knowing its hop (for the policies: where and under what name)."""

    def __init__(self, route: Route) -> None:
        super().__init__()
        self.route = route


def certified(client: Any) -> bool:
    return bool(getattr(client.get_transport(), "certified", None))


class StrictPolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if not certified(client):
            route = getattr(client, "route", None)
            raise UnknownHostKey(route.known_name if route else hostname, key)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record an unknown key (as OpenSSH's StrictHostKeyChecking=accept-new): in the hop's first
    UserKnownHostsFile (else ~/.ssh/known_hosts), under its known name, hashed if HashKnownHosts."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warn = warn

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if certified(client):
            return
        route = client.route
        path, name = route.new_keys_file(), route.known_name
        written = (
            knownhosts.hashed_name(name, os.urandom(20))
            if route.settings.hash_known_hosts
            else name
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{written} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.warn(f"added {name} ({key.get_name()} {fingerprint(key)}) to {path}")


def load(route: Route, client: Any, warn: Callable[[str], None]) -> knownhosts.Known:
    """What ``route``'s known_hosts files say of it; its plain keys added to ``client`` under
    the name Paramiko looks up (``[host]:port``, whatever HostKeyAlias says)."""
    files: list[knownhosts.KnownFile] = []
    for path in route.known_hosts_files():
        try:
            files.append(knownhosts.read(path))
        except OSError as exc:
            warn(f"cannot read {path}: {exc.strerror or exc}")
    for problem in [p for f in files for p in f.problems]:
        with _WARNED_LOCK:
            told = problem in _WARNED
            _WARNED.add(problem)
        if not told:
            warn(f"known_hosts: {problem}")
    known = knownhosts.known(files, [route.known_name])
    looked_up = route.host if route.port == 22 else f"[{route.host}]:{route.port}"
    for entry in known.keys:
        try:
            key = paramiko.PKey.from_type_string(entry.key_type, entry.blob)
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            unread = f"{entry.where}: a {entry.key_type[:40]} key pushdeploy cannot read: {exc}"
            with _WARNED_LOCK:
                fresh = unread not in _WARNED
                _WARNED.add(unread)
            if fresh:
                warn(f"known_hosts: {unread}, line skipped")
            continue
        client.get_host_keys().add(looked_up, key.get_name(), key)
    return known


def vet(known: knownhosts.Known, names: list[str], blob: bytes, key: Any) -> str | None:
    """Inside the key exchange, once the server proved it holds ``key`` (``blob`` as sent):
    RefusedHostKey if it is revoked or an unvouched certificate; the @cert-authority line that
    vouches for a certificate; else None (known_hosts' plain keys decide, in Paramiko)."""
    where = known.revoked.get(key.asbytes())
    if where is not None:
        raise RefusedHostKey(f"its host key {fingerprint(key)} is @revoked at {where}")
    public = getattr(key, "public_blob", None)
    if public is None or not str(public.key_type).endswith("-cert-v01@openssh.com"):
        return None
    if not known.authorities:
        return None  # Paramiko asked for a certificate only when a CA is listed: not reached

    def verify(ca_blob: bytes, signed: bytes, signature: bytes) -> bool:
        ca_type = knownhosts._Reader(ca_blob).string().decode(errors="replace")
        ca = paramiko.PKey.from_type_string(ca_type, ca_blob)
        where = known.revoked.get(ca.asbytes())
        if where is not None:
            raise RefusedHostKey(f"the CA of its host certificate is @revoked at {where}")
        return bool(ca.verify_ssh_sig(signed, paramiko.Message(signature)))

    try:
        return knownhosts.check_certificate(blob, names, known.authorities, verify)
    except (ValueError, paramiko.SSHException) as exc:
        if isinstance(exc, RefusedHostKey):
            raise
        raise RefusedHostKey(f"its host certificate is refused: {exc}") from None
