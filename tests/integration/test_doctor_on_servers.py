"""`pushdeploy ENV doctor` on real hosts (local and real sshd): what it finds, and that it changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import Project, git
from tests.support.cli import run_cli


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_before_setup_doctor_exits_6_saying_to_run_setup_and_creates_nothing(
    project: Project,
) -> None:
    result = project.run("app", "doctor")
    assert (result.status, project.root.exists()) == (6, False)
    assert "not set up yet; everything else a deploy needs is there" in result.stderr
    assert "repo " in result.stdout and "answers from the server" in result.stdout


def test_a_set_up_host_is_ready_and_doctor_changes_nothing(ready_project: Project) -> None:
    before = tree(ready_project.root)
    result = ready_project.ok("doctor", "app")
    assert "ready to deploy [app]" in result.stdout
    assert "PATH /" in result.stdout and "bash " in result.stdout
    assert tree(ready_project.root) == before


def test_a_tool_the_build_names_that_the_server_lacks_is_a_problem(ready_project: Project) -> None:
    ready_project.configure(build="git --version\nno-such-tool-xyz --build")
    result = ready_project.run("app", "doctor")
    assert result.status == 6
    assert (
        "PROBLEM: no-such-tool-xyz (named by build) is not found on the hooks' PATH"
        in result.stdout
    )
    assert "git: /" in result.stdout


def test_an_unreachable_repo_is_a_problem(ready_project: Project) -> None:
    conf = ready_project.conf.read_text().replace(
        str(ready_project.origin.path), "/nonexistent/repo.git"
    )
    ready_project.conf.write_text(conf)
    result = ready_project.run("app", "doctor")
    assert result.status == 6
    assert "PROBLEM: repo /nonexistent/repo.git does not answer from the server" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_path_that_cannot_be_created_is_a_problem(project: Project, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    project.configure(path=str(locked / "app"))
    try:
        result = project.run("app", "doctor")
    finally:
        locked.chmod(0o755)
    assert result.status == 6
    assert (
        "does not exist and" in result.stdout and f"cannot create it in {locked}" in result.stdout
    )


def test_without_ref_a_repo_without_tags_is_a_problem_until_it_has_one(
    ready_project: Project,
) -> None:
    """A deploy without ``ref`` takes the newest tag: doctor says when there is none to take."""
    del ready_project.keys["ref"]
    ready_project.configure()
    result = ready_project.run("app", "doctor")
    assert result.status == 6
    assert (
        f"PROBLEM: no ref is set and repo {ready_project.origin.path} has no tags" in result.stdout
    )
    ready_project.origin.tag("v1")
    assert "ready to deploy [app]" in ready_project.ok("app", "doctor").stdout


def test_init_outside_the_checkout_for_a_repo_without_tags_leads_to_a_first_deploy(
    project: Project, tmp_path: Path
) -> None:
    """init away from the app's checkout takes the bare repo's default branch as ``ref``, so
    doctor, setup and the first deploy follow as init says."""
    project.origin.git("checkout", "-q", "-b", "trunk")
    bare = tmp_path / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(project.origin.path), str(bare))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    login = dict(line.split(" = ", 1) for line in project.host_line.splitlines())
    argv = [
        "init",
        "app",
        "--host",
        login["host"],
        "--path",
        str(project.root),
        "--repo",
        str(bare),
    ]
    argv += ["--key", login["key"]] if "key" in login else []
    assert run_cli("-C", elsewhere, *argv).status == 0
    doctor = run_cli("-C", elsewhere, "app", "doctor")
    assert (doctor.status, doctor.stdout.count("PROBLEM")) == (6, 0), doctor.stdout
    assert "not set up yet; everything else a deploy needs is there" in doctor.stderr
    for step in (["app", "setup"], ["app"]):
        done = run_cli("-C", elsewhere, *step)
        assert done.status == 0, done.stderr
    assert project.live == "v1"
