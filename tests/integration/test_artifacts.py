"""Deploying build artifacts for real: a local tarball uploaded over the SSH connection (or run
by bash on this machine), unpacked by the server, skipped when live, reverted like git releases;
and what an artifact may not do to a server: fill its disk (a small tmpfs: root only), keep it busy
with sizes it cannot hold, or leave files behind when it is refused."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import archives, faults
from tests.support.archives import Member
from tests.support.fleet import Fleet
from tests.support.httpfiles import HTTPFiles, Route
from tests.support.signing import SSHSigner, allowed_signers


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


# --- What an artifact may not do to a server: fill its disk, keep it busy, leave files behind ---
DEADLINE = 10.0  # seconds for what must end at once (well under one), with room for a busy machine


@contextlib.contextmanager
def on_a_small_disk(project: Project, size: str, inodes: int | None = None) -> Iterator[Project]:
    """``project`` deploying dist/app.tar.gz to a root on a tmpfs of ``size`` (and ``inodes``),
    with a1 live."""
    with faults.mounted_tmpfs(project.base / "disk", size, inodes) as mount:
        project.root = mount / "deploy 'root'"
        artifact_project(project, path=str(project.root))
        tarball(project.base / "dist" / "app.tar.gz", {"VERSION": "a1\n"})
        try:
            project.ok("app", "setup")
            project.ok("app")
            yield project
        finally:
            faults.kill_all(faults.leftovers(project.root))


def free_bytes(path: Path) -> int:
    disk = os.statvfs(path)
    return disk.f_bavail * disk.f_frsize


BOMBS = {
    "80 MiB of zeros for a 32 MiB disk": ("32m", None, [Member("zeros.bin", data=bytes(80 << 20))]),
    "6,000 empty files for 2,500 inodes": ("64m", 2500, [Member(f"e/{i}") for i in range(6000)]),
}


@pytest.mark.parametrize(("size", "inodes", "members"), BOMBS.values(), ids=BOMBS)
def test_an_artifact_the_disk_cannot_spare_room_for_is_refused_before_anything_is_written(
    project: Project, size: str, inodes: int | None, members: list[Member]
) -> None:
    """A small archive that unpacks to more bytes or files than the disk has free (beyond what
    it keeps free) fails as a full disk does (exit 6, the disk named), having written nothing."""
    with on_a_small_disk(project, size, inodes) as p:
        archive = archives.build(members, p.base / "dist" / "app.tar.gz")
        assert archive.stat().st_size < 200_000
        before = free_bytes(p.root)
        result = p.run("app")
        assert result.status == 6, result.stderr
        [line] = result.error_lines
        said = f"the artifact does not fit on the server: cannot write {p.root / 'releases'}: "
        assert said + "the release needs " in line and " stay free" in line
        assert "free space on the server" in result.stderr
        assert (p.live, len(p.releases())) == ("a1", 1)
        assert list((p.root / ".pushdeploy" / "uploads").iterdir()) == []
        assert free_bytes(p.root) > before - (1 << 20)  # the run's log, at most
        tarball(p.base / "dist" / "app.tar.gz", {"VERSION": "a2\n"})
        p.ok("app")
        assert p.live == "a2"


def test_an_artifact_declaring_a_terabyte_is_refused_at_once_here_and_on_the_server(
    project: Project,
) -> None:
    """The 96-byte archive whose one header says 1 TiB: the local check refuses it before any
    connection; served from a URL, the server refuses it; each within seconds, nothing written."""
    p = artifact_project(project)
    huge = archives.declaring(p.base / "dist" / "app.tar.gz", 1 << 40)
    p.ok("app", "setup")
    why = "huge: 1,099,511,627,776 bytes, more than the archive can hold"
    start = time.monotonic()
    here = p.run("app")
    assert time.monotonic() - start < DEADLINE
    assert (here.status, len(here.error_lines)) == (8, 1), here.stderr
    assert why in here.error_lines[0]
    with HTTPFiles({"/huge.tar.gz": Route(huge.read_bytes(), etag='"huge"')}) as files:
        p.configure(artifact=files.url("/huge.tar.gz"))
        start = time.monotonic()
        there = p.run("app")
        assert time.monotonic() - start < DEADLINE
    assert there.status == 8, there.stderr
    assert f"the artifact was refused, nothing was unpacked: {why}" in there.error_lines[0]
    assert p.releases() == [] and list((p.root / ".pushdeploy" / "uploads").iterdir()) == []


def test_a_zip_naming_a_member_with_backslashes_is_refused_here_and_on_the_server(
    project: Project,
) -> None:
    """``..\\..\\x`` is a literal file name on Linux, but where the zip came from it climbs."""
    p = artifact_project(project, artifact="dist/app.zip")
    members = [Member("VERSION", data=b"z1\n"), Member("..\\..\\outside.txt", data=b"bad")]
    zipped = archives.build(members, p.base / "dist" / "app.zip")
    p.ok("app", "setup")
    here = p.run("app")
    assert here.status == 8, here.stderr
    assert "..\\..\\outside.txt: a backslash in a zip member's name" in here.error_lines[0]
    with HTTPFiles({"/app.zip": Route(zipped.read_bytes(), etag='"zip"')}) as files:
        p.configure(artifact=files.url("/app.zip"))
        there = p.run("app")
    assert there.status == 8, there.stderr
    assert "nothing was unpacked: ..\\..\\outside.txt: a backslash" in there.error_lines[0]
    assert p.releases() == [] and not list(p.base.rglob("*outside.txt"))


def test_a_url_artifact_refused_for_its_signature_leaves_nothing_in_uploads(
    project: Project,
) -> None:
    """Neither the download nor its signature stays until the hourly prune."""
    signer = SSHSigner.make(project.base / "keys", "release@example.test")
    stranger = SSHSigner.make(project.base / "other keys", "stranger@example.test")
    (project.base / "allowed_signers").write_text(allowed_signers(signer))
    body = archives.targz({"VERSION": "s1\n"})
    local = project.base / "app.tar.gz"
    local.write_bytes(body)
    routes = {
        "/app.tar.gz": Route(body, etag='"s1"'),
        "/app.tar.gz.sig": Route(stranger.sign_file(local).read_bytes()),
    }
    with HTTPFiles(routes) as files:
        p = artifact_project(
            project,
            artifact=files.url("/app.tar.gz"),
            verify="signed",
            allowed_signers="allowed_signers",
        )
        p.ok("app", "setup")
        result = p.run("app")
    assert result.status == 8, result.stderr
    assert "is not signed by a key in allowed-signers" in result.error_lines[0]
    assert list((p.root / ".pushdeploy" / "uploads").iterdir()) == []
    assert p.releases() == []
