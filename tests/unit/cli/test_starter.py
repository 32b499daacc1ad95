"""``pushdeploy init`` writes a starter deploy.conf that loads, or fails clearly, and never overwrites."""

from __future__ import annotations

import subprocess
from pathlib import Path

import iniconfig

from pushdeploy.cli import commands
from pushdeploy.config import deployconf as config
from tests.support.cli import run_cli


def checkout(path: Path, origin: str | None = None, branch: str = "trunk") -> Path:
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


def test_init_writes_a_config_that_loads_with_the_checkouts_origin_and_branch(
    tmp_path: Path,
) -> None:
    checkout(tmp_path, "git@github.com:me/app.git")
    result = run_cli("-C", tmp_path, "init", "--host", "deploy@app1", "--path", "/srv/app")
    env = config.load(tmp_path / "deploy.conf", "production")
    assert (result.status, env.source.repo, env.path, env.source.ref) == (
        0,
        "git@github.com:me/app.git",
        "/srv/app",
        "trunk",
    )
    assert ([h.spec for h in env.hosts], env.ssh.user, env.ssh.port, env.ssh.key) == (
        ["deploy@app1"],
        None,
        None,
        None,
    )


def test_init_names_the_section_and_writes_the_ssh_settings_only_when_given(tmp_path: Path) -> None:
    checkout(tmp_path, "https://git.example.com/app.git")
    argv = [
        "staging",
        "--host",
        "a",
        "--host",
        "b",
        "--path",
        "~/app",
        "--port",
        "2222",
        "--user",
        "ops",
    ]
    assert run_cli("-C", tmp_path, "mkconfig", *argv).status == 0
    env = config.load(tmp_path / "deploy.conf", "staging")
    assert (len(env.hosts), env.ssh.port, env.ssh.user, env.path) == (2, 2222, "ops", "~/app")


def test_optional_keys_are_written_commented_out(tmp_path: Path) -> None:
    run_cli(
        "-C",
        tmp_path,
        "init",
        "--host",
        "h",
        "--path",
        "/srv/a",
        "--repo",
        "/r.git",
        "--ref",
        "main",
    )
    ini = iniconfig.IniConfig("deploy.conf", data=(tmp_path / "deploy.conf").read_text())
    assert dict(ini.sections["production"].items()) == {
        "host": "h",
        "repo": "/r.git",
        "path": "/srv/a",
        "ref": "main",
    }
    assert "# build = " in (tmp_path / "deploy.conf").read_text()


def bare_repo(path: Path, branch: str, tags: tuple[str, ...] = ()) -> Path:
    """A bare repository whose HEAD is ``branch``, with one commit and ``tags``."""
    work = checkout(path.with_name(path.name + "-work"), branch=branch)
    (work / "app.sh").write_text("echo app\n")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-q", "-m", "first"], check=True)
    for tag in tags:
        subprocess.run(["git", "-C", str(work), "tag", tag], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(path)], check=True)
    return path


def test_outside_a_checkout_ref_is_the_default_branch_the_repo_names(tmp_path: Path) -> None:
    """Without a branch to take, init asks repo for its HEAD: a repo without tags deploys."""
    repo = bare_repo(tmp_path / "app.git", branch="trunk")
    (tmp_path / "elsewhere").mkdir()
    argv = ["init", "--host", "h", "--path", "/srv/a", "--repo", str(repo)]
    result = run_cli("-C", tmp_path / "elsewhere", *argv)
    env = config.load(tmp_path / "elsewhere" / "deploy.conf", "production")
    assert (result.status, env.source.ref) == (0, "trunk")
    assert "ref = trunk: repo's default branch (no branch is checked out here)" in result.stderr


def test_a_repo_that_does_not_answer_leaves_ref_commented_out(tmp_path: Path) -> None:
    """No answer, no guess: the config says the newest tag is the default, and doctor checks it."""
    argv = ["init", "--host", "h", "--path", "/srv/a", "--repo", str(tmp_path / "missing.git")]
    assert run_cli("-C", tmp_path, *argv).status == 0
    assert config.load(tmp_path / "deploy.conf", "production").source.ref is None
    assert (
        "# ref = main                    (default: the newest tag)"
        in (tmp_path / "deploy.conf").read_text()
    )


def test_without_host_and_path_the_config_fails_to_load_naming_the_missing_key(
    tmp_path: Path,
) -> None:
    result = run_cli("-C", tmp_path, "init", "--repo", "git@x:a.git", "--ref", "main")
    deploy = run_cli("-C", tmp_path, "production")
    assert (result.status, deploy.status) == (0, 3)
    assert deploy.error_lines == [
        f"pushdeploy: error: {tmp_path / 'deploy.conf'}: [production] host: required key is missing"
    ]
    assert "set host, path in deploy.conf" in result.stderr


def test_an_existing_config_is_never_replaced_without_force(tmp_path: Path) -> None:
    conf = tmp_path / "deploy.conf"
    conf.write_text("[mine]\n")
    refused = run_cli("-C", tmp_path, "init", "--host", "h", "--path", "/a", "--repo", "r")
    assert (refused.status, conf.read_text()) == (3, "[mine]\n")
    assert refused.error_lines == [f"pushdeploy: error: {conf} exists already; not replaced"]
    assert (
        run_cli(
            "-C", tmp_path, "init", "--host", "h", "--path", "/a", "--repo", "r", "--force"
        ).status
        == 0
    )
    assert config.load(conf, "production").path == "/a"


def test_a_token_in_origins_url_is_not_written(tmp_path: Path) -> None:
    checkout(tmp_path, "https://me:ghp_secret@github.com/me/app.git")
    result = run_cli("-C", tmp_path, "init", "--host", "h", "--path", "/a")
    assert (
        "ghp_secret" not in (tmp_path / "deploy.conf").read_text() + result.stdout + result.stderr
    )
    assert (
        config.load(tmp_path / "deploy.conf", "production").source.repo
        == "https://github.com/me/app.git"
    )


def test_bad_values_are_usage_errors_and_write_nothing(tmp_path: Path) -> None:
    for argv in (
        ["--port", "eighty"],
        ["--path", "relative"],
        ["--host", "-oProxyCommand=x"],
        ["[x]"],
    ):
        assert run_cli("-C", tmp_path, "init", *argv).status == 2, argv
    assert not (tmp_path / "deploy.conf").exists()


def test_c_file_names_the_file_written(tmp_path: Path) -> None:
    assert (
        run_cli(
            "-C", tmp_path, "-c", "other.conf", "init", "--host", "h", "--path", "/a", "--repo", "r"
        ).status
        == 0
    )
    assert config.load(tmp_path / "other.conf", "production").source.repo == "r"


def test_the_example_config_reaches_only_reserved_names_or_this_machine() -> None:
    """A copied example must not deploy anywhere real: its hosts are example.com (RFC 2606), checked
    strictly, or `local`."""
    text = commands.example_config()
    ini = config.parse(text, "deploy.conf.example")
    for name in config.sections(ini):
        env = config.build_environment(name, "example", config.effective(ini, name), environ={})
        for host in env.hosts:
            assert host.name == "local" or host.name.endswith(".example.com"), (name, host)
        assert env.ssh.host_key == "strict"
