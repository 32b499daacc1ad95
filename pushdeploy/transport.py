"""How scripts reach a host: over SSH (Fabric/Paramiko), on this machine, or only recorded.

This is the one module that imports fabric and paramiko. A transport runs a bash script sent on
stdin over ONE channel (``bash -s``) and streams its output line by line to a callback; it can also
start an interactive command (``console``) and upload a file. ``run`` can pass more input after the
script (``exec``'s piped stdin): bash reads a script from a pipe a byte at a time, so the command
the script ends with reads what follows it.

Lifecycle: ``open_transport`` connects at once (so host-key and login errors surface before any
phase runs); ``close`` ends the connection. One transport per host per invocation.

Host keys: Fabric's default policy accepts any key; here known_hosts is loaded and an unknown key
stops the run (``host-key = strict``) or is recorded with a warning (``accept-new``). A changed key
always stops it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import select
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import paramiko
from fabric import Connection

from pushdeploy.config import Environment
from pushdeploy.errors import ConnectionError, HostKeyError
from pushdeploy.keys import Host
from pushdeploy.streams import LineSplitter, OnLine, pump


class Transport(Protocol):
    label: str

    def run(self, script: str, on_line: OnLine, stdin: io.BufferedIOBase | None = None) -> int: ...

    def interactive(self, command: str) -> int: ...

    def close(self) -> None: ...


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

    def run(self, script: str, on_line: OnLine, stdin: io.BufferedIOBase | None = None) -> int:
        channel = self._channel()
        try:
            channel.exec_command("bash -s")
            channel.sendall(script.encode())
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
            if status == -1:  # closed without an exit status: the connection or sshd went away
                raise ConnectionError(
                    f"{self.label}: the connection was lost while the script ran",
                    "the server side stops and drops its lock; see 'pushdeploy ENV list' for the state",
                )
            return status
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


class LocalTransport:
    """``host = local``: the same scripts run by bash on this machine, no SSH."""

    label = "local"

    def run(self, script: str, on_line: OnLine, stdin: io.BufferedIOBase | None = None) -> int:
        with subprocess.Popen(
            ["bash", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            assert proc.stdin and proc.stdout and proc.stderr
            proc.stdin.write(script.encode())
            proc.stdin.flush()
            pipe = proc.stdin
            pump(stdin, lambda chunk: (pipe.write(chunk), pipe.flush()), pipe.close)
            splitters = {
                proc.stdout: LineSplitter("out", on_line),
                proc.stderr: LineSplitter("err", on_line),
            }
            open_streams = list(splitters)
            while open_streams:
                ready, _, _ = select.select(open_streams, [], [])
                for stream in ready:
                    data = os.read(stream.fileno(), 65536)
                    if data:
                        splitters[stream].feed(data)
                    else:
                        splitters[stream].flush()
                        open_streams.remove(stream)
            return proc.wait()

    def interactive(self, command: str) -> int:
        return subprocess.call(["bash", "-c", command])

    def close(self) -> None:
        pass


class RecordingTransport:
    """Runs nothing: hands every script to ``record`` (``--dry-run``, and the unit tests' fake)."""

    def __init__(
        self, label: str, record: Callable[[str, str], None], replies: list[str] | None = None
    ):
        self.label, self.record, self.replies = label, record, replies or []
        self.scripts: list[str] = []

    def run(self, script: str, on_line: OnLine, stdin: io.BufferedIOBase | None = None) -> int:
        self.scripts.append(script)
        self.record(self.label, script)
        for line in self.replies:
            on_line("out", line)
        return 0

    def interactive(self, command: str) -> int:
        self.record(self.label, command)
        return 0

    def close(self) -> None:
        pass


def open_transport(
    env: Environment, host: Host, warn: Callable[[str], None], host_key: str
) -> Transport:
    if host.local:
        return LocalTransport()
    connect_kwargs: dict[str, Any] = {}
    if env.key:
        connect_kwargs["key_filename"] = [os.path.expanduser(env.key)]
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
    while isinstance(hop, Connection):  # the target and every ProxyJump hop Fabric made for it
        for path in _known_hosts_files(hop, known_hosts):
            try:
                hop.client.load_system_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                warn(f"cannot read {path}: {exc}")
        hop.client.set_missing_host_key_policy(policy)
        hop = hop.gateway
    label = host.spec
    try:
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
        raise ConnectionError(
            f"{label}: login refused for user {connection.user}: {exc}",
            "check 'user' and 'key' in deploy.conf and that the key is in authorized_keys",
        ) from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise ConnectionError(
            f"{label}: cannot connect to {connection.host}:{connection.port}: {_reason(exc, connection.host)}"
        ) from None
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
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
