"""The key kinds users have log in to a real OpenSSH server with either transport, named in ~/.ssh/config.

ed25519, ecdsa, rsa with only rsa-sha2 accepted (sshd's PubkeyAcceptedAlgorithms), a passphrase
key in a real ssh-agent (``$SSH_AUTH_SOCK``), a user certificate via CertificateFile (sshd's
TrustedUserCAKeys), and a ``.pub`` IdentityFile whose private half is only in the agent. sshd's
VERBOSE log says which key it accepted. The matrix of servers and transports: test_interop.py.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until
from tests.support.clienthome import write_client_home
from tests.support.sshd import SSHServer, find_sshd

ALGORITHMS = (
    "PubkeyAcceptedAlgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-256,rsa-sha2-512,"
    "ssh-ed25519-cert-v01@openssh.com"
)
PASSPHRASE = "correct horse"
TRANSPORTS = ("paramiko", "openssh")


class KeyServer:
    """An OpenSSH server that accepts only ed25519, ecdsa, rsa-sha2 and ed25519 certificates
    signed by its user CA (``ca``, the private half kept here for signing)."""

    def __init__(self, base: Path) -> None:
        self.ca = base / "user_ca"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.ca)],
            check=True,
            capture_output=True,
        )
        directives = (ALGORITHMS, f"TrustedUserCAKeys {self.ca}.pub")
        self.server = SSHServer(base / "sshd", directives=directives)


@pytest.fixture(scope="module")
def key_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyServer]:
    if find_sshd() is None:
        pytest.skip("no OpenSSH server (openssh-server)")
    keys = KeyServer(tmp_path_factory.mktemp("interop-keys"))
    keys.server.start()
    try:
        yield keys
    finally:
        keys.server.stop()


@pytest.fixture(autouse=True)
def log_on_failure(request: pytest.FixtureRequest, key_server: KeyServer) -> Iterator[None]:
    """A failing test prints what the shared sshd logged during it."""
    failed_before, offset = request.session.testsfailed, key_server.server.log_size()
    yield
    if request.session.testsfailed > failed_before:
        print(f"--- sshd log: {key_server.server.log_path}\n" + key_server.server.log_since(offset))


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent on a private socket, named by SSH_AUTH_SOCK for this test."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, 10, "ssh-agent's socket")
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def agent_connections(sock: Path) -> int:
    """Close and count the sockets of this process still connected to the agent at ``sock``
    (closed here so that a leak fails this test, not a later one at garbage collection)."""
    found = 0
    for thing in gc.get_objects():
        if isinstance(thing, socket.socket) and thing.fileno() != -1:
            try:
                peer = thing.getpeername()
            except OSError:
                continue
            if peer == str(sock):
                thing.close()
                found += 1
    return found


def make_key(path: Path, kind: str, passphrase: str = "") -> Path:
    bits = ["-b", "2048"] if kind == "rsa" else ["-b", "256"] if kind == "ecdsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", passphrase, "-f", str(path)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def add_to_agent(key: Path, passphrase: str, tmp_path: Path) -> None:
    """``ssh-add KEY``, the passphrase typed by an askpass program."""
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\necho '{passphrase}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    subprocess.run(
        ["ssh-add", str(key)], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL
    )


KEY_KINDS = ["ed25519", "ecdsa", "rsa-sha2", "passphrase-in-agent", "certificate", "pub-in-agent"]
# What sshd logs for each (VERBOSE): the key type it accepted.
ACCEPTED = {
    "ed25519": "ED25519 SHA256:",
    "ecdsa": "ECDSA SHA256:",
    "rsa-sha2": "RSA SHA256:",
    "passphrase-in-agent": "ED25519 SHA256:",
    "certificate": "ED25519-CERT SHA256:",
    "pub-in-agent": "ED25519 SHA256:",
}


# Product defects (pushdeploy/transport/identity.py, agents.py), each cell failing as written down.
DEFECTS = {
    ("passphrase-in-agent", "paramiko"): (
        "identity.offer turns the agent off under IdentitiesOnly yes, so a passphrase key that the "
        "agent holds is never offered from it (ssh offers the agent's copy of the named key)"
    ),
    ("pub-in-agent", "paramiko"): (
        "agents._use opens paramiko.Agent() on $SSH_AUTH_SOCK and never closes it (ResourceWarning)"
    ),
}
KEY_CELLS = [
    pytest.param(
        k,
        t,
        id=f"{k}-{t}",
        marks=[pytest.mark.xfail(strict=True, reason=DEFECTS[k, t])] if (k, t) in DEFECTS else [],
    )
    for k in KEY_KINDS
    for t in TRANSPORTS
]


@pytest.mark.parametrize(("key_kind", "transport"), KEY_CELLS)
def test_each_key_kind_logs_in(
    key_kind: str,
    transport: str,
    key_server: KeyServer,
    tmp_path: Path,
    hermetic_env: Path,
    private_tmp: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Each kind of user key a user has logs in with either transport, named in ~/.ssh/config."""
    server = key_server.server
    home = write_client_home(hermetic_env, server)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    algorithm = {"rsa-sha2": "rsa", "ecdsa": "ecdsa"}.get(key_kind, "ed25519")
    passphrase = PASSPHRASE if key_kind == "passphrase-in-agent" else ""
    key = make_key(keys / "id", algorithm, passphrase)
    public = Path(f"{key}.pub")
    lines = [f"    IdentityFile {key}"]
    if key_kind == "certificate":
        subprocess.run(
            [
                *("ssh-keygen", "-q", "-s", str(key_server.ca), "-I", "interop-cert"),
                *("-n", server.user, "-V", "-5m:+1h", str(public)),
            ],
            check=True,
            capture_output=True,
        )
        lines.append(f"    CertificateFile {key}-cert.pub")
    else:
        with server.authorized_keys.open("a") as fh:
            fh.write(public.read_text())
    if key_kind in ("passphrase-in-agent", "pub-in-agent"):
        request.getfixturevalue("agent")
        add_to_agent(key, passphrase, tmp_path)
    if key_kind == "pub-in-agent":
        key.unlink()  # only the agent holds it
        lines = [f"    IdentityFile {public}"]
    home.config.write_text(
        f"Host app\n    HostName {server.host}\n    Port {server.port}\n    User {server.user}\n"
        + "\n".join(lines)
        + f"\n    IdentitiesOnly yes\nHost *\n    UserKnownHostsFile {home.known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n",
        encoding="utf-8",
    )
    p = Project(tmp_path, "host = app", {"ssh": transport})
    offset = server.log_size()
    p.ok("app", "setup")
    leaked = agent_connections(tmp_path / "agent.sock")
    log = server.log_since(offset)
    if key_kind == "certificate":
        assert 'Accepted certificate ID "interop-cert"' in log, log
    else:
        assert ACCEPTED[key_kind] in log, log
    assert leaked == 0, "connections to the agent left open after the run"
