"""SSH to a host with Fabric and Paramiko: connecting, host keys, running scripts on a channel.

Host keys: Fabric's default policy accepts any key; here known_hosts is loaded and an unknown key
stops the run (``host-key = strict``) or is recorded with a warning (``accept-new``). A changed key
always stops it. That holds for every ProxyJump hop Fabric makes, too.

Paramiko logs through ``logging`` (``paramiko.*``), tracebacks from its transport thread included;
with no handler, Python's last-resort handler would print them on stderr next to our one-line
error. They are dropped unless ``log_ssh_to`` sends them somewhere (``--debug``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import select
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko
from fabric import Connection

from pushdeploy.config import Environment
from pushdeploy.errors import ConnectionError, HostKeyError
from pushdeploy.hosts import Host
from pushdeploy.protocol import KILLED
from pushdeploy.streams import Control, LineSplitter, OnLine, pump
from pushdeploy.transport import Transport, identity
from pushdeploy.transport.proxy import ProxyCommand, open_proxy

_SSH_LOG = logging.getLogger("paramiko")
_SSH_LOG.addHandler(logging.NullHandler())
_SSH_LOG.propagate = False


class _CallbackHandler(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(f"ssh: {record.getMessage()}")
        except Exception:  # a log line must never break a connection
            self.handleError(record)


def log_ssh_to(write: Callable[[str], None] | None) -> None:
    """Send Paramiko's log to ``write`` (``--debug``: ``console.debug``), or drop it (None)."""
    for handler in [h for h in _SSH_LOG.handlers if isinstance(h, _CallbackHandler)]:
        _SSH_LOG.removeHandler(handler)
    if write is not None:
        _SSH_LOG.addHandler(_CallbackHandler(write))
    _SSH_LOG.setLevel(logging.DEBUG if write is not None else logging.NOTSET)


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(hostname)
        self.hostname, self.key = hostname, key


class StrictPolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(hostname, key)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record an unknown key in known_hosts (as OpenSSH's StrictHostKeyChecking=accept-new)."""

    def __init__(self, known_hosts: Path, warn: Callable[[str], None]) -> None:
        self.known_hosts, self.warn = known_hosts, warn

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.warn(f"added {hostname} ({key.get_name()} {fingerprint(key)}) to {self.known_hosts}")


class SSHTransport:
    def __init__(self, connection: Connection, label: str, forward_agent: bool) -> None:
        self.connection, self.label, self.forward_agent = connection, label, forward_agent

    def _channel(self) -> paramiko.Channel:
        transport = self.connection.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionError(f"{self.label}: the connection was lost")
        channel = transport.open_session(timeout=30)
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
        until the control ends it (the script's guard reads that end as "the client is gone"),
        else ``stdin`` follows the script, then the input ends."""
        channel = self._channel()
        try:
            # exec: bash leads the session's process group, which the script's clean-up stops.
            channel.exec_command("exec bash -s")
            channel.sendall(script.encode())
            if control is not None:
                control.attach(channel.sendall, channel.shutdown_write)
            else:
                pump(stdin, channel.sendall, channel.shutdown_write)
            out, err = LineSplitter("out", on_line), LineSplitter("err", on_line)
            while True:
                select.select([channel], [], [], 1.0)
                while channel.recv_ready():
                    out.feed(channel.recv(65536))
                while channel.recv_stderr_ready():
                    err.feed(channel.recv_stderr(65536))
                drained = not (channel.recv_ready() or channel.recv_stderr_ready())
                finished = channel.closed or (channel.exit_status_ready() and channel.eof_received)
                if finished and drained:
                    break
            out.flush()
            err.flush()
            status = channel.recv_exit_status()
            if status != -1:
                return status
            transport = self.connection.client.get_transport()
            if transport is not None and transport.is_active():
                return KILLED  # the connection lives: the script ended by a signal (sshd's exit-signal)
            raise ConnectionError(
                f"{self.label}: the connection was lost while the script ran",
                "before its switch the server stops, removes the half-built release and drops the"
                " lock; after it, it finishes its checks or switches back: see 'pushdeploy ENV current'",
            )
        except (OSError, paramiko.SSHException) as exc:
            raise ConnectionError(f"{self.label}: connection broke: {exc}") from None
        finally:
            channel.close()

    def interactive(self, command: str) -> int:
        from pushdeploy import terminal

        channel = self._channel()
        try:
            size = os.get_terminal_size() if sys.stdin.isatty() else os.terminal_size((80, 24))
            channel.get_pty(
                term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines
            )
            channel.exec_command(command)
            return terminal.relay(channel)
        finally:
            channel.close()

    def close(self) -> None:
        self.connection.close()


def connect(env: Environment, host: Host, warn: Callable[[str], None], host_key: str) -> Transport:
    """Connect to ``host`` now, checking its key; every failure is one ConnectionError line."""
    connect_kwargs: dict[str, Any] = {}
    key = identity.check_key(env)  # before connecting: a missing deploy.conf key is exit 3
    if key:
        connect_kwargs["key_filename"] = [key]
    connection = Connection(
        host.name,
        user=host.user or env.user,
        port=host.port or env.port,
        connect_timeout=15,
        forward_agent=env.forward_agent,
        connect_kwargs=connect_kwargs,
    )
    known_hosts = Path("~/.ssh/known_hosts").expanduser()
    policy = AcceptNewPolicy(known_hosts, warn) if host_key == "accept-new" else StrictPolicy()
    hop: Any = connection
    missing: list[str] = []  # IdentityFiles named in ~/.ssh/config that do not exist
    while isinstance(hop, Connection):  # the target and every ProxyJump hop Fabric made for it
        missing += identity.offer(hop.ssh_config, hop.connect_kwargs)
        if missing and identity.nothing_to_offer(hop.connect_kwargs):
            raise ConnectionError(
                f"{host.spec}: no key to log in to {hop.host} with: {identity.describe_missing(missing)}",
                "fix IdentityFile in ~/.ssh/config, or set 'key' in deploy.conf",
            )
        for path in _known_hosts_files(hop, known_hosts):
            try:
                hop.client.load_system_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                warn(f"cannot read {path}: {exc}")
        hop.client.set_missing_host_key_policy(policy)
        hop = hop.gateway
    label = host.spec
    proxy: ProxyCommand | None = None
    via_proxy = isinstance(connection.gateway, str)
    try:
        if via_proxy:  # a ProxyCommand: ours, which fails fast
            proxy = open_proxy(connection)
            connection.connect_kwargs["sock"] = proxy
            connection.gateway = False
        connection.open()
    except UnknownHostKey as exc:
        raise HostKeyError(
            f"{label}: unknown host key {exc.key.get_name()} {fingerprint(exc.key)} for {exc.hostname}",
            "check the fingerprint with the server's admin, then rerun with --host-key accept-new "
            "(or add it to ~/.ssh/known_hosts)",
        ) from None
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"{label}: host key CHANGED: it is now {fingerprint(exc.key)}, "
            f"known_hosts says {fingerprint(exc.expected_key)}",
            f"if the server was rebuilt, remove the old key with: ssh-keygen -R {_known_name(connection)}"
            " (otherwise someone may be intercepting the connection)",
        ) from None
    except paramiko.AuthenticationException as exc:
        why = f"{exc}; {identity.describe_missing(missing)}" if missing else str(exc)
        raise ConnectionError(
            f"{label}: login refused for user {connection.user}: {why}",
            "check 'user' and 'key' in deploy.conf and that the key is in authorized_keys",
        ) from None
    except paramiko.ProxyCommandFailure as exc:
        raise ConnectionError(
            f"{label}: the ProxyCommand for {connection.host} failed: {exc.error}",
            f"check ProxyCommand in ~/.ssh/config; run it by hand: {exc.command}",
        ) from None
    except (OSError, EOFError, UnicodeError, paramiko.SSHException) as exc:
        through = " (through the ProxyCommand in ~/.ssh/config)" if via_proxy else ""
        reason = _reason(exc, connection.host)
        if proxy is not None and proxy.process.poll() is None:
            reason = "no SSH answer came through it in time"
        raise ConnectionError(
            f"{label}: cannot connect to {connection.host}:{connection.port}{through}: {reason}"
        ) from None
    finally:
        if proxy is not None and not connection.is_connected:
            proxy.close()
    return SSHTransport(connection, label, env.forward_agent)


def _known_hosts_files(connection: Connection, default: Path) -> list[Path]:
    files = [
        Path(p).expanduser() for p in connection.ssh_config.get("userknownhostsfile", "").split()
    ]
    files = files or [default]
    files.append(Path("/etc/ssh/ssh_known_hosts"))
    return [path for path in files if path.is_file()]


def _known_name(connection: Connection) -> str:
    if connection.port == 22:
        return str(connection.host)
    return f"'[{connection.host}]:{connection.port}'"


def _reason(exc: BaseException, hostname: str) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {hostname}"
    if isinstance(exc, UnicodeError):  # socket's IDNA step: e.g. HostName in ~/.ssh/config
        return f"{hostname!r} is not a valid host name (a label empty or over 63 characters?)"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
