"""The interop matrix: OpenSSH, Dropbear and tinysshd servers, each with the Paramiko and the OpenSSH transport.

Every cell is a real server from Debian's packages on 127.0.0.1 (tests/support/sshd.py,
dropbear.py, tinyssh.py; started once per module and shared, each test with a deploy root of its
own) driven by pushdeploy with ``ssh = paramiko`` or ``ssh = openssh``: setup, deploy, a second
deploy and a revert of a small git app; an artifact deploy; a fleet of two servers of one kind.
A cell that cannot work (tinysshd
speaks only chacha20-poly1305, which Paramiko lacks) is asserted as its clear error: exit 4 and
one error line. Key kinds: test_interop_keys.py; config items: test_ssh_config.py; the OpenSSH
transport's own behaviour: test_openssh.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import archives
from tests.support.clienthome import ClientHome, write_client_home
from tests.support.dropbear import DropbearServer, find_dropbear
from tests.support.fleet import Fleet
from tests.support.homeserver import HomeServer, find_nss_wrapper
from tests.support.sshd import SSHServer, find_sshd
from tests.support.tinyssh import TinySSHServer, find_tinysshd, private_base

SERVERS = ("openssh", "dropbear", "tinysshd")
TRANSPORTS = ("paramiko", "openssh")
# (server, transport) cells that cannot work, with the reason; asserted as a clear error.
CANNOT = {("tinysshd", "paramiko"): "tinysshd speaks only chacha20-poly1305; Paramiko lacks it"}
MATRIX = [pytest.param(s, t, id=f"{s}-{t}") for s in SERVERS for t in TRANSPORTS]


def missing(kind: str) -> str | None:
    """Why servers of ``kind`` cannot run here, or None."""
    if kind == "openssh":
        return None if find_sshd() else "no OpenSSH server (openssh-server)"
    if find_nss_wrapper() is None:
        return "no nss_wrapper (libnss-wrapper)"
    if kind == "dropbear":
        return None if find_dropbear() else "no dropbear (dropbear-bin)"
    if find_tinysshd() is None:
        return "no tinysshd or systemd-socket-activate (tinysshd, systemd)"
    return None


class Farm:
    """Servers of each kind, started on first use and shared by the module's tests."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.servers: dict[tuple[str, int], SSHServer | HomeServer] = {}
        self.private: list[Path] = []

    def get(self, kind: str, index: int = 0) -> SSHServer | HomeServer:
        if (kind, index) not in self.servers:
            self.servers[kind, index] = self._start(kind)
        return self.servers[kind, index]

    def _start(self, kind: str) -> SSHServer | HomeServer:
        reason = missing(kind)
        if reason:
            if os.environ.get("CI"):
                pytest.fail(f"{reason}; CI must run the interop matrix", pytrace=False)
            pytest.skip(reason)
        if kind == "openssh":
            return SSHServer(self.factory.mktemp("interop-sshd")).start()
        if kind == "dropbear":
            return DropbearServer(self.factory.mktemp("interop-dropbear")).start()
        base = private_base()
        if base is None:
            pytest.skip("no directory tinysshd accepts (all under group-writable ones)")
        self.private.append(base)
        return TinySSHServer(base / "server").start()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        for base in self.private:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory)
    try:
        yield farm
    finally:
        farm.stop()


@pytest.fixture(autouse=True)
def logs_on_failure(request: pytest.FixtureRequest, farm: Farm) -> Iterator[None]:
    """A failing test prints the tail of every server's log (their processes are shared)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        for (kind, index), server in farm.servers.items():
            print(f"--- {kind}[{index}] log: {server.log_path}\n" + server.log()[-4000:])


def project_on(
    tmp_path: Path, server: SSHServer | HomeServer, transport: str, hermetic_env: Path
) -> tuple[Project, ClientHome]:
    home = write_client_home(hermetic_env, server)
    line = f"host = {home.user}@{home.host}:{home.port}\nkey = {home.key}"
    return Project(tmp_path, line, {"ssh": transport}), home


def assert_clear_refusal(project: Project) -> None:
    """The login fails as a user should see it: exit 4, one error line naming the cipher the
    server offers, and a hint naming the OpenSSH transport."""
    result = project.run("app", "setup")
    assert result.status == 4, f"exit {result.status}\n{result.stderr}"
    [error] = result.error_lines
    assert "chacha20-poly1305" in error, result.stderr
    assert "ssh = openssh" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("kind", "transport"), MATRIX)
def test_setup_deploy_redeploy_and_revert(
    kind: str, transport: str, farm: Farm, tmp_path: Path, hermetic_env: Path, private_tmp: Path
) -> None:
    """Each server with each transport sets up, deploys, deploys again and reverts."""
    p, _ = project_on(tmp_path, farm.get(kind), transport, hermetic_env)
    if (kind, transport) in CANNOT:
        assert_clear_refusal(p)
        return
    p.ok("app", "setup")
    p.ok("app")
    first = p.live_release
    p.deploy_new("v2", "app")
    assert p.live == "v2"
    p.ok("app", "revert")
    assert (p.live, p.live_release) == ("v1", first)
    assert [line[5:7] for line in p.history()] == [["deploy", "ok"]] * 2 + [["revert", "ok"]]


@pytest.mark.parametrize(("kind", "transport"), MATRIX)
def test_an_artifact_is_uploaded_and_goes_live(
    kind: str, transport: str, farm: Farm, tmp_path: Path, hermetic_env: Path, private_tmp: Path
) -> None:
    """Each server with each transport takes an uploaded artifact live."""
    p, _ = project_on(tmp_path, farm.get(kind), transport, hermetic_env)
    del p.keys["ref"]
    p.configure(artifact="dist/app.tar.gz")
    archives.build(archives.app({"VERSION": "a1\n"}), p.base / "dist" / "app.tar.gz")
    if (kind, transport) in CANNOT:
        assert_clear_refusal(p)
        return
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "a1"


# OpenSSH fleets: test_fleet.py.
FLEETS = [pytest.param(s, t, id=f"{s}-{t}") for s in ("dropbear", "tinysshd") for t in TRANSPORTS]


@pytest.mark.parametrize(("kind", "transport"), FLEETS)
def test_a_fleet_of_two_goes_live_together(
    kind: str, transport: str, farm: Farm, tmp_path: Path, hermetic_env: Path, private_tmp: Path
) -> None:
    """Two servers of one kind deploy as one environment and revert together."""
    servers = [farm.get(kind, 0), farm.get(kind, 1)]
    fleet = Fleet(tmp_path, servers, Project)
    p = fleet.project
    root = f"~/deploy-{tmp_path.name}"  # the servers are shared: a root per test
    p.configure(ssh=transport, path=root)
    fleet.roots = [s.server_home / root[2:] for s in servers]
    if (kind, transport) in CANNOT:
        assert_clear_refusal(p)
        return
    p.ok("app", "setup")
    p.ok("app")
    p.deploy_new("v2", "app")
    assert fleet.versions() == ["v2", "v2"]
    p.ok("app", "revert")
    assert fleet.versions() == ["v1", "v1"]
