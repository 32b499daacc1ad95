"""The OpenSSH transport (``ssh = openssh``) for real: the system ``ssh``, multiplexed, on real sshds.

Each test runs pushdeploy with ``ssh = openssh`` against an OpenSSH server on 127.0.0.1 (the
shared one, or one of its own), and checks what a user meets: a deploy, a revert, an artifact,
``exec``, a Ctrl-C before the switch, the login's errors in ssh's own words, one TCP connection
per host per command (a ``DelayProxy`` without delay counts them), and a server Paramiko cannot
reach (ciphers it lacks) reached. Fleets: tests/integration/test_fleet.py; uploads:
tests/integration/test_upload.py.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until
from tests.support import archives, faults
from tests.support.clienthome import ClientHome, write_client_home
from tests.support.delayproxy import DelayProxy
from tests.support.sshd import SSHServer

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client (ssh)")


def openssh_project(base: Path, home: ClientHome, **keys: str) -> Project:
    line = f"host = {home.user}@{home.host}:{home.port}"
    return Project(base, line, {"key": str(home.key), "ssh": "openssh", **keys})


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory pushdeploy makes its ControlPath directories in, for this test."""
    where = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))  # short: a socket path is short
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path, ssh_home: ClientHome, private_tmp: Path) -> Project:
    p = openssh_project(tmp_path, ssh_home)
    p.ok("app", "setup")
    return p


def test_a_deploy_a_redeploy_and_a_revert_go_live_over_openssh(project: Project) -> None:
    p = project
    p.ok("app")
    first = p.live_release
    result = p.deploy_new("v2", "app")
    assert (p.live, "deployed main") == ("v2", result.stdout[: len("deployed main")])
    p.ok("app", "revert")
    assert (p.live, p.live_release) == ("v1", first)
    assert [line[5:7] for line in p.history()] == [
        ["deploy", "ok"],
        ["deploy", "ok"],
        ["revert", "ok"],
    ]


def test_no_master_and_no_control_directory_outlive_the_run(
    project: Project, private_tmp: Path, sshd: SSHServer
) -> None:
    """``close`` ends the master (``ssh -O exit``: the server sees it go at once, not after
    ControlPersist) and removes its private directory."""
    offset = sshd.log_size()
    project.ok("app")
    assert list(private_tmp.iterdir()) == []
    wait_until(lambda: "Disconnected from" in sshd.log_since(offset), 5, "the master's end")


def test_exec_runs_in_the_live_release_with_piped_input_and_its_own_status(
    project: Project,
) -> None:
    p = project
    p.ok("app")
    result = p.ok("app", "exec", "cat VERSION; cat", stdin=b"piped\n")
    assert [line for line in result.stdout.splitlines() if line][-2:] == ["v1", "piped"]
    assert p.run("app", "exec", "exit 7").status == 7


def test_an_artifact_is_uploaded_over_the_master_and_goes_live(project: Project) -> None:
    p = project
    del p.keys["ref"]
    p.configure(artifact="dist/app.tar.gz")
    archives.build(archives.app({"VERSION": "a1\n"}), p.base / "dist" / "app.tar.gz")
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "a1"
    assert list((p.root / ".pushdeploy" / "uploads").iterdir()) == []


def test_each_command_is_one_tcp_connection_per_host(
    tmp_path: Path, sshd: SSHServer, hermetic_env: Path, private_tmp: Path
) -> None:
    """The login, the script and an upload of one command share the master's one connection."""
    with DelayProxy(sshd.host, sshd.port, delay=0) as proxy:
        home = write_client_home(hermetic_env, sshd, port=proxy.port)
        p = openssh_project(tmp_path, home)
        del p.keys["ref"]
        p.configure(artifact="dist/app.tar.gz")
        archives.build(archives.app({"VERSION": "a1\n"}), p.base / "dist" / "app.tar.gz")
        counts = []
        for argv in [("app", "setup"), ("app",), ("app", "exec", "true")]:
            before = proxy.accepted
            p.ok(*argv)
            counts.append(proxy.accepted - before)
    assert counts == [1, 1, 1]


def test_ctrl_c_before_the_switch_leaves_the_live_release_and_the_server_cleans_up(
    project: Project,
) -> None:
    p = project
    p.ok("app")
    before = p.releases()
    gate = p.base / "gate"
    wait = f"end=$((SECONDS + 60)); while [ ! -e {shlex.quote(str(gate))} ] && [ $SECONDS -lt $end ]; do sleep 0.1; done"
    p.configure(build=wait)
    p.origin.commit({"VERSION": "v2\n"}, "v2")
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app")
    try:
        cli.wait_for_step("build")
        cli.interrupt()
        status = cli.wait(30)
    finally:
        gate.touch()
        cli.close()
    assert status == 130, cli.output
    lock = p.root / ".pushdeploy" / "lock"
    wait_until(lambda: not lock.exists() and p.releases() == before, what="the server's clean-up")
    assert p.live == "v1"


def test_a_wrong_key_is_exit_4_in_ssh_s_own_words(
    tmp_path: Path, ssh_home: ClientHome, private_tmp: Path
) -> None:
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    p = openssh_project(tmp_path, ssh_home, key=str(wrong))
    result = p.run("app", "setup")
    assert result.status == 4, result.stderr
    [error] = result.error_lines
    assert "ssh: " in error and "Permission denied (publickey)" in error, error


def test_an_unknown_host_key_stops_and_accept_new_records_it(
    tmp_path: Path, ssh_home: ClientHome, private_tmp: Path
) -> None:
    ssh_home.known_hosts.write_text("")
    p = openssh_project(tmp_path, ssh_home)
    refused = p.run("app", "setup")
    assert refused.status == 4
    assert "Host key verification failed" in refused.error_lines[0], refused.stderr
    accepted = p.ok("app", "setup", "--host-key", "accept-new")
    assert "Permanently added" in accepted.stderr
    assert str(ssh_home.port) in ssh_home.known_hosts.read_text()
    p.ok("app", "setup")  # strict again: the key is known now


@pytest.fixture
def chacha_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """An sshd that speaks only chacha20-poly1305, a cipher Paramiko lacks (as tinysshd does)."""
    server = SSHServer(
        tmp_path_factory.mktemp("chacha"), directives=("Ciphers chacha20-poly1305@openssh.com",)
    )
    try:
        yield server.start()
    finally:
        server.stop()


def test_a_server_paramiko_cannot_reach_is_reached_with_openssh(
    tmp_path: Path, chacha_only: SSHServer, hermetic_env: Path, private_tmp: Path
) -> None:
    home = write_client_home(hermetic_env, chacha_only)
    p = openssh_project(tmp_path, home, ssh="paramiko")
    refused = p.run("app", "setup")
    assert refused.status == 4
    [line] = refused.error_lines
    assert "no cipher in common with the server: it offers chacha20-poly1305@openssh.com;" in line
    assert "Paramiko offers aes128-ctr" in line
    assert "hint: set ssh = openssh in deploy.conf" in refused.stderr
    p.configure(ssh="openssh")
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "v1"


def test_status_and_doctor_read_the_hosts_through_openssh(project: Project) -> None:
    project.ok("app")
    assert project.live_release in project.ok("app", "status").stdout
    project.ok("app", "doctor")
