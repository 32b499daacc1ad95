"""A script's end over SSH when the connection goes at its last moment: its status counts only
when all of its output came (sshd's EOF), and a channel close that fails changes nothing."""

from __future__ import annotations

import os
from typing import Any

import pytest

from pushdeploy.errors import ConnectionError
from pushdeploy.transport.ssh import SSHTransport


class Connection:
    """A client, its transport and the one channel a script gets: the script has ended with
    status 0 and the connection dies as it is sent; ``eof``: sshd's EOF came before that."""

    first_session = None

    def __init__(self, eof: bool, close_fails: bool = False) -> None:
        self.active, self.eof_received, self.close_fails = True, eof, close_fails
        self.closed = True
        self._read, write = os.pipe()
        os.close(write)  # readable at once: select never waits

    # the client
    def get_transport(self) -> Any:
        return self

    def close(self) -> None:
        os.close(self._read)
        if self.close_fails:
            raise EOFError

    # its transport
    def is_active(self) -> bool:
        return self.active

    def open_session(self, timeout: float) -> Any:
        return self

    # the channel
    def exec_command(self, command: str) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.active = False  # the connection dies here

    def shutdown_write(self) -> None:
        pass

    def fileno(self) -> int:
        return self._read

    def recv_ready(self) -> bool:
        return False

    recv_stderr_ready = recv_ready

    def exit_status_ready(self) -> bool:
        return True

    def recv_exit_status(self) -> int:
        return 0


def run(connection: Connection) -> int:
    transport = SSHTransport(connection, "web1", forward_agent=False, jumps=[])
    return transport.run("true", lambda stream, line: None)


def test_a_status_without_sshds_eof_is_a_lost_connection() -> None:
    """sshd may send the exit status before the last of the output: it might be missing."""
    with pytest.raises(ConnectionError, match="web1: the connection was lost while the script ran"):
        run(Connection(eof=False))


def test_a_status_after_sshds_eof_stands_though_the_channel_cannot_close() -> None:
    assert run(Connection(eof=True, close_fails=True)) == 0
