"""~/.ssh/config and known_hosts honoured as ``ssh`` honours them, against a real OpenSSH server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until
from tests.support.clienthome import ClientHome, write_client_home
from tests.support.sshd import SSHServer, keygen

needs_ssh = pytest.mark.skipif(
    subprocess.run(["which", "ssh"], capture_output=True).returncode != 0,
    reason="no OpenSSH client (ssh -G resolves ~/.ssh/config)",
)


def home_for(server: SSHServer, config: str, *, known: str | None = None) -> ClientHome:
    """``$HOME/.ssh`` for ``server`` with ``config`` as ~/.ssh/config (``{…}`` filled from the
    home) and, if given, ``known`` as known_hosts."""
    home = write_client_home(Path(os.environ["HOME"]), server)
    fields = {"ssh": home.ssh_dir, "key": home.key, "port": server.port, "user": server.user}
    home.config.write_text(config.format(**fields), encoding="utf-8")
    if known is not None:
        home.known_hosts.write_text(known, encoding="utf-8")
    return home


KNOWN = "UserKnownHostsFile {ssh}/known_hosts\n    GlobalKnownHostsFile /dev/null\n"


@needs_ssh
def test_a_host_named_in_an_included_file_is_found(tmp_path: Path, sshd: SSHServer) -> None:
    """``Include`` with a glob wires a host in, as in Debian's ssh_config.d (the issue's first)."""
    home = home_for(sshd, "Include {ssh}/config.d/*.conf\nHost *\n    " + KNOWN)
    (home.ssh_dir / "config.d").mkdir()
    (home.ssh_dir / "config.d" / "app.conf").write_text(
        f"Host app\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User {sshd.user}\n"
        f"    IdentityFile {home.key}\n    IdentitiesOnly yes\n"
    )
    p = Project(tmp_path, "host = app")
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "v1"


@needs_ssh
def test_a_match_block_applies(tmp_path: Path, sshd: SSHServer) -> None:
    """A ``Match`` block gives its settings to the hosts it matches."""
    home_for(
        sshd,
        "Match originalhost web,other\n    HostName 127.0.0.1\n    Port {port}\n"
        "    User {user}\n    IdentityFile {key}\nHost *\n    " + KNOWN,
    )
    p = Project(tmp_path, "host = web")
    p.ok("app", "setup")


@needs_ssh
def test_host_key_alias_names_the_host_in_known_hosts(tmp_path: Path, sshd: SSHServer) -> None:
    """With HostKeyAlias the key is looked up (and accept-new records it) under the alias."""
    home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\n    HostKeyAlias app-key\nHost *\n    " + KNOWN,
        known=f"app-key {sshd.host_key_public}\n",
    )
    p = Project(tmp_path, "host = app")
    p.ok("app", "setup")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Path]:
    """A real ssh-agent on a private socket (its path)."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, what="ssh-agent's socket")
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


@needs_ssh
@pytest.mark.parametrize("named", [".pub", ""])
def test_a_pub_identity_file_means_that_key_from_the_identity_agent(
    tmp_path: Path, sshd: SSHServer, agent: Path, named: str
) -> None:
    """IdentityFile naming a ``.pub`` (or a missing private file next to its ``.pub``) whose
    private half is only in the IdentityAgent logs in with the agent's key."""
    env = {**os.environ, "SSH_AUTH_SOCK": str(agent)}
    subprocess.run(
        ["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True
    )
    home = home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}"
        + named
        + "\n    IdentitiesOnly yes\n    IdentityAgent "
        + str(agent)
        + "\nHost *\n    "
        + KNOWN,
    )
    home.key.unlink()  # only the agent holds it
    assert "SSH_AUTH_SOCK" not in os.environ
    p = Project(tmp_path, "host = app")
    p.ok("app", "setup")
    assert f"Accepted publickey for {sshd.user}" in sshd.log()


@needs_ssh
def test_accept_new_writes_the_first_user_known_hosts_file_hashed(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """accept-new records in the first UserKnownHostsFile (hashed: HashKnownHosts), and the
    next strict run reads it there."""
    home = home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\n    UserKnownHostsFile {ssh}/first {ssh}/known_hosts\n"
        "    HashKnownHosts yes\n    GlobalKnownHostsFile /dev/null\n",
        known="",
    )
    p = Project(tmp_path, "host = app")
    result = p.ok("--host-key", "accept-new", "app", "setup")
    first = (home.ssh_dir / "first").read_text()
    assert first.startswith("|1|") and sshd.host_key_public in first
    assert f"to {home.ssh_dir / 'first'}" in result.stderr
    assert home.known_hosts.read_text() == ""
    p.ok("app", "setup")  # strict, and known
    assert (home.ssh_dir / "first").read_text() == first  # no duplicate line


@needs_ssh
def test_strict_host_key_checking_in_ssh_config_applies_when_deploy_conf_is_silent(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """StrictHostKeyChecking accept-new in ~/.ssh/config records a new key; deploy.conf's
    ``host-key`` wins over it."""
    home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\n    StrictHostKeyChecking accept-new\nHost *\n    " + KNOWN,
        known="",
    )
    p = Project(tmp_path, "host = app")
    p.configure(host_key="strict")
    assert "unknown host key" in p.run("app", "setup").stderr
    del p.keys["host-key"]
    p.configure()
    p.ok("app", "setup")


def test_a_revoked_key_is_refused_even_when_listed_plainly(tmp_path: Path, sshd: SSHServer) -> None:
    """An ``@revoked`` key stops the login, naming the file and line, though also listed."""
    home = home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\nHost *\n    " + KNOWN,
        known=f"{sshd.known_hosts_line()}\n@revoked * {sshd.host_key_public}\n",
    )
    p = Project(tmp_path, "host = app")
    result = p.run("app", "setup")
    assert result.status == 4
    assert f"@revoked at {home.known_hosts}:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_known_hosts_lines_are_skipped_with_a_warning(
    tmp_path: Path, sshd: SSHServer
) -> None:
    """Malformed and unknown-marker lines are named (file:line) and skipped, never a crash."""
    home = home_for(
        sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\nHost *\n    " + KNOWN,
        known=f"garbage\n@future * ssh-ed25519 AAAA\nx ssh-ed25519 !!!\n{sshd.known_hosts_line()}\n",
    )
    p = Project(tmp_path, "host = app")
    result = p.ok("app", "setup")
    for line in (1, 2, 3):
        assert f"{home.known_hosts}:{line}:" in result.stderr


def _certify(server: SSHServer, base: Path, *, validity: str, principals: str) -> Path:
    """A CA (its .pub returned) that signs ``server``'s host key; sshd restarted to present it."""
    ca = base / "ca"
    keygen(ca, "pushdeploy-test-ca")
    host_pub = Path(f"{server.host_key}.pub")
    sign = ["ssh-keygen", "-q", "-s", str(ca), "-h", "-I", "test-host", "-n", principals]
    subprocess.run(
        [*sign, "-V", validity, str(host_pub)],
        check=True,
        capture_output=True,
    )
    certificate = Path(f"{server.host_key}-cert.pub")
    port = server.port
    server.stop()
    server.directives = (*server.directives, f"HostCertificate {certificate}")
    server.start(port=port)
    return Path(f"{ca}.pub")


@pytest.mark.parametrize(
    ("validity", "principals", "refused"),
    [
        ("-5m:+1h", "127.0.0.1,[127.0.0.1]:{port}", None),
        ("20200101:20200102", "127.0.0.1", "not valid now"),
        ("-5m:+1h", "other.example", "is for other.example"),
    ],
)
def test_a_host_certificate_signed_by_a_listed_ca_is_known(
    tmp_path: Path, fresh_sshd: SSHServer, validity: str, principals: str, refused: str | None
) -> None:
    """A host certificate is known when an ``@cert-authority`` line for the host lists its CA,
    its principals name the host and it is valid now; else the login stops saying why."""
    ca_pub = _certify(
        fresh_sshd, tmp_path, validity=validity, principals=principals.format(port=fresh_sshd.port)
    )
    ca_key = " ".join(ca_pub.read_text().split()[:2])
    home_for(
        fresh_sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\nHost *\n    " + KNOWN,
        known=f"@cert-authority [127.0.0.1]:* {ca_key}\n",
    )
    p = Project(tmp_path, "host = app")
    result = p.run("app", "setup")
    if refused is None:
        assert result.status == 0, result.stderr
        assert "added" not in result.stderr
    else:
        assert result.status == 4
        assert refused in result.stderr


def test_a_certificate_file_logs_in_where_only_its_ca_is_trusted(
    tmp_path: Path, fresh_sshd: SSHServer
) -> None:
    """CertificateFile (not next to its key) is presented: sshd trusts the user CA only."""
    ca = tmp_path / "user-ca"
    keygen(ca, "pushdeploy-test-user-ca")
    home = home_for(
        fresh_sshd,
        "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        "    IdentityFile {key}\n    CertificateFile {ssh}/certs/app-cert.pub\n"
        "    IdentitiesOnly yes\nHost *\n    " + KNOWN,
    )
    (home.ssh_dir / "certs").mkdir()
    pub = home.ssh_dir / "certs" / "app.pub"
    pub.write_text(Path(f"{home.key}.pub").read_text())
    sign = ["ssh-keygen", "-q", "-s", str(ca), "-I", "deployer", "-n", fresh_sshd.user]
    subprocess.run([*sign, "-V", "-5m:+1h", str(pub)], check=True, capture_output=True)
    fresh_sshd.authorized_keys.write_text("")
    port = fresh_sshd.port
    fresh_sshd.stop()
    fresh_sshd.directives = (*fresh_sshd.directives, f"TrustedUserCAKeys {ca}.pub")
    fresh_sshd.start(port=port)
    p = Project(tmp_path, "host = app")
    p.ok("app", "setup")
    assert "Accepted publickey" in fresh_sshd.log() and "CA ED25519" in fresh_sshd.log()
