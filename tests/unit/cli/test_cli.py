"""The command line in-process: usage and config errors, exit statuses, config printing, checks."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pushdeploy import __version__
from pushdeploy.cli import main as cli
from tests.support.cli import run_cli

UNREACHABLE = "host = nobody@127.0.0.1:1"  # nothing listens on port 1: a connection would fail


def write(tmp_path: Path, text: str) -> Path:
    conf = tmp_path / "deploy.conf"
    conf.write_text(text)
    return conf


def test_version_and_help_exit_0() -> None:
    assert run_cli("--version").stdout == f"pushdeploy {__version__}\n"
    result = run_cli("--help")
    assert result.status == 0
    assert "exit statuses" in result.stdout


def test_example_config_prints_the_annotated_file() -> None:
    result = run_cli("--example-config")
    assert result.status == 0
    assert result.stdout == (Path(__file__).parents[3] / "deploy.conf.example").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "missing ENV"),
        (("--wait", "-3", "app"), "--wait takes 0 or more seconds"),
        (("--bogus", "app"), "unrecognized arguments: --bogus"),
        (("app", "revert", "two"), "revert: expected a number of good deploys to go back"),
        (("app", "revert", "0"), "(1 or more), got '0'"),
        (("app", "revert", "-1"), "(1 or more), got '-1'"),
        (("app", "revert", "+1"), "(1 or more), got '+1'"),
        (("app", "revert", "1", "2"), "revert: unexpected argument '2'"),
        (("app", "list", "extra"), "list: unexpected argument 'extra'"),
        (("app", "exec"), "exec: give the command to run"),
        (("app", "config", "nope"), "config: unknown key 'nope'"),
    ],
)
def test_usage_errors_exit_2_with_one_error_line(
    tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    write(tmp_path, f"[app]\n{UNREACHABLE}\nrepo = /r\npath = /p\n")
    result = run_cli("-C", str(tmp_path), *argv)
    assert result.status == 2
    assert len(result.error_lines) == 1
    assert message in result.error_lines[0]
    assert "hint:" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[app]\nhots = x\nrepo = /r\npath = /p\n", "deploy.conf:2: [app] hots: unknown key"),
        (
            "[app]\nhost x\nrepo /r\npath /p\nport eighty\n",
            "deploy.conf:5: [app] port: expected an integer, got 'eighty'",
        ),
        ("[app]\nhost = x\nrepo = /r\n", "[app] path: required key is missing"),
        (
            "[app]\nhost = x\nrepo = /r\npath = relative/dir\n",
            "[app] path: expected an absolute path",
        ),
        (
            "[app]\nhost = x\nrepo = /r\npath = /p\nkeep = 0\n",
            "[app] keep: expected a whole number of at least 1",
        ),
        ("[application]\nhost = x\n", "no section [app]"),
        ("not an ini line\n", "deploy.conf:1:"),
    ],
)
def test_config_errors_exit_3_before_any_connection(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path, text)
    result = run_cli("-C", str(tmp_path), "app")
    assert result.status == 3, result.stderr
    assert message in result.error_lines[0]
    assert "cannot connect" not in result.stderr


def test_unknown_key_suggests_the_near_miss(tmp_path: Path) -> None:
    write(tmp_path, "[app]\nhost = x\nrepo = /r\npath = /p\npost_deploy = make\n")
    result = run_cli("-C", str(tmp_path), "app")
    assert "hint: did you mean 'post-deploy'?" in result.stderr


def test_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    result = run_cli("-C", str(tmp_path), "app")
    assert result.status == 3
    assert "pushdeploy init app --host" in result.stderr


def test_config_prints_effective_values_with_secrets_hidden(tmp_path: Path) -> None:
    write(
        tmp_path,
        "[defaults]\nkeep = 9\n[base]\nhost = a\nrepo = https://bot:hunter2@git.example.test/r.git\n"
        "path = /srv/app\nenv = API_TOKEN=abc MODE=fast\n[app]\ninherit = base\nhost = b\n",
    )
    shown = run_cli("-C", str(tmp_path), "app", "config").stdout
    assert "host = b\n" in shown
    assert "keep = 9\n" in shown
    assert "hunter2" not in shown and "abc" not in shown
    assert "API_TOKEN=*** MODE=fast" in shown
    assert "# restart-file = tmp/restart.txt" in shown
    assert run_cli("-C", str(tmp_path), "app", "config", "keep").stdout == "9\n"
    assert run_cli("-C", str(tmp_path), "app", "config", "ref").stdout == ""  # unset: newest tag
    assert "# ref = (the newest tag)\n" in shown


def test_config_key_prints_the_parsed_value_a_deploy_would_use(tmp_path: Path) -> None:
    write(
        tmp_path,
        "[app]\nhost b a:2200\nrepo /r\npath /srv/app/\nport 0022\nkeep  7 \nforward-agent true\n",
    )
    values = {
        key: run_cli("-C", str(tmp_path), "app", "config", key).stdout
        for key in ("port", "keep", "path", "host", "forward-agent", "host-key", "grace", "env")
    }
    assert values == {
        "port": "22\n",
        "keep": "7\n",
        "path": "/srv/app\n",
        "host": "b a:2200\n",
        "forward-agent": "yes\n",
        "host-key": "strict\n",
        "grace": "30\n",
        "env": "",
    }


def test_an_unknown_host_filter_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, f"[app]\n{UNREACHABLE}\nrepo = /r\npath = /p\n")
    result = run_cli("-C", str(tmp_path), "-H", "other", "app", "list")
    assert result.status == 3
    assert "hosts: nobody@127.0.0.1:1" in result.stderr


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_uncommitted_or_unpushed_work_is_refused_unless_forced(tmp_path: Path) -> None:
    upstream, work = tmp_path / "upstream.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(upstream))
    git(tmp_path, "clone", "-q", str(upstream), str(work))
    (work / "f").write_text("1")
    git(work, "add", "f")
    git(work, "commit", "-qm", "one")
    git(work, "push", "-q", "-u", "origin", "HEAD")
    write(work, f"[app]\n{UNREACHABLE}\nrepo = /r\npath = /p\n")
    git(work, "add", "deploy.conf")
    git(work, "commit", "-qm", "conf")
    unpushed = run_cli("-C", str(work), "app")
    assert unpushed.status == 8
    assert "1 local commit not pushed" in unpushed.stderr
    git(work, "push", "-q")
    (work / "f").write_text("2")
    dirty = run_cli("-C", str(work), "app")
    assert dirty.status == 8
    assert "uncommitted changes" in dirty.stderr and "--force" in dirty.stderr
    forced = run_cli("-C", str(work), "--force", "app")
    assert forced.status == 4  # got past the check, then could not connect


def test_exec_input_is_a_piped_stdin_never_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    controller, terminal = os.openpty()
    read_end, write_end = os.pipe()
    try:
        with (
            open(terminal, "rb", closefd=False) as tty,
            open(read_end, "rb", closefd=False) as pipe,
        ):
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(tty))
            assert cli.piped_stdin() is None  # a terminal: `console` is for typing at the server
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe))
            piped = cli.piped_stdin()
            assert piped is not None and piped.fileno() == read_end
    finally:
        for fd in (controller, terminal, read_end, write_end):
            os.close(fd)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["production", "--dry-run"], ["--dry-run", "production"]),
        (["production", "main", "--force", "-v"], ["--force", "-v", "production", "main"]),
        (["production", "--wait", "5", "list", "--json"], ["--wait", "5", "--json", "production", "list"]),
        (["production", "--wait=5", "revert", "2"], ["--wait=5", "production", "revert", "2"]),
        (["-c", "x.conf", "production", "-H", "a"], ["-c", "x.conf", "-H", "a", "production"]),
        (["production", "exec", "ls", "-v", "--json"], ["production", "exec", "ls", "-v", "--json"]),
        (["production", "-q", "run", "grep", "--dry-run"], ["-q", "production", "run", "grep", "--dry-run"]),
        (["production", "--", "--dry-run"], ["production", "--", "--dry-run"]),
        (["init", "production", "--host", "h"], ["init", "production", "--host", "h"]),
        (["init", "production", "--force", "-C", "d"], ["-C", "d", "init", "production", "--force"]),
        (["doctor", "production", "--dry-run"], ["--dry-run", "doctor", "production"]),
        (["production", "list", "--all", "-v"], ["-v", "production", "list", "--all"]),
        (["production", "status", "--json"], ["production", "status", "--json"]),
        (["production", "systemd", "--socket", "-q"], ["-q", "production", "systemd", "--socket"]),
        (["production", "monitor", "logs", "-n", "5", "-v"], ["-v", "production", "monitor", "logs", "-n", "5"]),
        (["production", "--bogus"], ["production", "--bogus"]),
    ],
)  # fmt: skip
def test_options_after_env_are_moved_before_it_unless_the_command_owns_them(
    argv: list[str], expected: list[str]
) -> None:
    from pushdeploy.cli import commands
    from pushdeploy.cli.argv import options_first

    moved = options_first(argv, cli.option_strings(), commands.own_options, commands.FIRST_WORDS)
    assert expected == moved


def test_an_unknown_option_after_env_says_options_go_first(tmp_path: Path) -> None:
    write(tmp_path, "[app]\nhost = x\nrepo = /r\npath = /p\n")
    result = run_cli("-C", str(tmp_path), "app", "--bogus")
    assert result.status == 2
    assert result.error_lines == [
        "pushdeploy: error: unknown option '--bogus' after app: options go before ENV"
    ]


def test_options_after_env_work(tmp_path: Path) -> None:
    write(tmp_path, "[app]\nhost = x\nrepo = /r\npath = /p\n")
    result = run_cli("-C", str(tmp_path), "app", "--dry-run")
    assert result.status == 0 and "lock_take" in result.stdout


@pytest.mark.parametrize("argv", [["update"], ["app", "update"]])
def test_update_says_how_to_upgrade_and_is_no_ref(tmp_path: Path, argv: list[str]) -> None:
    write(tmp_path, "[app]\nhost = x\nrepo = /r\npath = /p\n")
    result = run_cli("-C", str(tmp_path), *argv)
    assert result.status == 0
    assert "pip install --upgrade pushdeploy" in result.stdout


def test_options_that_set_keys_go_through_the_files_own_path(tmp_path: Path) -> None:
    write(tmp_path, "[app]\nhost = a b\nrepo = /r\npath = /p\ntest = ./check\n")
    said = {
        argv: run_cli("-C", str(tmp_path), *argv.split()).stdout
        for argv in (
            "--host-key accept-new app config host-key",
            "-T app config test",
            "-H b app config host",
        )
    }
    assert said == {
        "--host-key accept-new app config host-key": "accept-new\n",
        "-T app config test": "",
        "-H b app config host": "b\n",
    }
