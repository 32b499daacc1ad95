"""How scripts reach a host: the one seam between pushdeploy and its hosts.

It alone imports the SSH library, Paramiko (through ``transport.library``, loaded when a host is
contacted, so ``import pushdeploy.transport`` stays cheap). Its modules: ``route`` (where a host
is, from ~/.ssh/config), ``identity`` (which keys to offer), ``login`` (the handshake), ``proxy``
(ProxyCommand), ``ssh`` (connecting through every hop; scripts on channels), ``relay`` (a
terminal for ``console``); ``openssh`` (``ssh = openssh``: the system ``ssh`` instead, one
multiplexed connection per host).

A transport runs a bash script sent on stdin over ONE channel (``bash -s``) and streams its
output line by line to a callback; it can also start an interactive command (``console``).
``run`` either holds the script's input open for a ``streams.Control`` (a fleet's "go", or the
end that tells the script's guard the client is gone) or passes ``stdin`` after the script
(``exec``'s piped input: bash reads a script from a pipe a byte at a time, so the command the
script ends with reads what follows it). ``send`` streams a file (an artifact) to a command's stdin
on a new channel of the same connection, safe to call from another thread while a script runs,
and returns a ``Sent``.

Lifecycle: ``dialing_ahead`` may start the TCP connections as soon as the config is read
(sockets.py); ``open_transport`` connects at once (so host-key and login errors surface before
any phase runs); ``close`` ends the connection. One transport per host per invocation. Besides SSH
(``transport.ssh``) there are ``host = local`` and the recording transport (local.py).
``login_users`` says, without connecting, whom each host's transport works as (``systemd``'s
``User=``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from pushdeploy.transport.seam import STDERR_KEPT, Sent, Transport

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.config.hosts import Host

__all__ = ["STDERR_KEPT", "Sent", "Transport", "dialing_ahead", "login_users", "open_transport"]


def open_transport(
    env: Environment, host: Host, warn: Callable[[str], None], host_key: str
) -> Transport:
    """A connected transport for ``host``: this machine for ``local``, else SSH: Paramiko
    (transport.ssh), or the system ``ssh`` with ``ssh = openssh`` (transport.openssh)."""
    if host.local:
        from pushdeploy.transport.local import LocalTransport

        return LocalTransport()
    if env.ssh.client == "openssh":
        from pushdeploy.transport import openssh

        return openssh.connect(env, host, warn, host_key)
    from pushdeploy.transport import ssh

    return ssh.connect(env, host, warn, host_key)


def login_users(env: Environment) -> dict[str, str]:
    """Host -> the user ``open_transport`` works there as: this machine's for ``local``, else the
    one its SSH route logs in as (route.target; ~/.ssh/config read once for all hosts)."""
    import getpass

    from pushdeploy.transport import route

    config = route.load_config() if any(not h.local for h in env.hosts) else None
    return {
        h.spec: getpass.getuser() if h.local else route.target(env, h, config=config).user
        for h in env.hosts
    }


def dialing_ahead(env: Environment) -> contextlib.AbstractContextManager[object]:
    """Dial the hosts ``env`` connects to first (``parallel`` of them) ahead, for a block; what
    is not taken by then is closed at its end (sockets.py). Their ssh_config is resolved ahead
    too (sshconfig.prefetch), in every case. None when a step on this machine
    comes before any connection (``pre-deploy-local``, an artifact's build or check): it may
    fail, and then nothing is to be connected, or take longer than a connection may wait."""
    from pushdeploy.transport import sockets, sshconfig

    first = [host for host in env.hosts[: env.rollout.parallel] if not host.local]
    # ssh -G for each, in threads, while pushdeploy loads: route.target takes the answers
    sshconfig.prefetch((h.name, h.user or env.ssh.user, h.port or env.ssh.port) for h in first)
    if env.hooks.pre_deploy_local or env.source.artifact or env.ssh.client == "openssh":
        return contextlib.nullcontext()  # (``ssh`` dials for itself)
    targets = [
        (host.name, host.port or env.ssh.port or sockets.SSH_PORT)
        for host in env.hosts[: env.rollout.parallel]
        if not host.local and sockets.worth_dialing(host.name)
    ]
    return sockets.dialing_ahead(targets)
