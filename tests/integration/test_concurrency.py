"""Ten deploys of one project at once, over SSH (issue 7, "Tests that prove it").

The ten clients are separate processes started together; each build takes a second, so they
meet the lock. A watcher thread looks at the lock directory all along, as a reader would. Without ``--wait`` each one deploys or exits 5 naming the holder as the lock's
owner text has it (``user@host (pid N, since …, running: …)``), never "unknown holder"; with
``--wait 120`` all ten deploy, one after another. Either way ``.deploys`` gets exactly one
well-formed line per success, and no lock is left.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import faults
from tests.support.clienthome import ClientHome

pytestmark = pytest.mark.sshd

CLIENTS = 10
HOLDER = re.compile(r"\S+@\S+ \(pid \d+, since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, running: [^)]+\)")
RELEASE_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{7}(\.\d+)?")
SHA = re.compile(r"[0-9a-f]{40}")


@pytest.fixture
def project(tmp_path: Path, ssh_home: ClientHome) -> Project:
    home = ssh_home
    p = Project(tmp_path, f"host = {home.user}@{home.host}:{home.port}\nkey = {home.key}")
    p.configure(build="sleep 1", keep="20")
    p.ok("app", "setup")
    return p


class LockWatcher:
    """Counts the times the lock directory was seen without an owner a reader could name.

    A sighting counts only when the same directory (same inode) is still there, still without
    an owner, on a second look: a lock that went away meanwhile is not one.
    """

    def __init__(self, lock: Path) -> None:
        self.lock, self.ownerless = lock, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _inode(self) -> int | None:
        try:
            return os.stat(self.lock).st_ino
        except FileNotFoundError:
            return None

    def _owner(self) -> str:
        try:
            return (self.lock / "owner").read_text().strip()
        except OSError:
            return ""

    def _watch(self) -> None:
        while not self._stop.wait(0.0005):
            inode = self._inode()
            if inode is None or self._owner():
                continue
            if self._inode() == inode and not self._owner() and self._inode() == inode:
                self.ownerless += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.ownerless


def deploy_at_once(
    p: Project, *options: str, timeout: float
) -> tuple[list[tuple[int | None, str]], list[str]]:
    """Start CLIENTS deploys together: their exit statuses (None: still running) and output,
    and what a reader of the lock saw go wrong meanwhile."""
    watcher = LockWatcher(p.root / ".pushdeploy" / "lock")
    clients = [
        faults.CliProcess(*options, "-c", p.conf, "-C", p.base, "app") for _ in range(CLIENTS)
    ]
    deadline = time.monotonic() + timeout
    try:
        statuses = [cli.wait(deadline - time.monotonic()) for cli in clients]
        results = [(status, cli.output) for status, cli in zip(statuses, clients, strict=True)]
    finally:
        for cli in clients:
            cli.close()
        faults.kill_all(faults.leftovers(p.root))
        sightings = watcher.stop()
    seen = [f"a reader saw the lock without its owner {sightings} times"] if sightings else []
    return results, seen


def history_problems(p: Project, successes: int) -> list[str]:
    lines = p.history() if (p.root / ".deploys").exists() else []
    problems = []
    if len(lines) != successes:
        problems.append(f".deploys has {len(lines)} lines for {successes} successful deploys")
    sha = p.origin.sha("main")
    for line in lines:
        well_formed = (
            len(line) == 7
            and line[0] == sha
            and RELEASE_ID.fullmatch(line[2])
            and line[5:] == ["deploy", "ok"]
        )
        if not well_formed:
            problems.append(f"malformed .deploys line: {line}")
    releases = [line[2] for line in lines if len(line) == 7]
    if len(set(releases)) != len(releases):
        problems.append(f"a release ID was logged twice: {releases}")
    if (p.root / ".pushdeploy" / "lock").exists():
        problems.append("the lock was left behind")
    return problems


def test_ten_deploys_at_once_each_deploy_or_name_the_holder(project: Project) -> None:
    results, problems = deploy_at_once(project, "--force", timeout=90)  # each a real deploy
    for number, (status, output) in enumerate(results, 1):
        errors = [line for line in output.splitlines() if line.startswith("pushdeploy: error:")]
        if status == 5:
            if len(errors) != 1 or not HOLDER.search(errors[0]):
                problems.append(f"client {number}: exit 5 without naming the holder: {errors}")
        elif status != 0:
            problems.append(f"client {number}: exit {status}: {errors or output[-500:]}")
        if "unknown holder" in output:
            problems.append(f"client {number} saw a lock without its owner: {errors}")
    successes = sum(status == 0 for status, _ in results)
    if successes == 0:
        problems.append("no deploy succeeded")
    if successes == CLIENTS:
        problems.append("no deploy met a held lock: the build is too short to make them meet")
    problems += history_problems(project, successes)
    assert not problems, "\n- ".join(["", *problems])


def test_ten_deploys_at_once_with_wait_all_deploy_one_after_another(project: Project) -> None:
    results, problems = deploy_at_once(project, "--force", "--wait", "120", timeout=150)
    problems += [
        f"client {number}: exit {status}: {output[-500:]}"
        for number, (status, output) in enumerate(results, 1)
        if status != 0
    ]
    problems += history_problems(project, sum(status == 0 for status, _ in results))
    assert not problems, "\n- ".join(["", *problems])
