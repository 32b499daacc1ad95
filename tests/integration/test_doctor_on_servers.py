"""`pushdeploy ENV doctor` on real hosts (local and real sshd): what it finds, and that it changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import Project


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
