"""Specification of the test servers themselves: if these fail, no integration test means much."""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.support.clienthome import ClientHome, write_client_home
from tests.support.delayproxy import DelayProxy
from tests.support.sshd import SSHServer, read_banner
from tests.support.wire import recv_exactly

pytestmark = pytest.mark.sshd


def strict_client(home: ClientHome) -> paramiko.SSHClient:
    """A paramiko client that knows only ``home``'s known_hosts and rejects anything else."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(home.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect(client: paramiko.SSHClient, home: ClientHome) -> None:
    client.connect(
        home.host,
        port=home.port,
        username=home.user,
        key_filename=str(home.key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        banner_timeout=10,
        auth_timeout=10,
    )


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=10)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def test_the_environment_is_hermetic(hermetic_env: Path) -> None:
    """HOME is a fresh directory, no agent is reachable, git has a throwaway identity."""
    assert os.environ["HOME"] == str(hermetic_env)
    assert not (hermetic_env / ".ssh").exists()
    assert "SSH_AUTH_SOCK" not in os.environ
    assert not [name for name in os.environ if name.startswith("PUSHDEPLOY_")]
    name = subprocess.run(
        ["git", "config", "user.name"], capture_output=True, text=True, check=True
    ).stdout
    assert name.strip() == "Pushdeploy Tests"


def test_server_listens_on_loopback_and_speaks_ssh2(sshd: SSHServer) -> None:
    assert (sshd.host, sshd.running) == ("127.0.0.1", True)
    assert sshd.port not in (0, 22)
    assert read_banner(sshd.host, sshd.port, timeout=5).startswith(b"SSH-2.0-OpenSSH")


def test_known_hosts_line_names_the_port_and_the_host_key(sshd: SSHServer) -> None:
    key_type, blob = sshd.host_key_public.split()
    assert key_type == "ssh-ed25519"
    assert sshd.known_hosts_line() == f"[127.0.0.1]:{sshd.port} ssh-ed25519 {blob}"
    assert sshd.known_hosts_line(port=4242) == f"[127.0.0.1]:4242 ssh-ed25519 {blob}"


def test_client_home_is_private_and_complete(ssh_home: ClientHome, sshd: SSHServer) -> None:
    assert ssh_home.ssh_dir == Path(os.environ["HOME"]) / ".ssh"
    assert ssh_home.ssh_dir.stat().st_mode & 0o777 == 0o700
    assert ssh_home.key.stat().st_mode & 0o777 == 0o600
    assert ssh_home.known_hosts.read_text() == sshd.known_hosts_line() + "\n"
    assert "Host testhost\n" in ssh_home.config.read_text()


def test_openssh_client_runs_a_command_through_the_alias(ssh_home: ClientHome) -> None:
    """``ssh testhost`` with BatchMode: no prompt could have rescued a wrong key or host key."""
    result = subprocess.run(
        ssh_home.ssh_command("echo", "hi"),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")


def test_openssh_client_refuses_a_server_missing_from_known_hosts(
    sshd: SSHServer, tmp_path: Path
) -> None:
    home = write_client_home(tmp_path, sshd, known_hosts=False, alias="testhost")
    result = subprocess.run(home.ssh_command("true"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_paramiko_connects_with_reject_policy_and_the_written_known_hosts(
    ssh_home: ClientHome, sshd: SSHServer
) -> None:
    with strict_client(ssh_home) as client:
        connect(client, ssh_home)
        assert run(client, "echo hi; exit 3") == (3, "hi\n")
    assert f"Accepted publickey for {sshd.user} from 127.0.0.1" in sshd.log()


def test_remote_sessions_get_the_server_home_not_the_developers(
    ssh_home: ClientHome, sshd: SSHServer
) -> None:
    """No ~/.bashrc or ~/.gitconfig of the person running the tests leaks into remote commands."""
    with strict_client(ssh_home) as client:
        connect(client, ssh_home)
        status, out = run(client, 'echo "$HOME"; git config --global safe.directory')
    assert (status, out) == (0, f"{sshd.server_home}\n*\n")


def test_paramiko_rejects_a_server_missing_from_known_hosts(
    sshd: SSHServer, tmp_path: Path
) -> None:
    home = write_client_home(tmp_path, sshd, known_hosts=False)
    with strict_client(home) as client, pytest.raises(paramiko.SSHException, match="not found"):
        connect(client, home)


def test_a_rotated_host_key_is_a_bad_host_key(fresh_sshd: SSHServer, tmp_path: Path) -> None:
    home = write_client_home(tmp_path, fresh_sshd)
    with strict_client(home) as client:
        connect(client, home)
    old_key, port = fresh_sshd.host_key_public, fresh_sshd.port

    fresh_sshd.restart_with_new_host_key()

    assert (fresh_sshd.port, fresh_sshd.running) == (port, True)
    assert fresh_sshd.host_key_public != old_key
    with strict_client(home) as client, pytest.raises(paramiko.BadHostKeyException):
        connect(client, home)


def test_many_sessions_run_in_parallel_on_one_connection(ssh_home: ClientHome) -> None:
    """One transport, 20 channels at once (pushdeploy runs phases on parallel channels)."""
    with strict_client(ssh_home) as client:
        connect(client, ssh_home)
        transport = client.get_transport()
        assert transport is not None
        channels = [transport.open_session(timeout=10) for _ in range(20)]
        for number, channel in enumerate(channels):
            channel.exec_command(f"sleep 0.3; echo {number}")
        started = time.monotonic()
        outputs = [channel.makefile("r").read().decode().strip() for channel in channels]
        elapsed = time.monotonic() - started
    assert outputs == [str(number) for number in range(20)]
    assert elapsed < 3, f"20 x 0.3 s sessions took {elapsed:.1f}s: they did not run in parallel"


# -- DelayProxy ----------------------------------------------------------------------------------

DELAY = 0.05  # one way: 100 ms round trip


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_costs_a_handshake_and_a_round_trip_before_the_banner(sshd: SSHServer) -> None:
    """Connecting plus reading the banner takes at least 2 RTT, as on a real link."""
    with DelayProxy(sshd.host, sshd.port, delay=DELAY) as proxy:
        started = time.monotonic()
        banner = read_banner(proxy.host, proxy.port, timeout=5)
        elapsed = time.monotonic() - started
    assert banner.startswith(b"SSH-2.0-")
    assert proxy.rtt == 2 * DELAY
    assert 2 * proxy.rtt <= elapsed < 2 * proxy.rtt + 0.5


def test_proxy_delivers_a_burst_in_order_without_adding_delay_to_delay(
    echo_server: tuple[str, int],
) -> None:
    """Ten messages 10 ms apart come back in order after one RTT, not ten."""
    messages = [f"message {n:02d};".encode() for n in range(10)]
    with (
        DelayProxy(*echo_server, delay=DELAY) as proxy,
        socket.create_connection((proxy.host, proxy.port), timeout=5) as sock,
    ):
        sock.sendall(b"warm-up;")
        assert recv_exactly(sock, 8) == b"warm-up;"
        started = time.monotonic()
        for message in messages:
            sock.sendall(message)
            time.sleep(0.01)
        echoed = recv_exactly(sock, sum(map(len, messages)))
        elapsed = time.monotonic() - started
    assert echoed == b"".join(messages)
    assert proxy.rtt <= elapsed < proxy.rtt + 10 * 0.01 + 0.3


def test_proxy_carries_an_ssh_session_with_the_proxy_port_in_known_hosts(
    sshd: SSHServer, tmp_path: Path
) -> None:
    with DelayProxy(sshd.host, sshd.port, delay=DELAY) as proxy:
        home = write_client_home(tmp_path, sshd, port=proxy.port)
        assert home.known_hosts.read_text().startswith(f"[127.0.0.1]:{proxy.port} ")
        with strict_client(home) as client:
            connect(client, home)
            started = time.monotonic()
            assert run(client, "echo through") == (0, "through\n")
            elapsed = time.monotonic() - started
    # channel open + exec + data/exit status: at least two round trips
    assert elapsed >= 2 * proxy.rtt


def test_closing_the_proxy_cuts_its_connections(echo_server: tuple[str, int]) -> None:
    proxy = DelayProxy(*echo_server, delay=0)
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        proxy.close()
        with contextlib.suppress(ConnectionResetError):  # EOF or reset: both mean "cut"
            assert sock.recv(16) == b""
    with pytest.raises(OSError):
        socket.create_connection((proxy.host, proxy.port), timeout=1).close()
