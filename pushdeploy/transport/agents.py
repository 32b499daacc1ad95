"""The agent a login asks, the keys it offers from it, and the certificates it presents.

IdentityAgent (sshconfig.Settings) chooses the agent: unset or ``SSH_AUTH_SOCK``, the one
``$SSH_AUTH_SOCK`` names; ``none``, none; ``$VAR``, the socket that variable names; else a socket
path (``~`` expanded). An IdentityFile (or deploy.conf's ``key``) that names a ``.pub`` file
means "that key, from the agent", as in ``ssh``: password-manager agents are set up so; so does
an IdentityFile whose private file is missing but whose ``.pub`` is there (identity.offer).
CertificateFile: the first certificate that belongs to the key offered first is presented with
it (Paramiko finds ``KEY-cert.pub`` on its own, not a certificate elsewhere).
"""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushdeploy.errors import ConnectionError
from pushdeploy.transport.library import paramiko

if TYPE_CHECKING:
    from pushdeploy.transport.route import Route

CONNECT_TIMEOUT = 5.0  # seconds to reach the agent's socket


class SocketAgent(paramiko.Agent):
    """Paramiko's agent client, on the socket at ``path`` rather than ``$SSH_AUTH_SOCK``'s."""

    def __init__(self, path: str) -> None:
        paramiko.agent.AgentSSH.__init__(self)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            return  # no agent there: it offers no key (as ssh, which says so under -v)
        self._connect(sock)


def socket_path(identity_agent: str | None) -> str | None:
    """The agent socket IdentityAgent names; "" for none; None for ``$SSH_AUTH_SOCK``'s."""
    if identity_agent is None or identity_agent == "SSH_AUTH_SOCK":
        return None
    if identity_agent.lower() == "none":
        return ""
    if identity_agent.startswith("$"):
        return os.environ.get(identity_agent[1:].strip("{}"), "")
    return os.path.expanduser(identity_agent)


def use(route: Route, client: Any, connect_kwargs: dict[str, Any]) -> None:
    """Point ``client`` at ``route``'s agent; a ``.pub`` in ``key_filename`` becomes the agent's
    key (``pkey``). ConnectionError when the agent does not hold it."""
    try:
        _use(route, client, connect_kwargs)
    finally:
        certify(route.settings.certificate_files, connect_kwargs)


def _use(route: Route, client: Any, connect_kwargs: dict[str, Any]) -> None:
    path = socket_path(route.settings.identity_agent)
    if path == "":
        connect_kwargs["allow_agent"] = False
    named = connect_kwargs.get("key_filename") or []
    public = [name for name in named if str(name).endswith(".pub")]
    if path is None and not public:
        return  # Paramiko's own: $SSH_AUTH_SOCK
    agent: Any = None
    if path:
        agent = client._agent = SocketAgent(path)
    if not public:
        return
    connect_kwargs["key_filename"] = [name for name in named if name not in public]
    if not connect_kwargs["key_filename"]:
        del connect_kwargs["key_filename"]
    agent = agent if agent is not None else paramiko.Agent() if path is None else None
    held = {key.asbytes(): key for key in (agent.get_keys() if agent is not None else ())}
    for name in public:
        try:
            fields = Path(name).read_text(encoding="utf-8", errors="replace").split()
            blob = base64.b64decode(fields[1], validate=True)
        except (OSError, IndexError, ValueError) as exc:
            raise ConnectionError(
                f"{route.name}: cannot read the public key {name}: {exc}"
            ) from None
        if blob in held:
            connect_kwargs["pkey"] = held[blob]
            return
    if connect_kwargs.get("key_filename"):
        return  # other keys to offer (ssh, too, goes on to them)
    where = f"the agent at {path}" if path else "the agent ($SSH_AUTH_SOCK)"
    raise ConnectionError(
        f"{route.name}: the key of {', '.join(public)} is not in {where}",
        "add it to the agent (ssh-add), or point IdentityFile at the private key",
    )


def certify(certificates: tuple[str, ...], connect_kwargs: dict[str, Any]) -> None:
    """Present the first of ``certificates`` that belongs to the key offered first (``pkey``,
    else the first ``key_filename``); a key that cannot be read here is left to Paramiko."""
    files = [os.path.expanduser(c) for c in certificates]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        return
    key = connect_kwargs.get("pkey")
    named = list(connect_kwargs.get("key_filename") or [])
    from_file = key is None and bool(named)
    if from_file:
        try:
            key = paramiko.PKey.from_path(named[0])
        except (OSError, ValueError, paramiko.SSHException):
            return  # a passphrase, or not a key: Paramiko says so as it tries it
    if key is None:
        return
    for certificate in files:
        try:
            key.load_certificate(certificate)
        except (OSError, ValueError, paramiko.SSHException):
            continue  # another key's certificate
        connect_kwargs["pkey"] = key
        if from_file and named[1:]:
            connect_kwargs["key_filename"] = named[1:]
        elif from_file:
            del connect_kwargs["key_filename"]
        return
