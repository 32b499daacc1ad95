"""SSH to a host with Paramiko: connecting through every hop, running scripts on a channel.

``connect`` resolves the route (route.py: ~/.ssh/config, ProxyJump, ProxyCommand), decides
which keys each hop is offered (identity.py), and logs in to each hop in turn (login.py: strict
host keys, few round trips, every wait bounded). Every failure becomes one ConnectionError or
HostKeyError line, and so does a connection lost at any later moment: while a channel opens, a
script runs (or goes silent: heartbeat.py), a file is sent, or a channel closes.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from pushdeploy.config.environment import Environment
from pushdeploy.config.hosts import Host
from pushdeploy.errors import ConnectionError
from pushdeploy.remote.protocol import KILLED, SILENT_AFTER
from pushdeploy.transport import identity, login, route, sshconfig
from pushdeploy.transport.heartbeat import Heartbeat
from pushdeploy.transport.hostkeys import AcceptNewPolicy, StrictPolicy
from pushdeploy.transport.library import paramiko
from pushdeploy.transport.seam import STDERR_KEPT, Sent, Transport
from pushdeploy.transport.streams import Control, LineSplitter, OnLine, pump

_BLOCK = 1 << 20  # bytes read from a sent file at a time
_WAIT = 0.1  # seconds a send waits for the remote's window before it looks for an exit or cancel
_TOLD_STRICT_NO: list[bool] = []  # the warning of host_key_policy was given (once a process)


class _SourceError(Exception):
    """An OSError of the file being sent (this machine's), kept apart from the connection's."""


class SSHTransport:
    """Scripts on channels of one logged-in client; ``jumps``: the ProxyJump hops' clients."""

    def __init__(
        self,
        client: Any,
        label: str,
        forward_agent: bool,
        jumps: list[Any],
        alive: sshconfig.Settings | None = None,  # its ServerAlive*, if set, bound the watch
    ) -> None:
        self.client, self.label, self.jumps = client, label, jumps
        self.forward_agent, self.alive = forward_agent, alive

    def _channel(self) -> Any:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionError(f"{self.label}: the connection was lost")
        channel = login.session(transport)
        if self.forward_agent:
            paramiko.agent.AgentRequestHandler(channel)
        return channel

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int:
        """Run ``script``; with a ``control``, its input stays open for what the control sends
        until the control ends it (the script's guard reads that end as "the client is gone")
        and the heartbeat runs (heartbeat.py); else ``stdin`` follows the script, then the input
        ends. A connection lost at any moment, from the channel's opening to its close, or
        silent for SILENT_AFTER seconds (ServerAliveInterval x (CountMax + 1) where set;
        until the command runs, without a ``control``), is a ConnectionError, unless the
        script's status and all of its output came first."""
        every = self.alive.server_alive_interval if self.alive else 0
        bound = every * (self.alive.server_alive_count_max + 1) if self.alive else 0
        bound = bound or SILENT_AFTER  # ServerAlive*: ssh's first probe, then CountMax unanswered
        heartbeat = Heartbeat(self.client.close, silent_after=bound)  # close: all waits wake
        channel: Any = None
        status = KILLED
        try:
            with heartbeat:
                heartbeat.watch()
                if every:
                    heartbeat.probe(self._keepalive, every)
                channel = self._channel()
                heartbeat.pending = lambda: channel.recv_ready() or channel.recv_stderr_ready()
                # exec: bash leads the session's process group, which the script's clean-up stops.
                channel.exec_command("exec bash -s")
                heartbeat.heard()
                channel.sendall(script.encode())
                if control is not None:
                    control.attach(channel.sendall, channel.shutdown_write)
                    heartbeat.beat(control.send)
                else:  # exec's command runs: as quiet as it likes
                    heartbeat.unwatch()
                    pump(stdin, channel.sendall, channel.shutdown_write)
                status = _follow(channel, on_line, heartbeat)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if self._alive() and not heartbeat.silent:  # the server refused the channel
                raise ConnectionError(f"{self.label}: cannot run the script: {exc}") from None
        finally:
            if channel is not None:
                with contextlib.suppress(Exception):  # gone with the connection: nothing to say
                    channel.close()
        if self._alive():
            return status  # KILLED: the script ended by a signal (sshd's exit-signal)
        if status != KILLED and channel.eof_received:
            return status  # all of it came before the connection went (sshd's EOF follows the
            # output; its exit status may come before the last of it)
        how = "was lost"
        if heartbeat.silent:
            how = f"went silent (nothing came for {bound} s: the network dropped?)"
        raise ConnectionError(
            f"{self.label}: the connection {how} while the script ran",
            "before its switch the server stops, removes the half-built release and drops the"
            " lock; after it, it finishes its checks or switches back: see 'pushdeploy ENV current'",
        )

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """``size`` bytes of ``source`` to ``command``'s stdin on a new channel (Transport.send).

        Paramiko's channels share the connection safely across threads (a lock per channel, one
        for the packet writer). The remote's window (sshd: 2 MiB) and packet size (32 KiB) bound
        an upload, not ours (bench/artifact.py); we keep that window full and read the command's
        output meanwhile (a command blocked on a full output window stops reading its input).
        """
        try:
            channel = self._channel()
            try:
                return self._feed(channel, command, source, size, cancel or threading.Event())
            finally:
                with contextlib.suppress(Exception):  # how the send ended is known already
                    channel.close()
        except _SourceError as exc:
            raise exc.args[0] from None  # this machine's file, not the connection
        except (OSError, EOFError, paramiko.SSHException) as exc:  # EOFError: Paramiko's write
            lost = isinstance(exc, EOFError) or not self._alive()
            why = "was lost while sending" if lost else f"broke while sending: {exc}"
            raise ConnectionError(f"{self.label}: the connection {why}") from None

    def _feed(
        self, channel: Any, command: str, source: BinaryIO, size: int, cancel: threading.Event
    ) -> Sent:
        sent, stderr, block = 0, bytearray(), memoryview(b"")

        def drain() -> None:
            while channel.recv_ready():
                channel.recv(65536)  # stdout: not ours to show
            while channel.recv_stderr_ready():
                data = channel.recv_stderr(65536)
                stderr.extend(data[: max(0, STDERR_KEPT - len(stderr))])

        channel.settimeout(_WAIT)  # a send waits this long for window, then looks around
        channel.exec_command(command)
        while sent < size and not cancel.is_set() and not channel.exit_status_ready():
            if not block:
                try:
                    block = memoryview(source.read(min(_BLOCK, size - sent)))
                except OSError as exc:
                    raise _SourceError(exc) from None
                if not block:
                    break  # the source ended short: the command sees a short input
            drain()
            try:
                count = channel.send(block)
            except TimeoutError:
                continue
            except OSError:
                if channel.closed and self._alive():
                    break  # the command exited (its exit status is on its way, or came)
                raise
            block, sent = block[count:], sent + count
        if not cancel.is_set():
            channel.shutdown_write()
        while not cancel.is_set():
            if channel.closed or (channel.exit_status_ready() and channel.eof_received):
                break
            select.select([channel], [], [], _WAIT)
            drain()
        drain()
        status = channel.recv_exit_status() if channel.exit_status_ready() else KILLED
        if status == KILLED and not cancel.is_set() and not self._alive():
            raise OSError("the connection ended")
        return Sent(status, stderr.decode(errors="replace"), sent)

    def _keepalive(self) -> bool:
        """Ask sshd for an answer (ServerAliveInterval's probe); True if one came."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            return False
        transport.global_request("keepalive@openssh.com", wait=True)  # any answer: failure
        return bool(transport.is_active())

    def _alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and bool(transport.is_active())

    def interactive(self, command: str) -> int:
        from pushdeploy.transport import relay

        channel: Any = None
        try:
            channel = self._channel()
            size = os.get_terminal_size() if sys.stdin.isatty() else os.terminal_size((80, 24))
            try:
                term = os.environ.get("TERM", "xterm")
                channel.get_pty(term=term, width=size.columns, height=size.lines)
            except paramiko.SSHException:
                if not self._alive():
                    raise
                raise ConnectionError(
                    f"{self.label}: the server allows no terminal here (PermitTTY no in its"
                    " sshd_config, or no-pty on this key in authorized_keys)",
                    "console needs one; run single commands with: pushdeploy ENV exec COMMAND",
                ) from None
            channel.exec_command(command)
            return relay.relay(channel)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if self._alive():
                raise  # ours (the terminal), not the connection's
            raise ConnectionError(f"{self.label}: the connection was lost: {exc}") from None
        finally:
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.close()

    def close(self) -> None:
        for client in [self.client, *self.jumps]:  # the target first, then the hops before it
            client.close()


def connect(env: Environment, host: Host, warn: Callable[[str], None], host_key: str) -> Transport:
    """Connect to ``host`` now, checking its key; every failure is one ConnectionError line."""
    key = identity.check_key(env)  # before connecting: a missing deploy.conf key is exit 3
    target = route.target(env, host, keys=[key] if key else [])
    missing: list[str] = []  # IdentityFiles named in ~/.ssh/config that do not exist
    for hop in target.hops():  # the target and every ProxyJump hop before it
        missing += identity.offer(hop.ssh_config, hop.connect_kwargs)
        if missing and identity.nothing_to_offer(hop.connect_kwargs):
            raise ConnectionError(
                f"{host.spec}: no key to log in to {hop.host} with: {identity.describe_missing(missing)}",
                "fix IdentityFile in ~/.ssh/config, or set 'key' in deploy.conf",
            )
    if sshconfig.ssh_binary() is None:
        sshconfig.fallback_note(warn)
    if "host-key" not in env.settings:  # deploy.conf (or --host-key) wins where it is set
        host_key = host_key_policy(target.settings.strict_host_key_checking, host_key, warn)
    policy = AcceptNewPolicy(warn) if host_key == "accept-new" else StrictPolicy()
    opened: list[Any] = []  # logged-in clients, the first hop first
    hops = list(reversed(target.hops()))
    for hop in hops:
        try:
            before = opened[-1] if opened else None
            last = hop is hops[-1]  # the host itself, not a ProxyJump hop
            opened.append(login.hop(hop, before, policy, warn, host.spec, missing, last))
        except BaseException:
            for client in reversed(opened):
                client.close()
            raise
    jumps = list(reversed(opened[:-1]))
    return SSHTransport(opened[-1], host.spec, env.ssh.forward_agent, jumps, target.settings)


def host_key_policy(strict: str | None, default: str, warn: Callable[[str], None]) -> str:
    """deploy.conf's ``host-key`` for ssh_config's StrictHostKeyChecking: yes is strict,
    accept-new is accept-new, no/off is accept-new with a warning (a changed key always stops);
    unset or ask: ``default``."""
    if strict == "yes":
        return "strict"
    if strict == "accept-new":
        return "accept-new"
    if strict == "no" and not _TOLD_STRICT_NO:
        _TOLD_STRICT_NO.append(True)
        warn(
            "StrictHostKeyChecking no (ssh config): pushdeploy records unknown host keys"
            " (host-key = accept-new) and still stops at a changed one"
        )
    return "accept-new" if strict == "no" else default


def _follow(channel: Any, on_line: OnLine, heartbeat: Heartbeat) -> int:
    """The script's output, line by line, until it ends; its exit status (KILLED: none came)."""
    out, err = LineSplitter("out", on_line), LineSplitter("err", on_line)
    while True:
        select.select([channel], [], [], 1.0)
        while channel.recv_ready():
            out.feed(channel.recv(65536))
            heartbeat.heard()
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(65536))
            heartbeat.heard()
        drained = not (channel.recv_ready() or channel.recv_stderr_ready())
        finished = channel.closed or (channel.exit_status_ready() and channel.eof_received)
        if finished and drained:
            break
    out.flush()
    err.flush()
    return int(channel.recv_exit_status())
