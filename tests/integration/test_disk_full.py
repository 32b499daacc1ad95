"""A full disk at any point of a deploy: exit 6 naming the disk, nothing half-done (issue 7, §2).

The deploy root lives on an 8 MiB tmpfs (mounting needs root: the tests skip with the reason
otherwise, and fail under CI, which runs as root). v1 is live; then the disk fills at one point
of the deploy of v2: before it (the lock cannot be written), in pre-deploy, in build, in
post-deploy, or while a release tree larger than the free space is written. Hooks fill it with
``dd`` (bounded by the tmpfs size). After each: one error line that names the disk, ``current``
unchanged, no partial release, the lock released, no ``.deploys`` line for an incomplete
release, ``REVISION`` never empty; and once the filler is gone, the next deploy works.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import faults
from tests.support.cli import Result
from tests.support.clienthome import ClientHome

pytestmark = pytest.mark.sshd

FILL = 'dd if=/dev/zero of="$SHARED/filler" bs=64k 2>/dev/null || true'
NAMES_THE_DISK = re.compile(r"disk|no space|full", re.IGNORECASE)


@pytest.fixture
def disk(tmp_path: Path, ssh_home: ClientHome) -> Iterator[Project]:
    """A set-up project over SSH with v1 live, its deploy root on a small tmpfs."""
    home = ssh_home
    with faults.mounted_tmpfs(tmp_path / "disk", "8m") as mount:
        p = Project(tmp_path, f"host = {home.user}@{home.host}:{home.port}\nkey = {home.key}")
        p.root = mount / "deploy 'root'"
        p.configure(path=str(p.root))
        try:
            p.ok("app", "setup")
            p.ok("app")
            p.origin.commit({"VERSION": "v2\n"}, "v2")
            yield p
        finally:
            faults.kill_all(faults.leftovers(p.root))


def deploy_on_a_full_disk(p: Project) -> tuple[Result, list[str]]:
    """Deploy v2 and list what is wrong with the host afterwards (the filler still in place)."""
    old, before = p.live_release, faults.releases(p.root)
    result = p.run("app")
    problems = []
    if result.status != 6:
        problems.append(f"exit {result.status}, expected 6")
    if len(result.error_lines) != 1 or not NAMES_THE_DISK.search(result.error_lines[0]):
        problems.append(f"expected one error line naming the disk, got {result.error_lines}")
    if p.live_release != old:
        problems.append(f"current is {p.live_release}, not {old}")
    if faults.releases(p.root) != before:
        problems.append(f"partial release left: {sorted(faults.releases(p.root) - before)}")
    problems += host_problems(p)
    return result, problems


def host_problems(p: Project) -> list[str]:
    """What must hold after any deploy: no lock, complete releases, a history that knows them."""
    lock = p.root / ".pushdeploy" / "lock"
    owner = (lock / "owner").read_text().strip() if (lock / "owner").is_file() else ""
    released = [] if not lock.exists() else [f"the lock was not released (owner: {owner!r})"]
    return released + faults.record_problems(p.root)


def next_deploy_works(p: Project) -> list[str]:
    (p.root / "shared" / "filler").unlink(missing_ok=True)
    result = p.run("app")
    if result.status != 0:
        return [f"after removing the filler, the next deploy failed: {result.error_lines}"]
    if p.live != "v2":
        return [f"after removing the filler, the next deploy made {p.live} live"]
    return host_problems(p)


def verdict(problems: list[str], result: Result) -> None:
    assert not problems, "\n- ".join(["", *problems]) + f"\n--- stderr:\n{result.stderr}"


def test_a_disk_full_before_the_deploy_stops_it_at_the_lock(disk: Project) -> None:
    p = disk
    faults.fill(p.root / "shared" / "filler")
    result, problems = deploy_on_a_full_disk(p)
    verdict(problems + next_deploy_works(p), result)


@pytest.mark.parametrize("hook", ["pre-deploy", "build"])
def test_a_disk_filled_by_a_hook_before_the_switch_stops_the_deploy(
    disk: Project, hook: str
) -> None:
    p = disk
    p.configure(**{hook.replace("-", "_"): FILL})
    result, problems = deploy_on_a_full_disk(p)
    p.configure(**{hook.replace("-", "_"): "true"})
    verdict(problems + next_deploy_works(p), result)


def test_a_release_tree_larger_than_the_free_space_is_not_left_half_written(
    disk: Project,
) -> None:
    p = disk
    p.origin.commit({"big.bin": "\0" * (12 << 20)}, "12 MiB of zeros: a small pack, a big tree")
    result, problems = deploy_on_a_full_disk(p)
    p.origin.git("rm", "-q", "big.bin")
    p.origin.git("commit", "-q", "-m", "smaller again")
    verdict(problems + next_deploy_works(p), result)


def test_a_disk_filled_after_the_switch_never_leaves_an_unlogged_release_live(
    disk: Project,
) -> None:
    # After the switch the deploy either completes every write it needs (exit 0, logged ok), or
    # fails naming the disk and switches back (exit 6 or 7): never half of each.
    p = disk
    old = p.live_release
    p.configure(post_deploy=FILL)
    result = p.run("app")
    problems = host_problems(p)
    last = {line[2]: line[5:] for line in faults.history(p.root)}
    if result.status == 0:
        if p.live != "v2" or last.get(p.live_release) != ["deploy", "ok"]:
            problems.append(f"exit 0, but {p.live} is live, logged {last.get(p.live_release)}")
        if not (p.root / "current" / "tmp" / "restart.txt").exists():
            problems.append("v2 is live but was never restarted")
    else:
        if result.status not in (6, 7):
            problems.append(f"exit {result.status}, expected 0, 6 or 7")
        if len(result.error_lines) != 1 or not NAMES_THE_DISK.search(result.error_lines[0]):
            problems.append(f"expected one error line naming the disk: {result.error_lines}")
        if p.live_release != old:
            problems.append(f"the deploy failed, yet current is {p.live_release}, not {old}")
        if any(outcome == ["deploy", "ok"] for name, outcome in last.items() if name != old):
            problems.append("the deploy failed, yet .deploys logs the new release ok")
    p.configure(post_deploy="true")
    verdict(problems + next_deploy_works(p), result)


def test_a_deploy_root_it_cannot_write_says_so_and_what_to_check(disk: Project) -> None:
    """Root ignores file modes, so a read-only remount stands in for a permission problem."""
    mount = disk.root.parent
    remount = ["mount", "-o", "remount,ro", str(mount)]
    subprocess.run(remount, check=True, capture_output=True, timeout=30)
    try:
        result = disk.run("app")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True, timeout=30)
    assert result.status == 6, result.stderr
    assert "cannot write the lock in" in result.error_lines[0]
    assert "(check its owner and permissions)" in result.error_lines[0]
    assert disk.live == "v1"
