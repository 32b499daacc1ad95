"""SSH specifics against a real OpenSSH server: host keys, ~/.ssh/config aliases, console, errors."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pushdeploy.transport import sockets
from tests.integration.conftest import Project, wait_until
from tests.support.clienthome import write_client_home
from tests.support.sshd import SSHServer


def ssh_project(tmp_path: Path, server: SSHServer, *, known: bool = True) -> Project:
    home = write_client_home(Path(os.environ["HOME"]), server, known_hosts=known, alias="testhost")
    return Project(tmp_path, f"host = {home.user}@{home.host}:{home.port}\nkey = {home.key}")


def test_an_unknown_host_key_stops_with_its_fingerprint(tmp_path: Path, sshd: SSHServer) -> None:
    p = ssh_project(tmp_path, sshd, known=False)
    result = p.run("app", "setup")
    assert result.status == 4
    assert "unknown host key ssh-ed25519 SHA256:" in result.stderr
    assert "--host-key accept-new" in result.stderr
    assert not p.root.exists()


def test_accept_new_records_the_key_and_says_so(tmp_path: Path, sshd: SSHServer) -> None:
    p = ssh_project(tmp_path, sshd, known=False)
    result = p.ok("--host-key", "accept-new", "app", "setup")
    assert "added [127.0.0.1]:" in result.stderr
    known = (Path(os.environ["HOME"]) / ".ssh" / "known_hosts").read_text()
    assert sshd.host_key_public.split()[1] in known
    p.ok("app", "setup")  # strict from now on, and the key is known


def test_accept_new_in_the_config_file_works_too(tmp_path: Path, sshd: SSHServer) -> None:
    p = ssh_project(tmp_path, sshd, known=False)
    p.configure(host_key="accept-new")
    p.ok("app", "setup")


def test_a_changed_host_key_stops_even_with_accept_new(
    tmp_path: Path, fresh_sshd: SSHServer
) -> None:
    p = ssh_project(tmp_path, fresh_sshd)
    p.ok("app", "setup")
    fresh_sshd.restart_with_new_host_key()
    for extra in [(), ("--host-key", "accept-new")]:
        result = p.run(*extra, "app")
        assert result.status == 4
        assert "host key CHANGED" in result.stderr
        assert f"ssh-keygen -R '[127.0.0.1]:{fresh_sshd.port}'" in result.stderr
    assert not (p.root / "current").exists()


def test_a_host_alias_from_ssh_config_is_honoured(tmp_path: Path, sshd: SSHServer) -> None:
    write_client_home(Path(os.environ["HOME"]), sshd, alias="testhost")
    p = Project(tmp_path, "host = testhost")
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "v1"


def test_systemd_runs_the_unit_as_the_user_ssh_config_logs_in_as(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """``user`` left to ~/.ssh/config (init's advice): the unit runs as the user who deployed,
    the owner of the releases, not as root by default."""
    write_client_home(Path(os.environ["HOME"]), sshd, alias="testhost")
    p = Project(tmp_path, "host = testhost", {"app": "python3 app.py", "listen": "127.0.0.1:3000"})
    p.ok("app", "setup")
    p.ok("app")
    owner = pwd.getpwuid((p.root / "current").lstat().st_uid).pw_name
    for argv in (["systemd"], ["systemd", "--socket"]):
        printed = p.ok("app", *argv).stdout
        assert [line for line in printed.splitlines() if line.startswith("User=")] == [
            f"User={sshd.user}"
        ]
    assert owner == sshd.user


def test_a_refused_connection_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    p = Project(tmp_path, f"host = nobody@127.0.0.1:{port}")
    result = p.run("app", "setup")
    assert result.status == 4
    assert result.error_lines == [
        f"pushdeploy: error: nobody@127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: Connection refused"
    ]
    assert "Traceback" not in result.stderr


def test_a_wrong_key_is_a_login_error(tmp_path: Path, sshd: SSHServer) -> None:
    write_client_home(Path(os.environ["HOME"]), sshd)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    p = Project(tmp_path, f"host = {sshd.user}@127.0.0.1:{sshd.port}\nkey = {other}")
    os.remove(Path(os.environ["HOME"]) / ".ssh" / "id_ed25519")
    result = p.run("app", "setup")
    assert result.status == 4
    assert "login refused" in result.stderr


@pytest.mark.parametrize("client", ["paramiko", "openssh"])
def test_console_opens_a_shell_in_the_live_release(
    tmp_path: Path, sshd: SSHServer, client: str
) -> None:
    p = ssh_project(tmp_path, sshd)
    p.configure(ssh=client)
    p.ok("app", "setup")
    p.ok("app")
    # A real process with piped stdin: the shell reads commands from it, as from a person.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushdeploy",
            "-c",
            str(p.conf),
            "-C",
            str(p.base),
            "-q",
            "app",
            "console",
        ],
        input='cat VERSION; echo "rev=$REVISION"; exit 0\n',
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert "v1" in done.stdout
    assert f"rev={p.origin.sha('main')}" in done.stdout


def test_proxyjump_hops_are_host_key_checked_too(
    tmp_path: Path, sshd: SSHServer, fresh_sshd: SSHServer
) -> None:
    home = write_client_home(Path(os.environ["HOME"]), sshd, known_hosts=False)
    with fresh_sshd.authorized_keys.open("a") as fh:  # the same client key logs in to both
        fh.write(sshd.client_key.with_name(sshd.client_key.name + ".pub").read_text())
    home.config.write_text(
        f"Host target\n    HostName 127.0.0.1\n    Port {fresh_sshd.port}\n    User {sshd.user}\n"
        f"    IdentityFile {home.key}\n    ProxyJump {sshd.user}@localhost:{sshd.port}\n"
        + home.config.read_text()
    )
    home.known_hosts.write_text(fresh_sshd.known_hosts_line() + "\n")  # the jump host is unknown
    p = Project(tmp_path, "host = target")
    refused = p.run("app", "setup")
    assert refused.status == 4
    assert f"[localhost]:{sshd.port}" in refused.stderr and "unknown host key" in refused.stderr
    with home.known_hosts.open("a") as fh:  # Fabric skips a jump host with the target's name,
        fh.write(sshd.known_hosts_line().replace("127.0.0.1", "localhost") + "\n")  # so: localhost
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "v1"
    assert f"Accepted publickey for {sshd.user}" in fresh_sshd.log()


def test_forward_agent_lends_the_local_agent_to_the_server(
    tmp_path: Path, sshd: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = ssh_project(tmp_path, sshd)
    agent_sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_sock)], stdout=subprocess.DEVNULL)
    try:
        wait_until(agent_sock.exists, what="ssh-agent's socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(agent_sock)}
        subprocess.run(
            ["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True
        )
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent_sock))
        p.configure(forward_agent="yes")
        p.ok("app", "setup")
        p.ok("app")
        listed = p.ok("app", "exec", "ssh-add -l")
        assert "pushdeploy-test-client" in listed.stdout
        p.configure(forward_agent="no")
        assert p.run("app", "exec", "ssh-add -l").status != 0
    finally:
        agent.terminate()
        agent.wait(10)


def test_a_connection_lost_mid_build_fails_clearly_and_the_server_cleans_up(
    tmp_path: Path, fresh_sshd: SSHServer
) -> None:
    p = ssh_project(tmp_path, fresh_sshd)
    p.ok("app", "setup")
    gate = tmp_path / "gate"
    p.configure(
        build=f"touch {str(tmp_path / 'building')!r}; for i in $(seq 300); do [ -e {str(gate)!r} ] && break; sleep 0.1; done"
    )
    results = []
    worker = threading.Thread(target=lambda: results.append(p.run("app")))
    worker.start()
    try:
        wait_until((tmp_path / "building").exists, what="the build to start")
        assert fresh_sshd._proc is not None
        sessions = subprocess.run(
            ["pgrep", "-P", str(fresh_sshd._proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert sessions, "no sshd session process found"
        for pid in sessions:
            os.kill(int(pid), signal.SIGKILL)
        worker.join(30)
    finally:
        gate.touch()
    result = results[0]
    assert result.status == 4
    assert result.error_lines == [
        f"pushdeploy: error: {p.host_spec}: the connection was lost while the script ran"
    ]
    wait_until(
        lambda: not (p.root / ".pushdeploy" / "lock").exists(), what="the lock to be dropped"
    )
    wait_until(
        lambda: not any((p.root / "releases").iterdir()), what="the half-built release to go"
    )
    assert not (p.root / "current").exists()


def test_a_deploy_is_one_connection_and_one_session_and_its_login_breaks_no_protocol_rule(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """The login is pipelined (transport/login.py): sshd must see it as a plain, valid one."""
    p = ssh_project(tmp_path, sshd)
    p.ok("app", "setup")
    offset = sshd.log_size()
    p.deploy_new("v2", "app")
    log = sshd.log_since(offset)
    assert (log.count("Connection from"), log.count("Starting session:")) == (1, 1)
    assert log.count("Accepted publickey") == 1
    assert re.findall(r"(?i)protocol[ _]error", log) == []  # e.g. a second USERAUTH_REQUEST
    assert p.live == "v2"


class Decoy:
    """A listener where a host is NOT: it records what each connection sent until the client
    closed it (marked "(kept open)" when that did not come within 10 s)."""

    def __init__(self, address: tuple[str, int]) -> None:
        import socket

        self.server = socket.create_server(address)
        self.server.settimeout(0.2)
        self.received: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                peer, _ = self.server.accept()
            except TimeoutError:
                continue
            with peer:
                peer.settimeout(10)
                data, closed = b"", False
                with contextlib.suppress(OSError):  # a timeout: it was kept open
                    while chunk := peer.recv(4096):
                        data += chunk
                    closed = True  # by the client
                self.received.append(data if closed else b"(kept open) " + data)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(15)
        self.server.close()


def test_a_host_dialed_ahead_where_ssh_config_does_not_go_is_closed_unused(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """deploy.conf names 127.0.0.2; ~/.ssh/config sends it to the sshd on 127.0.0.1. What was
    dialed ahead (to 127.0.0.2, the same port) had SSH's greeting and nothing more, and was
    closed by the end of each command; the commands went where the config says."""
    write_client_home(Path(os.environ["HOME"]), sshd, alias="127.0.0.2")
    decoy = Decoy(("127.0.0.2", sshd.port))
    try:
        p = Project(tmp_path, f"host = 127.0.0.2:{sshd.port}")
        p.ok("app", "setup")
        p.ok("app")
        wait_until(lambda: len(decoy.received) == 2, what="both connections dialed ahead to end")
    finally:
        decoy.close()
    assert p.live == "v1"
    assert decoy.received == [sockets.GREETING, sockets.GREETING]


def test_the_first_session_is_opened_behind_the_login_and_runs_the_script(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """RFC 4252 5.1: what follows a login request that succeeds goes to the service, so the
    session's CHANNEL_OPEN travels with the login (no round trip of its own) and sshd takes it."""
    from pushdeploy.config import deployconf as config
    from pushdeploy.transport import ssh

    p = ssh_project(tmp_path, sshd)
    env = config.load(p.conf, "app")
    offset = sshd.log_size()
    transport = ssh.connect(env, env.hosts[0], warn=print, host_key="strict")
    try:
        first = transport.client.get_transport().first_session  # type: ignore[attr-defined]
        assert first is not None
        lines: list[str] = []
        status = transport.run("echo hello from $$", lambda stream, line: lines.append(line))
        assert status == 0
        assert lines[0].startswith("hello from ")
        assert first.taken and first.channel is not None  # it was the script's channel
    finally:
        transport.close()
    log = sshd.log_since(offset)
    assert log.count("Starting session:") == 1
    assert re.findall(r"(?i)protocol[ _]error|unimplemented", log) == []
