"""The SSH handshake's shortcuts: a pipelined login, a socket that ACKs at once, known_hosts
parsed once per process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from pushdeploy.transport import knownhosts, login
from pushdeploy.transport.library import paramiko

SERVICE_REQUEST, SERVICE_ACCEPT, USERAUTH_REQUEST = 5, 6, 50


class FakeTransport:
    """What Paramiko's AuthHandler needs of a transport, recording the messages it sends."""

    session_id = b"session"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[int] = []

    def _send_message(self, message: Any) -> None:
        self.sent.append(message.asbytes()[0])

    def _log(self, *args: Any) -> None:
        pass


def accept() -> Any:
    message = paramiko.Message()
    message.add_string("ssh-userauth")
    message.rewind()
    return message


def test_the_signed_login_follows_the_service_request_without_waiting_and_only_once() -> None:
    transport = FakeTransport()
    handler = login.PipelinedAuth(transport)
    handler.auth_publickey("deployer", paramiko.ECDSAKey.generate(), threading.Event())
    assert transport.sent == [SERVICE_REQUEST, USERAUTH_REQUEST]
    handler._parse_service_accept(accept())  # the server's answer, one round trip later
    assert transport.sent == [SERVICE_REQUEST, USERAUTH_REQUEST]


def test_paramikos_own_login_waits_for_the_service_to_be_accepted() -> None:
    """The behaviour ``PipelinedAuth`` changes (if Paramiko changes it, this says so)."""
    transport = FakeTransport()
    handler = paramiko.auth_handler.AuthHandler(transport)
    handler.auth_publickey("deployer", paramiko.ECDSAKey.generate(), threading.Event())
    assert transport.sent == [SERVICE_REQUEST]
    handler._parse_service_accept(accept())
    assert transport.sent == [SERVICE_REQUEST, USERAUTH_REQUEST]


class Key:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


@pytest.mark.parametrize(
    ("server", "key", "expected"),
    [
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2", "ssh-ed25519", True),
        ("SSH-2.0-OpenSSH_8.0", "ecdsa-sha2-nistp256", True),
        ("SSH-2.0-OpenSSH_9.2p1", "ssh-rsa", False),  # its algorithm waits for server-sig-algs
        ("SSH-2.0-OpenSSH_9.2p1", "ssh-rsa-cert-v01@openssh.com", False),
        ("SSH-2.0-dropbear_2022.83", "ssh-ed25519", False),  # only servers known to handle it
    ],
)
def test_logins_are_pipelined_only_with_openssh_and_keys_other_than_rsa(
    server: str, key: str, expected: bool
) -> None:
    transport = login.FastTransport.__new__(login.FastTransport)  # no socket, no thread
    transport.remote_version = server
    assert transport._pipelines(Key(key)) is expected


def test_a_known_hosts_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    key = paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:2222 {key.get_name()} {key.get_base64()}\n")
    first = knownhosts.read(known)
    assert knownhosts.read(known) is first
    assert [key.asbytes()] == [e.blob for e in knownhosts.known([first], ["[127.0.0.1]:2222"]).keys]
    with known.open("a") as fh:
        fh.write(f"[127.0.0.1]:2223 {key.get_name()} {key.get_base64()}\n")
    again = knownhosts.read(known)
    assert again is not first
    assert knownhosts.known([again], ["[127.0.0.1]:2223"]).keys


def _raised_in(handling: BaseException, raised: BaseException) -> BaseException:
    """``raised``, raised while ``handling`` was handled (as Paramiko wraps a socket's error)."""
    try:
        try:
            raise handling
        except BaseException:
            raise raised  # noqa: B904  # the context is the point
    except BaseException as exc:
        return exc


NO_ANSWER = f"no answer from the server for {login.WAIT} s during the login (a network problem?)"
CLOSED = "the connection closed during the login"


@pytest.mark.parametrize(
    ("exc", "ended", "expected"),
    [
        (EOFError(), True, CLOSED),
        (EOFError(), False, CLOSED),
        (paramiko.SSHException("Error reading SSH protocol banner"), True, CLOSED),
        (_raised_in(TimeoutError(), paramiko.SSHException("Error reading SSH protocol banner")), True, NO_ANSWER),
        (paramiko.SSHException("No existing session"), False, NO_ANSWER),  # the key exchange's wait
        (paramiko.SSHException("No existing session"), True, CLOSED),
        (paramiko.AuthenticationException("Authentication timeout."), False, NO_ANSWER),
        (paramiko.AuthenticationException("Authentication failed: transport shut down or saw EOF"), True, CLOSED),
        (paramiko.AuthenticationException("Authentication failed."), False, None),  # refused
        (ConnectionResetError(104, "Connection reset by peer"), True, CLOSED),
        (paramiko.BadHostKeyException("h", paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)), False, None),
        (paramiko.ProxyCommandFailure("nc h 22", "exited"), True, None),
        (ValueError("a bug"), True, None),
    ],
)  # fmt: skip
def test_a_login_stopped_short_by_the_network_is_told_from_a_refusal(
    exc: BaseException, ended: bool, expected: str | None
) -> None:
    assert expected == login.unanswered(exc, ended)
