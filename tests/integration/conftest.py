"""Integration fixtures: a project with a real origin repository and a deploy target.

``project`` is parametrized over the two real transports: ``local`` (bash on this machine) and
``ssh`` (a real OpenSSH server on 127.0.0.1, from tests/conftest.py). Paths contain spaces and
quotes on purpose, so every test also checks the quoting of the generated scripts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Result, run_cli
from tests.support.etcdserver import EtcdServer, find_etcd
from tests.support.fleet import Fleet
from tests.support.gitrepo import Origin
from tests.support.sshd import SSHServer, find_sshd


class Project:
    """A deploy.conf section ``[app]`` pointing at ``origin``, deploying to ``root``."""

    def __init__(self, base: Path, host_line: str, extra: dict[str, str] | None = None) -> None:
        self.base = base
        self.origin = Origin(base / "origin repo")
        self.origin.commit({"VERSION": "v1\n", "app.sh": "echo app\n"}, "first")
        self.root = base / "deploy 'root'"
        self.conf = base / "deploy.conf"
        self.host_line = host_line
        self.keys: dict[str, str] = {"path": str(self.root), "ref": "main", "keep": "3"}
        self.configure(**(extra or {}))

    def configure(self, **keys: str) -> None:
        """Rewrite deploy.conf with these keys (underscores become dashes) on top of the base ones."""
        self.keys.update({k.replace("_", "-"): v for k, v in keys.items()})
        lines = ["[app]", self.host_line, f"repo = {self.origin.path}"]
        for key, value in self.keys.items():
            value = value.replace("\n", "\n    ")
            lines.append(f"{key} = {value}")
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def host_spec(self) -> str:
        return self.host_line.split("\n")[0].split("=", 1)[1].strip()

    def run(self, *args: str, stdin: bytes = b"") -> Result:
        return run_cli("-c", str(self.conf), "-C", str(self.base), *args, stdin=stdin)

    def ok(self, *args: str, stdin: bytes = b"") -> Result:
        result = self.run(*args, stdin=stdin)
        assert result.status == 0, f"exit {result.status}\n{result.stdout}\n{result.stderr}"
        return result

    def deploy_new(self, version: str, *args: str) -> Result:
        self.origin.commit({"VERSION": f"{version}\n"}, version)
        return self.ok(*args)

    @property
    def live(self) -> str:
        return (self.root / "current" / "VERSION").read_text().strip()

    @property
    def live_release(self) -> str:
        return os.readlink(self.root / "current").rsplit("/", 1)[-1]

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "releases").iterdir())

    def history(self) -> list[list[str]]:
        return [line.split("\t") for line in (self.root / ".deploys").read_text().splitlines()]


@pytest.fixture(params=["local", "ssh"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    if request.param == "local":
        return Project(tmp_path, "host = local")
    home = request.getfixturevalue("ssh_home")
    line = f"host = {home.user}@{home.host}:{home.port}\nkey = {home.key}"
    return Project(tmp_path, line)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short temporary directory for the OpenSSH transport's ControlPath sockets (a socket's
    path is short), made the ``tempfile`` default for this test."""
    where = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def ready_project(project: Project) -> Project:
    project.ok("app", "setup")
    return project


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def gate(tmp_path: Path) -> Callable[[], Path]:
    """A file a build waits for: the test creates it to let the build go on (bounded: 30 s)."""

    def make() -> Path:
        return tmp_path / "gate"

    return make


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


# --- More servers for fleets (tests/support/fleet.py) ---------------------------------------
MORE_SERVERS = pytest.StashKey[list[SSHServer]]()


@pytest.fixture
def more_sshds(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[int], list[SSHServer]]]:
    """Start ``n`` more OpenSSH servers of this test's own (each ready on its banner within its
    bounded start, as ``fresh_sshd``), all stopped after the test; their logs are shown when it
    fails."""
    started = request.node.stash.setdefault(MORE_SERVERS, [])

    def start(n: int) -> list[SSHServer]:
        if find_sshd() is None:
            pytest.skip("OpenSSH server not installed (no /usr/sbin/sshd)")
        servers = []
        for _ in range(n):
            server = SSHServer(tmp_path_factory.mktemp("more-sshd"))
            started.append(server)  # stopped below even if it never answers
            servers.append(server.start())
        return servers

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test that started ``more_sshds`` gets each one's log (they are its own)."""
    report = yield
    if report.failed:
        for number, server in enumerate(item.stash.get(MORE_SERVERS, []), start=1):
            lines = server.log().splitlines()[-200:]
            report.sections.append(
                (f"more_sshds[{number}] log: {server.log_path}", "\n".join(lines) or "(empty)")
            )
    return report


@pytest.fixture
def fleet(
    tmp_path: Path, fresh_sshd: SSHServer, more_sshds: Callable[[int], list[SSHServer]]
) -> Fleet:
    """Three real servers as one environment ``[app]``, set up; see tests/support/fleet.py."""
    fleet = Fleet(tmp_path, [fresh_sshd, *more_sshds(2)], Project)
    fleet.project.ok("app", "setup")
    return fleet


# --- etcd for pull fleets (tests/support/etcdserver.py) --------------------------------------
@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """A real etcd for the tests of one module; without etcd they skip, except under CI."""
    if find_etcd() is None:
        reason = "etcd not installed (Debian: etcd-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the etcd tests", pytrace=False)
        pytest.skip(reason)
    with EtcdServer(tmp_path_factory.mktemp("etcd")) as server:
        yield server
