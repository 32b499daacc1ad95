"""Several hosts deploy as one: two real OpenSSH servers, each with its own HOME as the server disk."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support.clienthome import write_client_home
from tests.support.sshd import SSHServer


class Pair:
    def __init__(self, tmp_path: Path, a: SSHServer, b: SSHServer) -> None:
        home = write_client_home(Path(os.environ["HOME"]), a)
        with home.known_hosts.open("a") as fh:
            fh.write(b.known_hosts_line() + "\n")
        with b.authorized_keys.open("a") as fh:  # one client key for both servers
            fh.write(a.client_key.with_name(a.client_key.name + ".pub").read_text())
        self.roots = [a.server_home / "deploy", b.server_home / "deploy"]
        hosts = f"{a.user}@127.0.0.1:{a.port} {b.user}@127.0.0.1:{b.port}"
        self.project = Project(tmp_path, f"host = {hosts}\nkey = {home.key}")
        self.project.configure(path="~/deploy")
        for root in self.roots:  # the session-wide server keeps its HOME between tests
            shutil.rmtree(root, ignore_errors=True)

    def live(self, i: int) -> str:
        return os.readlink(self.roots[i] / "current").rsplit("/", 1)[-1]

    def version(self, i: int) -> str:
        return (self.roots[i] / "current" / "VERSION").read_text().strip()


@pytest.fixture
def pair(tmp_path: Path, sshd: SSHServer, fresh_sshd: SSHServer) -> Pair:
    pair = Pair(tmp_path, sshd, fresh_sshd)
    pair.project.ok("app", "setup")
    return pair


def test_every_host_gets_the_same_release(pair: Pair) -> None:
    result = pair.project.ok("app")
    assert pair.live(0) == pair.live(1)
    assert pair.version(0) == pair.version(1) == "v1"
    assert re.fullmatch(r"deployed main \([0-9a-f]{7}\) to 2 hosts in \d+\.\d s\n", result.stdout)
    lines = result.stderr.splitlines()  # not a terminal: one line per step, then each result
    assert [line.split()[1:3] for line in lines if "✓" in line] == [["✓", "ok"]] * 2


def test_exec_gives_every_host_the_same_piped_input(pair: Pair) -> None:
    pair.project.ok("app")
    data = b"line one\nline two\n" * 1000
    pair.project.ok("app", "exec", "cat > got.txt", stdin=data)
    assert [(root / "current" / "got.txt").read_bytes() for root in pair.roots] == [data, data]


def test_a_host_failing_to_prepare_leaves_every_host_as_it_was(pair: Pair) -> None:
    p = pair.project
    p.ok("app")
    before = [pair.live(0), pair.live(1)]
    p.configure(shared=".env")
    (pair.roots[0] / "shared" / ".env").write_text("X=1\n")  # only the first host has it
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 6
    assert ".env does not exist" in result.stderr
    assert [pair.live(0), pair.live(1)] == before
    for root in pair.roots:
        assert sorted(r.name for r in (root / "releases").iterdir()) == [before[0]]
        assert not (root / ".pushdeploy" / "lock").exists()


def test_a_host_failing_its_test_rolls_every_host_back(pair: Pair) -> None:
    p = pair.project
    p.ok("app")
    before = pair.live(0)
    p.configure(test='[ ! -e "$SHARED/fail-here" ]')
    (pair.roots[1] / "shared" / "fail-here").touch()
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 7
    assert "rolled back" in result.stderr or "switched back" in result.stderr
    assert pair.live(0) == pair.live(1) == before
    assert pair.version(0) == pair.version(1) == "v1"
    for root in pair.roots:
        last = (root / ".deploys").read_text().splitlines()[-1].split("\t")
        assert last[5:] == ["deploy", "bad"]
        assert not (root / ".pushdeploy" / "lock").exists()
