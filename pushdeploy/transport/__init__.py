"""How scripts reach a host: the one seam between pushdeploy and its hosts.

It alone imports the SSH library, Paramiko (through ``transport.library``, loaded when a host is
contacted, so ``import pushdeploy.transport`` stays cheap). Its modules: ``route`` (where a host
is, from ~/.ssh/config), ``identity`` (which keys to offer), ``login`` (the handshake), ``proxy``
(ProxyCommand), ``ssh`` (connecting through every hop; scripts on channels), ``relay`` (a
terminal for ``console``).

A transport runs a bash script sent on stdin over ONE channel (``bash -s``) and streams its
output line by line to a callback; it can also start an interactive command (``console``).
``run`` either holds the script's input open for a ``streams.Control`` (a fleet's "go", or the
end that tells the script's guard the client is gone) or passes ``stdin`` after the script
(``exec``'s piped input: bash reads a script from a pipe a byte at a time, so the command the
script ends with reads what follows it).

Lifecycle: ``open_transport`` connects at once (so host-key and login errors surface before any
phase runs); ``close`` ends the connection. One transport per host per invocation. Besides SSH
(``transport.ssh``) there are ``host = local`` and the recording transport (local.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pushdeploy.streams import Control, OnLine

if TYPE_CHECKING:
    from pushdeploy.config import Environment
    from pushdeploy.hosts import Host


class Transport(Protocol):
    label: str

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int: ...

    def interactive(self, command: str) -> int: ...

    def close(self) -> None: ...


def open_transport(
    env: Environment, host: Host, warn: Callable[[str], None], host_key: str
) -> Transport:
    """A connected transport for ``host``: this machine for ``local``, else SSH (transport.ssh)."""
    if host.local:
        from pushdeploy.local import LocalTransport

        return LocalTransport()
    from pushdeploy.transport import ssh

    return ssh.connect(env, host, warn, host_key)
