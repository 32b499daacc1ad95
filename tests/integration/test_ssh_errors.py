"""Login failures name their SSH cause and the fix, against a real OpenSSH server (issue 20, 5)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.integration.test_ssh_config import KNOWN, agent, home_for, needs_ssh
from tests.support.sshd import SSHServer

__all__ = ["agent"]  # a fixture, used by name

HOST_APP = "Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"


def started(base: Path, *directives: str) -> Iterator[SSHServer]:
    server = SSHServer(base, directives=directives)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def two_tries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """An sshd that closes a login after two refused keys (MaxAuthTries 2)."""
    yield from started(tmp_path_factory.mktemp("two-tries"), "MaxAuthTries 2")


def new_key(path: Path, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


@needs_ssh
def test_more_agent_keys_than_max_auth_tries_says_so_and_names_identities_only(
    tmp_path: Path, two_tries: SSHServer, agent: Path
) -> None:
    """An agent offering three keys the server refuses before the right one: "the server closed
    the login after 2 keys", with IdentitiesOnly and ``key`` as the fix, exit 4 (Paramiko alone
    says "No existing session")."""
    env = {**os.environ, "SSH_AUTH_SOCK": str(agent)}
    home = home_for(two_tries, HOST_APP + f"    IdentityAgent {agent}\nHost *\n    " + KNOWN)
    for key in [*(new_key(tmp_path / f"other{n}") for n in range(3)), home.key]:
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
    home.key.unlink()  # the right key is only in the agent, fourth
    home.key.with_name(home.key.name + ".pub").unlink()
    result = Project(tmp_path, "host = app").run("app", "setup")
    assert result.status == 4, result.stderr
    [line] = result.error_lines
    assert "the server closed the login after 2 keys" in line
    assert "IdentitiesOnly yes" in result.stderr
    assert "'key' in deploy.conf" in result.stderr


@needs_ssh
def test_a_passphrase_key_without_an_agent_says_ssh_add(tmp_path: Path, sshd: SSHServer) -> None:
    """A key that needs its passphrase, and no agent: the error names the key and ``ssh-add KEY``."""
    locked = new_key(tmp_path / "locked", passphrase="secret words")
    home_for(
        sshd, HOST_APP + f"    IdentityFile {locked}\n    IdentitiesOnly yes\nHost *\n    " + KNOWN
    )
    result = Project(tmp_path, "host = app").run("app", "setup")
    assert result.status == 4, result.stderr
    [line] = result.error_lines
    assert f"the key {locked} needs its passphrase" in line
    assert f"hint: add the key to your ssh-agent: ssh-add {locked}" in result.stderr


def key_project(tmp_path: Path, server: SSHServer) -> Project:
    """A project for ``server`` logging in with its client key (``key``), known_hosts written."""
    home = home_for(server, "Host *\n    " + KNOWN)
    return Project(tmp_path, f"host = {server.user}@127.0.0.1:{server.port}\nkey = {home.key}")


def only(server: SSHServer, options: str) -> None:
    """authorized_keys: the client key, with these options (``command=...``)."""
    public = server.client_key.with_name(server.client_key.name + ".pub").read_text().strip()
    server.authorized_keys.write_text(f"{options} {public}\n", encoding="utf-8")


@pytest.mark.parametrize(
    "forced", ['command="/bin/true"', 'command="echo Welcome to the jump box"']
)
def test_a_forced_command_is_named_not_a_script_status(
    tmp_path: Path, fresh_sshd: SSHServer, forced: str
) -> None:
    """A command= on the key (as ForceCommand): the server ran its own command, exit 4."""
    p = key_project(tmp_path, fresh_sshd)
    only(fresh_sshd, forced)
    result = p.run("app", "setup")
    assert result.status == 4, result.stderr
    [line] = result.error_lines
    assert "the server ran its own command, not pushdeploy's script" in line
    assert "ForceCommand" in line and "command=" in line


def test_a_restricted_login_shell_is_named(tmp_path: Path, fresh_sshd: SSHServer) -> None:
    """A login shell of rbash (its commands run through it, as here) is named, exit 4."""
    p = key_project(tmp_path, fresh_sshd)
    only(fresh_sshd, 'command="rbash -c \\"$SSH_ORIGINAL_COMMAND\\""')
    result = p.run("app", "setup")
    assert result.status == 4, result.stderr
    [line] = result.error_lines
    assert "restricted login shell (rbash)" in line


def test_doctor_names_a_forced_command_and_guesses_nothing(
    tmp_path: Path, fresh_sshd: SSHServer
) -> None:
    """doctor on a host whose key has a command=: the cause, and no "bash ?; no git"."""
    p = key_project(tmp_path, fresh_sshd)
    only(fresh_sshd, 'command="/bin/true"')
    result = p.run("app", "doctor")
    assert result.status != 0
    assert (
        "the server ran its own command, not pushdeploy's script" in result.stdout + result.stderr
    )
    assert "bash ?" not in result.stdout + result.stderr
    assert "no git" not in result.stdout + result.stderr


@pytest.fixture
def no_tty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """An sshd that gives no terminal (PermitTTY no)."""
    yield from started(tmp_path_factory.mktemp("no-tty"), "PermitTTY no")


def test_console_where_no_terminal_is_allowed_is_one_line(
    tmp_path: Path, no_tty: SSHServer
) -> None:
    """``console`` against PermitTTY no: one error line naming it, exit 4, no traceback."""
    p = key_project(tmp_path, no_tty)
    p.ok("app", "setup")
    p.ok("app")
    result = p.run("app", "console")
    assert result.status == 4, result.stderr
    [line] = result.error_lines
    assert "no terminal" in line and "PermitTTY" in result.stderr
    assert "Traceback" not in result.stderr
