"""``status`` against real servers: clean after a fleet deploy, drift made for real exits 9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.integration.test_multihost import Pair
from tests.integration.test_service import APP, free_port
from tests.support.sshd import SSHServer


@pytest.fixture
def pair(tmp_path: Path, sshd: SSHServer, fresh_sshd: SSHServer) -> Pair:
    """Two real OpenSSH servers, set up, with one deploy on both."""
    pair = Pair(tmp_path, sshd, fresh_sshd)
    pair.project.ok("app", "setup")
    pair.project.ok("app")
    return pair


def specs(project: Project) -> list[str]:
    return project.host_spec.split()


def test_after_a_fleet_deploy_status_shows_one_release_and_its_sha(pair: Pair) -> None:
    p = pair.project
    result = p.ok("app", "status")
    sha = p.origin.sha("HEAD")
    rows = [row.split() for row in result.stdout.splitlines()[1:]]
    assert [row[:4] for row in rows] == [[h, pair.live(0), sha[:7], "-"] for h in specs(p)]
    data = json.loads(p.ok("--json", "app", "status").stdout)
    assert [(h["release"], h["sha"], h["ref"]) for h in data["hosts"]] == [
        (pair.live(0), sha, "main"),
        (pair.live(1), sha, "main"),
    ]
    assert all(h["free_kib"] > 0 and h["in_history"] for h in data["hosts"])
    assert data["drift"] == []


def test_a_deploy_to_one_host_and_a_lock_left_behind_are_drift(pair: Pair) -> None:
    p = pair.project
    first, second = specs(p)
    p.origin.commit({"VERSION": "v2\n"}, "v2")
    p.ok("-H", first, "app")
    lock = pair.roots[1] / ".pushdeploy" / "lock"
    lock.mkdir()
    (lock / "owner").write_text("ann@laptop (pid 1, since 2024-01-01T00:00:00Z, running: deploy)\n")
    (lock / "token").write_text("f00d\n")
    result = p.run("app", "status")
    assert result.status == 9
    assert (
        f"hosts on different releases: {pair.live(0)} on {first}; {pair.live(1)} on {second}"
        in result.stderr
    )
    assert f"{second}: locked by ann@laptop (pid 1" in result.stderr
    assert result.error_lines[0].endswith("(and 1 more)")
    assert lock.is_dir()  # status only reads


def test_what_a_server_holds_is_data_and_a_live_release_outside_the_history_is_drift(
    project: Project,
) -> None:
    project.ok("app", "setup")
    project.ok("app")
    live = project.live_release
    (project.root / ".deploys").write_text("../../etc\tx\n")
    lock = project.root / ".pushdeploy" / "lock"
    lock.mkdir()
    (lock / "owner").write_text("\x1b]0;pwned\x07mallory \u202e\n")  # no token: not ours either
    result = project.run("app", "status")
    assert result.status == 9
    assert "\x1b" not in result.stdout + result.stderr and "\u202e" not in result.stderr
    assert f"the live release {live} is not in .deploys" in result.stderr
    assert ".deploys line 1 ignored" in result.stderr
    assert "locked by ]0;pwnedmallory \\u202e" in result.stderr  # controls cut on the server
    assert lock.is_dir()
    os.remove(project.root / "current")
    os.symlink("../../etc", project.root / "current")
    assert "current points at '../../etc', not at a release" in project.run("app", "status").stderr


@pytest.fixture
def served(project: Project) -> Iterator[Project]:
    """A project whose app runs under the monitor (restart = monitor), stopped after the test."""
    project.origin.commit({"app.py": APP.read_text(), "VERSION": "v1\n"}, "app")
    project.configure(
        app="python3 app.py",
        listen=f"127.0.0.1:{free_port()}",
        restart="monitor",
        ready="/health",
        ready_timeout="10",
        grace="2",
        workers="2",
    )
    project.ok("app", "setup")
    try:
        yield project
    finally:
        zipapp = project.root / ".pushdeploy" / "monitor.pyz"
        config = str(zipapp.with_name("monitor.json"))
        stop = [sys.executable, str(zipapp), "stop", "--config", config, "--timeout", "15"]
        subprocess.run(stop, capture_output=True, timeout=30, check=False)


def test_the_monitor_is_shown_and_a_stopped_one_is_drift(served: Project) -> None:
    served.ok("app")
    result = served.ok("app", "status")
    assert "running, gen 1, 2/2 workers" in result.stdout
    monitor = json.loads(served.ok("--json", "app", "status").stdout)["hosts"][0]["monitor"]
    assert (monitor["release"], monitor["workers"], monitor["ready"]) == (
        served.live_release,
        2,
        2,
    )
    served.ok("app", "monitor", "stop")
    stopped = served.run("app", "status")
    assert stopped.status == 9
    assert "the monitor is stopped" in stopped.stderr
