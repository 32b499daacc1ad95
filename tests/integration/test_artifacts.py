"""Deploying build artifacts for real: a local tarball uploaded over the SSH connection (or run
by bash on this machine), unpacked by the server, skipped when live, reverted like git releases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import archives
from tests.support.fleet import Fleet


def tarball(path: Path, files: dict[str, str]) -> Path:
    """The artifact of ``files`` (name -> text) at ``path``, in the format its name says."""
    return archives.build(archives.app(files), path)


def artifact_project(project: Project, **keys: str) -> Project:
    """``project`` deploying an artifact; without a ref, .deploys names the file."""
    del project.keys["ref"]
    project.configure(**{"artifact": "dist/app.tar.gz", **keys})
    return project


@pytest.fixture
def artifacts(project: Project) -> Project:
    artifact_project(project)
    tarball(project.base / "dist" / "app.tar.gz", {"VERSION": "a1\n", "lib/big.txt": "x" * 5000})
    project.ok("app", "setup")
    return project


def test_setup_for_an_artifact_makes_no_git_mirror(artifacts: Project) -> None:
    assert (artifacts.root / "releases").is_dir()
    assert not (artifacts.root / "repo").exists()


def test_a_local_artifact_goes_live_with_its_digest_as_identity(artifacts: Project) -> None:
    p = artifacts
    digest = hashlib.sha256((p.base / "dist" / "app.tar.gz").read_bytes()).hexdigest()
    result = p.ok("app")
    assert p.live == "a1"
    assert digest == (p.root / "current" / "REVISION").read_text().strip()
    assert p.live_release.endswith("-" + digest[:7])
    line = p.history()[-1]
    assert [digest, p.live_release, "app.tar.gz", "deploy", "ok"] == [
        line[0],
        line[2],
        line[3],
        line[5],
        line[6],
    ]
    assert result.stdout.startswith(f"deployed app.tar.gz ({digest[:7]}) to 1 host in ")
    assert list((p.root / ".pushdeploy" / "uploads").iterdir()) == []


def test_deploying_what_is_live_changes_nothing_unless_forced(artifacts: Project) -> None:
    p = artifacts
    p.ok("app")
    live = p.live_release
    again = p.ok("app")
    assert "is live already on 1 host: nothing to do" in again.stdout
    assert [live] == p.releases()
    forced = p.ok("app", "--force")
    assert forced.stdout.startswith("deployed app.tar.gz")
    assert len(p.releases()) == 2 and live != p.live_release


def test_files_unchanged_since_the_live_release_are_hard_links(artifacts: Project) -> None:
    p = artifacts
    p.ok("app")
    first = p.live_release
    tarball(p.base / "dist" / "app.tar.gz", {"VERSION": "a2\n", "lib/big.txt": "x" * 5000})
    p.ok("app")
    assert p.live == "a2"
    old, new = p.root / "releases" / first, p.root / "current"
    assert (old / "lib/big.txt").stat().st_ino == (new / "lib/big.txt").stat().st_ino
    assert (old / "VERSION").stat().st_ino != (new / "VERSION").stat().st_ino


def test_revert_and_list_work_for_artifacts_as_for_git(artifacts: Project) -> None:
    p = artifacts
    p.ok("app")
    first = p.live_release
    tarball(p.base / "dist" / "app.tar.gz", {"VERSION": "a2\n"})
    p.ok("app")
    listed = p.ok("app", "list")
    assert first in listed.stdout and "app.tar.gz" in listed.stdout
    p.ok("app", "revert", "1")
    assert ("a1", first) == (p.live, p.live_release)


def test_a_hostile_artifact_is_refused_before_any_connection(artifacts: Project) -> None:
    p = artifacts
    p.ok("app")
    archives.build([archives.Member("../outside.txt", data=b"bad")], p.base / "dist" / "app.tar.gz")
    result = p.run("app")
    assert result.status == 8, result.stderr
    assert "pushdeploy: error: artifact" in result.stderr and "../outside.txt" in result.stderr
    assert p.live == "a1"
    assert not (p.root / "outside.txt").exists() and not (p.root.parent / "outside.txt").exists()


@pytest.mark.parametrize("name", ["app.zip", "app.tar.zst", "app.tgz"])
def test_zip_zstd_and_tgz_artifacts_deploy(project: Project, name: str) -> None:
    p = artifact_project(project, artifact=f"dist/{name}")
    (p.base / "dist").mkdir()
    tarball(p.base / "dist" / name, {"VERSION": "z1\n"})  # a zip too: archives.build
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "z1"


def test_artifact_build_runs_here_before_connecting(project: Project) -> None:
    p = artifact_project(
        project,
        artifact_build="mkdir -p dist && printf 'b1\\n' > VERSION && tar czf dist/app.tar.gz VERSION",
    )
    p.ok("app", "setup")
    result = p.ok("app")
    assert p.live == "b1"
    assert "deployed app.tar.gz" in result.stdout


def test_a_failing_artifact_build_contacts_nothing(project: Project) -> None:
    p = artifact_project(project, artifact_build="echo broken >&2; exit 3")
    result = p.run("app")
    assert result.status == 6
    assert "artifact-build failed with status 3; nothing was contacted" in result.stderr
    assert not p.root.exists()


def test_git_deploys_skip_what_is_live_too(ready_project: Project) -> None:
    p = ready_project
    p.ok("app")
    again = p.ok("app")
    sha = p.origin.sha("main")
    assert f"main ({sha[:7]}) is live already on 1 host" in again.stdout
    assert len(p.releases()) == 1
    p.ok("app", "--force")
    assert len(p.releases()) == 2


def test_a_fleet_gets_the_artifact_once_per_host_over_one_connection_each(fleet: Fleet) -> None:
    """Three real servers: one TCP connection each, the file's channel beside the script's,
    every host on the same digest; a host that has it live already skips it."""
    p = artifact_project(fleet.project)
    artifact = tarball(p.base / "dist" / "app.tar.gz", {"VERSION": "f1\n"})
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    logs = fleet.log_sizes()
    p.ok("app")
    assert fleet.versions() == ["f1", "f1", "f1"]
    assert fleet.counts(logs, "Connection from") == [1, 1, 1]
    assert fleet.counts(logs, "Starting session:") == [2, 2, 2]  # the script's and the file's
    assert {digest} == {fleet.history(i)[-1][0] for i in range(3)}
    # Host 1 goes back to nothing (no current): the next deploy of the same file goes there only.
    (fleet.roots[1] / "current").unlink()
    again = p.ok("app")
    assert "to 1 of 3 hosts" in again.stdout
    assert fleet.versions() == ["f1", "f1", "f1"]
    assert [len(fleet.releases(i)) for i in range(3)] == [1, 2, 1]


def test_doctor_checks_what_artifacts_need_and_not_git(artifacts: Project) -> None:
    result = artifacts.ok("app", "doctor")
    assert (
        "no git" in result.stdout + result.stderr or "git version" in result.stdout + result.stderr
    )
    assert "repo" not in result.stdout + result.stderr
