"""Errors met on first contact say what happened: key files, IdentitiesOnly, exec, bash noise."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.integration.conftest import Project
from tests.support.clienthome import ClientHome, write_client_home
from tests.support.sshd import SSHServer, keygen

# Lines bash prints on its own when a job it waits for is gone or was killed by a signal.
BASH_NOISE = re.compile(r"No record of process|wait_for:|\bKilled\b|\bTerminated\b|job \d+")


def aliased(tmp_path: Path, server: SSHServer, *config: str) -> tuple[Project, ClientHome]:
    """A project whose host is ``Host alias`` in ~/.ssh/config, written with ``config`` lines."""
    home = write_client_home(Path(os.environ["HOME"]), server)
    text = "\n".join(
        ["Host alias", f"    HostName {server.host}", f"    Port {server.port}"]
        + [f"    {line}" for line in config]
    )
    home.config.write_text(text + "\n\n" + home.config.read_text())
    return Project(tmp_path, f"host = {server.user}@alias"), home


def test_a_missing_key_in_deploy_conf_is_named_before_connecting(
    tmp_path: Path, sshd: SSHServer
) -> None:
    home = write_client_home(Path(os.environ["HOME"]), sshd)
    gone = home.ssh_dir / "id_gone"
    p = Project(tmp_path, f"host = {sshd.user}@127.0.0.1:{sshd.port}\nkey = {gone}")
    result = p.run("app", "setup")
    assert result.status == 3
    assert result.error_lines == [f"pushdeploy: error: {p.conf}:3: [app] key: no such file: {gone}"]
    assert not p.root.exists()


def test_a_missing_identity_file_with_identities_only_is_named(
    tmp_path: Path, sshd: SSHServer
) -> None:
    gone = tmp_path / "id_gone"
    p, _ = aliased(tmp_path, sshd, f"IdentityFile {gone}", "IdentitiesOnly yes")
    result = p.run("app", "setup")
    assert result.status == 4
    assert len(result.error_lines) == 1
    assert f"IdentityFile {gone} (from ~/.ssh/config) does not exist" in result.error_lines[0]
    assert "No such file or directory" not in result.stderr


def test_identities_only_offers_only_the_named_file(tmp_path: Path, sshd: SSHServer) -> None:
    """~/.ssh/id_ed25519 would log in, but IdentitiesOnly names another key: refused, as ssh is."""
    other = tmp_path / "other_key"
    keygen(other, "not authorized")
    p, _ = aliased(tmp_path, sshd, f"IdentityFile {other}", "IdentitiesOnly yes")
    result = p.run("app", "setup")
    assert result.status == 4
    assert "login refused" in result.error_lines[0]
    p2, _ = aliased(tmp_path / "again", sshd, "IdentitiesOnly yes")  # no IdentityFile: defaults
    p2.ok("app", "setup")


def test_a_working_identity_file_with_identities_only_logs_in(
    tmp_path: Path, sshd: SSHServer
) -> None:
    home = write_client_home(Path(os.environ["HOME"]), sshd)
    p, _ = aliased(tmp_path, sshd, f"IdentityFile {home.key}", "IdentitiesOnly yes")
    p.ok("app", "setup")


def test_no_run_prints_bash_job_noise(project: Project) -> None:
    """Deploys, a failed deploy, a revert and the reading commands, all with -v: stderr holds
    step lines and hook output, never bash's own notices about its jobs."""
    p = project
    p.configure(post_deploy="sleep 0.2 & echo started")
    outputs = [p.ok("-v", "app", "setup"), p.ok("-v", "app")]
    outputs.append(p.deploy_new("v2", "-v", "app"))
    p.configure(test="exit 3")
    p.origin.commit({"VERSION": "v3\n"}, "v3")
    failed = p.run("-v", "app")
    assert failed.status == 7, failed.stderr
    outputs.append(failed)
    p.configure(test="true")
    outputs += [p.ok("-v", "app", "revert"), p.ok("-v", "app", "list")]
    outputs.append(p.ok("-v", "app", "exec", "true"))
    noise = [ln for r in outputs for ln in r.stderr.splitlines() if BASH_NOISE.search(ln)]
    assert noise == []


def test_hints_after_a_failed_setup_name_the_env_and_do_not_promise_a_live_release(
    project: Project,
) -> None:
    p = project
    p.root.mkdir()
    (p.root / "releases").write_text("a file where setup wants a directory\n")
    result = p.run("app", "setup")
    assert result.status == 6, result.stderr
    assert "live release was not changed" not in result.stderr
    assert "ENV" not in result.stderr
