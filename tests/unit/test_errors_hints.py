"""Error lines and hints say what happened: the real ENV, advice that fits the command, no noise."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from pushdeploy import errors
from pushdeploy.cli import commands
from pushdeploy.cli import main as cli
from pushdeploy.errors import (
    ConnectionError,
    DeployFailed,
    DeployReverted,
    LockHeld,
    RemoteCommandFailed,
    UsageError,
)
from pushdeploy.transport.streams import OnLine
from tests.support.cli import run_cli

UNREACHABLE = "host = nobody@127.0.0.1:1"


def namespace(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "command", "prefix"),
    [
        (("production",), "deploy", "pushdeploy production"),
        (("production", "v1.2"), "deploy", "pushdeploy production"),
        (("production", "prev"), "previous", "pushdeploy production"),
        (("production", "setup"), "setup", "pushdeploy production"),
        (("-C", "my app", "staging", "list"), "list", "pushdeploy -C 'my app' staging"),
        (("-c", "ops.conf", "web", "unlock"), "unlock", "pushdeploy -c ops.conf web"),
        (("it's",), "deploy", "pushdeploy 'it'\"'\"'s'"),
    ],
)
def test_the_command_line_is_read_back_as_the_user_typed_it(
    argv: tuple[str, ...], command: str, prefix: str
) -> None:
    assert errors.command_line(namespace(*argv), commands.NAMES, commands.ALIASES) == (
        command,
        prefix,
    )


def test_without_env_nothing_is_substituted() -> None:
    assert errors.command_line(namespace(), commands.NAMES, commands.ALIASES) == ("", None)
    assert errors.command_line(None, commands.NAMES, commands.ALIASES) == ("", None)
    hint = errors.fit_hint(LockHeld("held"), "", None)[1]
    assert "pushdeploy ENV unlock" in hint


@pytest.mark.parametrize(
    ("error", "command", "hint"),
    [
        (LockHeld("x"), "deploy", "wait for it (--wait SECONDS), or run 'pushdeploy prod unlock' if it is dead"),
        (DeployFailed("x", "run 'pushdeploy ENV setup' first"), "deploy", "run 'pushdeploy prod setup' first"),
        (DeployFailed("x"), "deploy", "the live release was not changed; fix the cause and run the command again"),
        (DeployFailed("x"), "revert", "the live release was not changed; fix the cause and run the command again"),
        (DeployFailed("x"), "setup", "fix the cause and run the command again"),
        (DeployFailed("x"), "unlock", "fix the cause and run the command again"),
        (DeployFailed("x"), "systemd", "fix the cause and run the command again"),
        (DeployReverted("x"), "deploy", DeployReverted.default_hint),
        (ConnectionError("x"), "setup", ConnectionError.default_hint),
    ],
)  # fmt: skip
def test_hints_name_the_real_environment_and_fit_the_command(
    error: errors.PushdeployError, command: str, hint: str
) -> None:
    assert errors.fit_hint(error, command, "pushdeploy prod")[1] == hint


def test_the_message_names_the_real_environment_too() -> None:
    error = UsageError("exec: give the command to run, e.g. pushdeploy ENV exec 'ls -l'")
    message, _ = errors.fit_hint(error, "exec", "pushdeploy prod")
    assert message == "exec: give the command to run, e.g. pushdeploy prod exec 'ls -l'"


def test_remote_failure_points_at_output_only_when_there_was_some() -> None:
    assert RemoteCommandFailed("x", 3).hint == "its own output, above, says why"
    silent = RemoteCommandFailed("x", 3, output=False)
    assert "output, above" not in silent.hint and "printed nothing" in silent.hint
    assert RemoteCommandFailed("x", 3, "own hint", output=False).hint == "own hint"


def test_no_printed_hint_says_a_literal_env_once_env_is_known(tmp_path: Path) -> None:
    (tmp_path / "deploy.conf").write_text(f"[app]\n{UNREACHABLE}\nrepo = /r\npath = /p\n")
    result = run_cli("-C", tmp_path, "app", "revert", "0")
    assert result.status == 2
    assert f"hint: 'pushdeploy -C {tmp_path} app revert' goes back one" in result.stderr
    assert "ENV" not in result.stderr


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_quietly_with_status_0() -> None:
    err = io.StringIO()
    status = cli.main(["--example-config"], stdout=ClosedPipe(), stderr=err, stdin=io.BytesIO())
    assert (status, err.getvalue()) == (0, "")


def test_a_closed_stdout_pipe_prints_no_traceback_nor_exception_ignored() -> None:
    """`pushdeploy --example-config | head -0`, with a real pipe whose reader has closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pushdeploy", "--example-config"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before pushdeploy writes a byte
    with proc.stderr:
        stderr = proc.stderr.read()
    assert (proc.wait(timeout=30), stderr) == (0, b"")


class ExecHost:
    """A fake host for ``exec``: prints ``said`` on stdout, then ends with ``status``; a status of
    None loses the connection instead."""

    def __init__(self, label: str, status: int | None, said: tuple[str, ...] = ()) -> None:
        self.label, self.status, self.said = label, status, said
        self.ran = False

    def run(self, script: str, on_line: OnLine, stdin: object = None, **kw: object) -> int:
        self.ran = True
        for text in self.said:
            on_line("out", text)
        if self.status is None:
            raise ConnectionError(f"{self.label}: connection broke: reset by peer")
        return self.status

    def interactive(self, command: str) -> int:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *hosts: ExecHost) -> dict[str, ExecHost]:
    by_name = {h.label: h for h in hosts}
    monkeypatch.setattr(
        "pushdeploy.transport.open_transport", lambda env, host, *a: by_name[host.spec]
    )
    names = " ".join(by_name)
    (tmp_path / "deploy.conf").write_text(f"[app]\nhost = {names}\nrepo = /r\npath = /p\n")
    return by_name


def test_exec_runs_on_every_host_and_exits_with_the_first_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = fleet(
        tmp_path,
        monkeypatch,
        ExecHost("a.test", 0, ("fine",)),
        ExecHost("b.test", 3, ("b is sad",)),
        ExecHost("c.test", 5),
    )
    result = run_cli("-C", tmp_path, "app", "exec", "check")
    assert all(h.ran for h in hosts.values())
    assert result.status == 3
    assert result.stdout == "a.test: fine\nb.test: b is sad\n"
    assert [ln for ln in result.stderr.splitlines() if ln.startswith(("a.", "b.", "c."))] == [
        "a.test: ok",
        "b.test: exit status 3",
        "c.test: exit status 5",
    ]
    assert result.error_lines == [
        "pushdeploy: error: check failed on 2 of 3 hosts: b.test (status 3), c.test (status 5)"
    ]
    assert "hint: its own output, above, says why" in result.stderr


def test_exec_goes_on_after_a_host_lost_its_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = fleet(tmp_path, monkeypatch, ExecHost("a.test", None), ExecHost("b.test", 0))
    result = run_cli("-C", tmp_path, "app", "exec", "check")
    assert hosts["b.test"].ran and result.status == 4
    assert "a.test: connection broke: reset by peer" in result.stderr
    assert "printed nothing" in result.stderr


def test_exec_on_one_host_that_printed_nothing_does_not_point_at_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(tmp_path, monkeypatch, ExecHost("a.test", 7))
    result = run_cli("-C", tmp_path, "app", "exec", "false")
    assert result.status == 7
    assert result.error_lines == ["pushdeploy: error: a.test: false exited with status 7"]
    assert "output, above" not in result.stderr and "printed nothing" in result.stderr


def test_exec_output_into_a_closed_stdout_is_no_connection_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(tmp_path, monkeypatch, ExecHost("a.test", 0, ("line",)))
    (tmp_path / "deploy.conf").write_text("[app]\nhost = a.test\nrepo = /r\npath = /p\n")
    err = io.StringIO()
    argv = ["-C", str(tmp_path), "app", "exec", "yes"]
    status = cli.main(argv, stdout=ClosedPipe(), stderr=err, stdin=io.BytesIO())
    assert (status, err.getvalue()) == (0, "")
