"""Artifacts from a URL, private git over HTTP with a token, and signed sources, for real: a local
HTTP file server, a smart-HTTP git server, ssh-keygen signatures, and each server fetching."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import archives
from tests.support.archives import targz
from tests.support.githttp import serve
from tests.support.httpfiles import HTTPFiles, Route
from tests.support.signing import SSHSigner, allowed_signers, commit_unsigned


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def files() -> HTTPFiles:
    with HTTPFiles() as server:
        yield server


def url_project(project: Project, files: HTTPFiles, **keys: str) -> Project:
    project.configure(artifact=files.url("/app-{ref}.tar.gz"), ref="v1", **keys)
    project.ok("app", "setup")
    return project


def artifact_gets(files: HTTPFiles) -> int:
    return sum(path.endswith(".tar.gz") for method, path in files.asked() if method == "GET")


def test_a_url_artifact_with_a_sha256_file_beside_it(project: Project, files: HTTPFiles) -> None:
    body = targz({"VERSION": "u1\n"})
    files.routes["/app-v1.tar.gz"] = Route(body)
    files.routes["/app-v1.tar.gz.sha256"] = Route(f"{sha256(body)}  app-v1.tar.gz\n".encode())
    p = url_project(project, files)
    p.ok("app")
    assert ("u1", sha256(body)) == (p.live, (p.root / "current" / "REVISION").read_text().strip())
    again = p.ok("app")
    assert "is live already" in again.stdout
    assert artifact_gets(files) == 1  # the second deploy read the .sha256 only


def test_a_url_artifact_known_by_its_etag_is_not_fetched_again(
    project: Project, files: HTTPFiles
) -> None:
    files.routes["/app-v1.tar.gz"] = Route(targz({"VERSION": "e1\n"}), etag='"one"')
    p = url_project(project, files)
    p.ok("app")
    assert "is live already" in p.ok("app").stdout
    assert artifact_gets(files) == 1
    files.routes["/app-v1.tar.gz"] = Route(targz({"VERSION": "e2\n"}), etag='"two"')
    p.ok("app")
    assert p.live == "e2"


def test_the_ref_names_the_url_artifact(project: Project, files: HTTPFiles) -> None:
    for version in ("v1", "v2"):
        body = targz({"VERSION": f"{version}\n"})
        files.routes[f"/app-{version}.tar.gz"] = Route(body, headers={"ETag": f'"{version}"'})
    p = url_project(project, files)
    p.ok("app", "v2")
    assert p.live == "v2"
    assert p.history()[-1][3] == "v2"


def test_a_missing_url_artifact_fails_clearly_and_changes_nothing(
    project: Project, files: HTTPFiles
) -> None:
    p = url_project(project, files, artifact_sha256="0" * 64)
    result = p.run("app")
    assert result.status == 6
    assert "HTTP 404" in result.stderr and "/app-v1.tar.gz" in result.stderr
    assert not (p.root / "current").exists()


def test_a_url_artifact_that_does_not_match_its_sha256_is_refused(
    project: Project, files: HTTPFiles
) -> None:
    files.routes["/app-v1.tar.gz"] = Route(targz({"VERSION": "x\n"}))
    p = url_project(project, files, artifact_sha256="ab" * 32)
    result = p.run("app")
    assert result.status == 6
    assert "checksum mismatch" in result.stderr
    assert not (p.root / "current").exists()
    assert [f for f in (p.root / ".pushdeploy" / "uploads").iterdir()] == []


# --- Private git over HTTP(S) with repo-token -------------------------------------------------
TOKEN = "tok-3f9d2c1a77e5b4"


@pytest.fixture
def private(project: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, Path]:
    root = project.base / "served"
    root.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(project.origin.path), str(root / "app.git")],
        check=True,
        timeout=30,
    )
    monkeypatch.setenv("APP_GIT_TOKEN", TOKEN)
    return project, root


def test_a_private_repo_is_fetched_with_the_token_which_is_never_kept(
    private: tuple[Project, Path],
) -> None:
    p, root = private
    with serve(root, TOKEN) as server:
        p.configure(repo_token="$APP_GIT_TOKEN")
        p.conf.write_text(
            p.conf.read_text().replace(f"repo = {p.origin.path}", f"repo = {server.url('app.git')}")
        )
        setup, deployed = p.ok("app", "setup"), p.ok("app")
        assert p.live == "v1"
        assert server.authorized(), "the server never saw the token"
    kept = [
        path
        for path in (p.root / "repo").rglob("*")
        if path.is_file() and TOKEN.encode() in path.read_bytes()
    ]
    assert kept == []
    assert TOKEN not in setup.stdout + setup.stderr + deployed.stdout + deployed.stderr


def test_a_wrong_repo_token_fails_without_a_prompt(
    private: tuple[Project, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    p, root = private
    monkeypatch.setenv("APP_GIT_TOKEN", "not-the-token")
    with serve(root, TOKEN) as server:
        p.configure(repo_token="$APP_GIT_TOKEN")
        p.conf.write_text(
            p.conf.read_text().replace(f"repo = {p.origin.path}", f"repo = {server.url('app.git')}")
        )
        result = p.run("app", "setup")
    assert result.status == 6
    assert "git clone --mirror failed" in result.stderr
    assert "not-the-token" not in result.stderr


# --- verify = signed --------------------------------------------------------------------------
@pytest.fixture
def signer(project: Project) -> SSHSigner:
    signer = SSHSigner.make(project.base / "keys", "release@example.test")
    (project.base / "allowed_signers").write_text(allowed_signers(signer))
    return signer


def test_only_a_commit_signed_by_an_allowed_key_deploys(
    project: Project, signer: SSHSigner
) -> None:
    p = project
    p.configure(verify="signed", allowed_signers="allowed_signers")
    signer.commit(p.origin.path, {"VERSION": "s1\n"})
    p.ok("app", "setup")
    p.ok("app")
    assert p.live == "s1"
    commit_unsigned(p.origin.path, {"VERSION": "s2\n"})
    result = p.run("app")
    assert result.status == 8, result.stderr
    assert "is not signed by a key in allowed-signers" in result.stderr
    assert p.live == "s1"


def test_a_local_artifact_needs_its_signature(project: Project, signer: SSHSigner) -> None:
    p = project
    del p.keys["ref"]
    p.configure(artifact="dist/app.tar.gz", verify="signed", allowed_signers="allowed_signers")
    dist = p.base / "dist"
    dist.mkdir()
    (dist / "app.tar.gz").write_bytes(targz({"VERSION": "g1\n"}))
    p.ok("app", "setup")
    refused = p.run("app")
    assert refused.status == 8 and "app.tar.gz.sig" in refused.stderr
    signer.sign_file(dist / "app.tar.gz")
    p.ok("app")
    assert p.live == "g1"


def test_a_url_artifact_is_checked_against_the_signature_beside_it(
    project: Project, signer: SSHSigner, files: HTTPFiles
) -> None:
    body = targz({"VERSION": "w1\n"})
    local = project.base / "app-v1.tar.gz"
    local.write_bytes(body)
    files.routes["/app-v1.tar.gz"] = Route(body, etag='"w1"')
    files.routes["/app-v1.tar.gz.sig"] = Route(signer.sign_file(local).read_bytes())
    p = url_project(project, files, verify="signed", allowed_signers="allowed_signers")
    p.ok("app")
    assert p.live == "w1"
    files.routes["/app-v1.tar.gz"] = Route(targz({"VERSION": "w2\n"}), etag='"w2"')
    result = p.run("app")
    assert result.status == 8, result.stderr
    assert p.live == "w1"


def test_a_hostile_url_artifact_is_refused_on_the_server_and_writes_nothing(
    project: Project, files: HTTPFiles
) -> None:
    evil = [
        archives.Member("escape", kind="symlink", target="../../.."),
        archives.Member("escape/pwned.txt", data=b"x\n"),
    ]
    body = gzip.compress(archives.tar_bytes(evil))
    files.routes["/app-v1.tar.gz"] = Route(body, etag='"evil"')
    p = url_project(project, files)
    result = p.run("app")
    assert result.status == 8, result.stderr
    assert "the artifact was refused, nothing was unpacked: escape" in result.stderr
    assert not (p.root / "current").exists()
    assert list((p.root / "releases").iterdir()) == []
    assert not list(p.base.rglob("pwned.txt"))
