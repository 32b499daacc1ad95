"""The table of commands: help, aliases, argument parsing and dispatch all come from it."""

from __future__ import annotations

import argparse
import importlib.util
import io
import select
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from pushdeploy import errors
from pushdeploy.cli import commands
from pushdeploy.cli import main as cli
from pushdeploy.cli.argv import options_first, resolve
from pushdeploy.cli.commands import TABLE, Command
from tests.support.cli import run_cli
from tests.support.fakefleet import fleet, host, ran, run

CONFIG = "[app]\nhost = nobody@127.0.0.1:1\nrepo = /r\npath = /p\n"  # nothing listens on port 1


def resolved(*argv: str) -> tuple[str, argparse.Namespace, argparse.Namespace]:
    """What the command line resolves to, as ``cli.main`` reads it: the command's name, the
    global options (``env``, ``words``...) and the command's own arguments."""
    moved = options_first(
        list(argv), cli.option_strings(), commands.own_options, commands.FIRST_WORDS
    )
    args = cli.build_parser().parse_args(moved)
    command, opts = resolve(args)
    return command.name, args, opts


def test_help_lists_every_command_with_its_aliases_and_every_exit_status() -> None:
    shown = " ".join(run_cli("--help").stdout.split())  # as one line: help wraps the statuses
    for command in TABLE:
        assert f"{command.name} {' '.join(command.summary.split())}" in shown
        assert all(f"alias: {alias}" in command.summary for alias in command.aliases)
    for status, meaning in errors.MEANINGS.items():
        assert f"{int(status)} {meaning}" in shown


def test_every_exit_status_has_a_meaning_for_the_help() -> None:
    assert set(errors.ExitStatus) == set(errors.MEANINGS)


def test_command_words_and_aliases_are_unique() -> None:
    words = [word for c in TABLE for word in (c.name, *c.aliases)]
    assert sorted({w for w in words if words.count(w) > 1}) == []


@pytest.mark.parametrize("command", TABLE, ids=[c.name for c in TABLE])
def test_every_handler_reference_names_a_function(command: Command) -> None:
    module = command.handler.split(":")[0]
    if importlib.util.find_spec(module) is None:  # registered ahead of its module
        pytest.importorskip(module)
    assert callable(command.load())


@pytest.mark.parametrize("command", [c for c in TABLE if not c.every_word], ids=lambda c: c.name)
def test_every_command_answers_its_own_help_without_a_config(
    tmp_path: Path, command: Command
) -> None:
    """No deploy.conf in ``tmp_path``: the help comes before the config is read."""
    argv = [command.name, "--help"] if command.before_env else ["app", command.name, "--help"]
    result = run_cli("-C", tmp_path, *argv)
    assert (result.status, result.stderr) == (0, "")
    assert result.stdout.startswith(f"usage: {command.parser().prog} ")
    assert command.help in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("production",), ("deploy", "production", ["deploy"], {"ref": None})),
        (("production", "v1.2"), ("deploy", "production", ["deploy", "v1.2"], {"ref": "v1.2"})),
        (("production", "deploy", "list"), ("deploy", "production", ["deploy", "list"], {"ref": "list"})),
        (("production", "prev"), ("previous", "production", ["prev"], {})),
        (("production", "revert"), ("revert", "production", ["revert"], {"steps": 1})),
        (("production", "revert", "3"), ("revert", "production", ["revert", "3"], {"steps": 3})),
        (("production", "config", "keep"), ("config", "production", ["config", "keep"], {"key": "keep"})),
        (("doctor", "production"), ("doctor", "production", ["doctor"], {})),
        (("mkconfig", "staging", "--host", "h"), ("init", None, ["mkconfig", "staging", "--host", "h"], {"env": "staging", "host": ["h"]})),
        (("staging", "init"), ("init", "staging", ["init"], {"env": None, "host": []})),
        (("update",), ("update", None, ["update"], {})),
        (("app", "run", "ls", "-la", "--", "x"), ("exec", "app", ["run", "ls", "-la", "--", "x"], {"command": ["ls", "-la", "--", "x"]})),
        (("app", "monitor", "logs", "-n", "5"), ("monitor", "app", ["monitor", "logs", "-n", "5"], {"action": "logs", "lines": 5, "json": False})),
        (("app", "systemd", "--install"), ("systemd", "app", ["systemd", "--install"], {"socket": False, "install": True})),
        (("app", "log", "2"), ("log", "app", ["log", "2"], {"n": 2})),
        (("app", "log"), ("log", "app", ["log"], {"n": None})),
    ],
)  # fmt: skip
def test_the_words_after_env_name_a_command_and_its_arguments(
    argv: tuple[str, ...], expected: tuple[str, str | None, list[str], dict[str, object]]
) -> None:
    name, args, opts = resolved(*argv)
    fields = expected[3]
    assert expected == (name, args.env, args.words, {k: getattr(opts, k) for k in fields})


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--all", "app", "list"), "all"),
        (("app", "--all", "list"), "all"),
        (("app", "list", "--all"), "all"),
        (("--json", "app", "status"), "json"),
        (("app", "status", "--json"), "json"),
        (("--json", "app", "monitor", "status"), "json"),
        (("--force", "init"), "force"),
        (("init", "--force"), "force"),
    ],
)
def test_a_commands_own_flag_and_the_global_one_are_the_same_flag(
    argv: tuple[str, ...], flag: str
) -> None:
    _, args, opts = resolved(*argv)
    assert (getattr(args, flag), getattr(opts, flag)) == (True, True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("app", "log", "0"), "log: expected the number of a log (1 is the latest), got '0'"),
        (("app", "monitor", "logs", "-n", "x"), "monitor logs: expected a number of lines"),
        (("app", "monitor", "start", "-n", "5"), "monitor start: -n/--lines is for 'monitor logs'"),
        (("app", "monitor"), "monitor: expected one of status|start|stop|reload|logs"),
        (("app", "systemd", "--bogus"), "systemd: unknown option '--bogus'"),
        (("app", "systemd", "--sock"), "systemd: unknown option '--sock'"),
        (("app", "status", "extra"), "status: unexpected argument 'extra'"),
        (("app", "update", "x"), "update: unexpected argument 'x'"),
        (("doctor",), "doctor: name the environment: 'pushdeploy doctor ENV'"),
        (("doctor", "--bogus"), "doctor: unknown option '--bogus'"),
        (("init", "--port"), "init: argument --port: expected one argument"),
    ],
)
def test_a_commands_own_arguments_are_checked_by_its_parser(
    tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    (tmp_path / "deploy.conf").write_text(CONFIG)
    result = run_cli("-C", tmp_path, *argv)
    assert (result.status, len(result.error_lines)) == (2, 1), result.stderr
    assert message in result.error_lines[0]


def test_a_usage_error_hints_the_commands_usage_with_the_env_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy.conf").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    result = run_cli("app", "systemd", "--bogus")
    assert "hint: usage: pushdeploy app systemd [-h] [--socket] [--install]" in result.stderr


def test_a_ref_after_deploy_that_looks_like_an_option_is_refused_as_a_ref(tmp_path: Path) -> None:
    (tmp_path / "deploy.conf").write_text(CONFIG)
    result = run_cli("-C", tmp_path, "app", "deploy", "--upload-pack=touch")
    assert (result.status, len(result.error_lines)) == (8, 1)
    assert "not a valid ref: '--upload-pack=touch'" in result.error_lines[0]


def test_a_command_that_needs_no_config_runs_without_one(tmp_path: Path) -> None:
    result = run_cli("-C", tmp_path, "app", "update")
    assert (result.status, "pip install --upgrade pushdeploy" in result.stdout) == (0, True)


def test_init_after_env_names_the_section(tmp_path: Path) -> None:
    result = run_cli("-C", tmp_path, "staging", "init", "--host", "h", "--path", "/a")
    assert result.status == 0, result.stderr
    assert "[staging]\n" in (tmp_path / "deploy.conf").read_text()


def test_batch_sets_the_key_through_the_files_own_path(tmp_path: Path) -> None:
    (tmp_path / "deploy.conf").write_text(CONFIG)
    said = run_cli("-C", tmp_path, "--batch", "50%", "app", "config", "batch")
    refused = run_cli("-C", tmp_path, "--batch", "0", "app", "config", "batch")
    assert (said.status, said.stdout) == (0, "50%\n")
    assert refused.status == 3
    assert "(command line): [app] batch:" in refused.error_lines[0]


def returns_a_report(inv: object) -> SimpleNamespace:
    return SimpleNamespace(exit_status=9)


def test_a_handlers_report_gives_the_exit_status(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["-C", str(tmp_path), "app"])
    command = Command("x", "a report", f"{__name__}:returns_a_report", needs_config=False)
    console = cli.Console(io.StringIO(), io.StringIO())
    assert cli.dispatch(args, console, None, (command, argparse.Namespace())) == 9


@pytest.mark.parametrize("ref", ["$(touch /tmp/pwned)", "--upload-pack=touch x", "a b"])
def test_a_hostile_ref_is_refused_as_it_is_parsed_before_any_host_is_dialed(
    tmp_path: Path, ref: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as host:  # where deploy.conf sends the deploy
        conf = tmp_path / "deploy.conf"
        conf.write_text(CONFIG.replace("127.0.0.1:1", f"127.0.0.1:{host.getsockname()[1]}"))
        result = run_cli("-c", conf, "app", "deploy", ref)
        assert result.status == errors.ExitStatus.REFUSED
        assert "not a valid ref" in result.stderr
        dialed, _, _ = select.select([host], [], [], 0.5)  # a connection would be waiting here
        assert dialed == []


@pytest.mark.parametrize("word", sorted(commands.BY_WORD))
def test_every_command_answers_help_with_its_usage_and_contacts_no_host(
    base: Path, monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    fake = fleet(base, monkeypatch, host("web1"))
    for asked in ("--help", "-h"):
        result = run(base, "app", word, asked)
        name = commands.BY_WORD[word].name
        assert (result.status, result.stderr) == (0, ""), asked
        assert result.stdout.startswith("usage: pushdeploy ") and f" {name} " in result.stdout
    assert ran(fake) == {"web1": []}


def test_exec_runs_a_command_named_help_after_a_double_dash(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"))
    assert run(base, "app", "exec", "--", "--help").status == 0
    assert run(base, "app", "exec", "ls", "--help").status == 0
    assert ran(fake) == {"web1": ["command", "command"]}
    first, second = fake.hosts["web1"].scripts
    assert "\nexec_in_current /srv/app/current /srv/app/shared app --help\n" in first
    assert "\nexec_in_current /srv/app/current /srv/app/shared app 'ls --help'\n" in second
