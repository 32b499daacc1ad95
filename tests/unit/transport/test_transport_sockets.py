"""TCP to the hosts: a tuned dial, and connections dialed ahead while pushdeploy starts.

A connection dialed ahead has sent pushdeploy's SSH greeting; the transport takes it at most
once, fresh and open, for the same name and port; what is not taken is closed when the command
ends. Every test talks to a real listening socket on 127.0.0.1.
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.transport import dialing_ahead, sockets
from tests.support.wire import recv_exactly

DEADLINE = 5.0  # seconds: anything here answers at once on loopback


@pytest.fixture
def server() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEADLINE)
        yield listener


def port_of(listener: socket.socket) -> int:
    return int(listener.getsockname()[1])


def closed_by_client(peer: socket.socket) -> bool:
    """The client closed its end: reading says end of stream (after what it had sent)."""
    peer.settimeout(DEADLINE)  # a client that keeps it open: TimeoutError, the test fails
    while peer.recv(4096):  # what was sent before the close (the greeting)
        pass
    return True


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens here once closed


def test_dial_returns_a_connected_socket_with_nodelay_that_acks_at_once(
    server: socket.socket,
) -> None:
    sock = sockets.dial("127.0.0.1", port_of(server), timeout=5)
    try:
        assert isinstance(sock, sockets.QuickAckSocket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        peer, _ = server.accept()
        with peer:
            peer.sendall(b"SSH-2.0-x\r\n")
            assert sock.recv(64) == b"SSH-2.0-x\r\n"
    finally:
        sock.close()


def test_dial_to_a_port_nobody_listens_on_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        sockets.dial("127.0.0.1", unused_port(), timeout=5)


def test_a_connection_dialed_ahead_has_greeted_and_is_taken_once(server: socket.socket) -> None:
    port = port_of(server)
    with sockets.dialing_ahead([("127.0.0.1", port)]):
        peer, _ = server.accept()
        with peer:
            assert recv_exactly(peer, len(sockets.GREETING)) == sockets.GREETING
            sock = sockets.taken("127.0.0.1", port)
            assert sock is not None
            assert sockets.taken("127.0.0.1", port) is None  # once
            with sock:
                # Paramiko's greeting is the one already sent: it is not sent twice
                assert sock.send(sockets.GREETING) == len(sockets.GREETING)
                sock.sendall(b"next\n")
                assert recv_exactly(peer, 5) == b"next\n"
                peer.sendall(b"SSH-2.0-server\r\n")
                assert recv_exactly(sock, 16) == b"SSH-2.0-server\r\n"


def test_only_the_name_and_port_dialed_are_taken(server: socket.socket) -> None:
    port = port_of(server)
    with sockets.dialing_ahead([("127.0.0.1", port)]):
        peer, _ = server.accept()
        with peer:
            assert sockets.taken("127.0.0.1", port + 1 if port < 65535 else 1) is None
            assert sockets.taken("localhost", port) is None
            sock = sockets.taken("127.0.0.1", port)
            assert sock is not None
            sock.close()


def test_what_is_not_taken_is_closed_when_the_command_ends(server: socket.socket) -> None:
    with sockets.dialing_ahead([("127.0.0.1", port_of(server))]):
        peer, _ = server.accept()
    with peer:
        assert closed_by_client(peer)
    assert sockets.taken("127.0.0.1", port_of(server)) is None


def test_a_connection_older_than_fresh_is_closed_not_taken(server: socket.socket) -> None:
    target = ("127.0.0.1", port_of(server))
    now = [100.0]
    ahead = sockets.Ahead([target], clock=lambda: now[0])
    try:
        peer, _ = server.accept()
        with peer:
            recv_exactly(peer, len(sockets.GREETING))
            assert ahead._dials[target].done.wait(DEADLINE)  # dialed: its time is set
            now[0] += sockets.FRESH + 1
            assert ahead.take(*target) is None
            assert closed_by_client(peer)
    finally:
        ahead.close()


def test_a_connection_the_server_closed_is_not_taken(server: socket.socket) -> None:
    target = ("127.0.0.1", port_of(server))
    ahead = sockets.Ahead([target])
    try:
        peer, _ = server.accept()
        recv_exactly(peer, len(sockets.GREETING))
        peer.close()
        dialing = ahead._dials[target]
        assert dialing.done.wait(DEADLINE) and dialing.sock is not None
        readable, _, _ = select.select([dialing.sock], [], [], DEADLINE)  # the end has come
        assert readable
        assert ahead.take(*target) is None
    finally:
        ahead.close()


def test_taking_an_open_connection_does_not_wait_for_the_server_to_speak(
    server: socket.socket,
) -> None:
    taken: list[socket.socket | None] = []
    with sockets.dialing_ahead([("127.0.0.1", port_of(server))]):
        peer, _ = server.accept()
        with peer:  # it says nothing
            recv_exactly(peer, len(sockets.GREETING))
            worker = threading.Thread(target=lambda: taken.append(sockets.taken(*peer_of(peer))))
            worker.start()
            worker.join(DEADLINE)
            assert not worker.is_alive()
            assert taken[0] is not None
            taken[0].close()


def peer_of(peer: socket.socket) -> tuple[str, int]:
    host, port = peer.getsockname()[:2]
    return str(host), int(port)


def test_a_dial_that_failed_fails_the_transport_with_its_error() -> None:
    port = unused_port()
    with sockets.dialing_ahead([("127.0.0.1", port)]), pytest.raises(ConnectionRefusedError):
        sockets.taken("127.0.0.1", port)


@pytest.mark.parametrize(
    ("name", "dialed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("web1.example.com", True),
        ("web1.example.com.", True),
        ("web1", False),  # in all likelihood an alias of ~/.ssh/config: not even looked up
        ("localhost", False),
        ("prod.", False),
    ],
)
def test_names_that_are_likely_aliases_are_not_dialed_ahead(name: str, dialed: bool) -> None:
    assert sockets.worth_dialing(name) is dialed


def environment(keys: str) -> config.Environment:
    text = f"[production]\npath = /srv/app\n{keys}\n"
    ini = config.parse(text, "deploy.conf")
    return config.build_environment(
        "production", "deploy.conf", config.effective(ini, "production")
    )


def test_the_hosts_dialed_ahead_are_the_first_parallel_ones_with_their_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialed: list[list[tuple[str, int]]] = []
    monkeypatch.setattr(sockets, "dialing_ahead", lambda targets: dialed.append(list(targets)))
    hosts = "10.0.0.1 deploy@10.0.0.2:2222 web3 10.0.0.4 10.0.0.5"
    dialing_ahead(
        environment(f"repo = /srv/git/app.git\nhost = {hosts}\nport = 2200\nparallel = 4")
    )
    # web3: in all likelihood an alias; 10.0.0.5 connects once one of the first 4 is done
    assert dialed == [[("10.0.0.1", 2200), ("10.0.0.2", 2222), ("10.0.0.4", 2200)]]
    dialed.clear()
    dialing_ahead(environment("repo = /srv/git/app.git\nhost = 10.0.0.1"))
    assert dialed == [[("10.0.0.1", sockets.SSH_PORT)]]


@pytest.mark.parametrize(
    "keys",
    [
        "repo = /srv/git/app.git\npre-deploy-local = make assets",
        "artifact = dist/app.tar.gz",
    ],
)
def test_nothing_is_dialed_ahead_when_a_step_here_comes_first(keys: str) -> None:
    with dialing_ahead(environment(f"host = 10.0.0.1\n{keys}")) as ahead:
        assert ahead is None  # nullcontext: no Ahead, no thread, no connection


def test_the_greeting_is_a_valid_ssh_version_line() -> None:
    # RFC 4253 4.2: printable US-ASCII without blanks or "-" after "SSH-2.0-", then CR LF
    assert re.fullmatch(rb"SSH-2\.0-[!-,.-~]+\r\n", sockets.GREETING)
    assert f"SSH-2.0-{sockets.CLIENT_ID}\r\n".encode() == sockets.GREETING
