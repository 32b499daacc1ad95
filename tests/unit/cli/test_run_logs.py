"""Every run's local log, as the commands write it: it ends with the run's exit status, whatever
the command, and it holds what the hosts printed (exec's passed-through output too), masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.console.logbook import log_paths
from tests.support.fakefleet import fleet, host, run


def last_line(path: Path) -> str:
    """A log's last line without its time."""
    return path.read_text("utf-8").splitlines()[-1].split(" ", 1)[1]


def results(base: Path) -> list[tuple[str, str]]:
    """``log --json``'s command and result of each run, oldest first."""
    listed = run(base, "app", "log", "--json")
    return [(row["command"], row["result"]) for row in json.loads(listed.stdout)]


@pytest.mark.parametrize("command", ["list", "status", "current", "exec"])
def test_a_read_only_run_that_succeeds_is_listed_as_ok(
    base: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    fleet(base, monkeypatch, host("web1"))
    words = ["exec", "true"] if command == "exec" else [command]
    assert run(base, "app", *words).status == 0
    assert results(base) == [(command, "ok")]
    assert last_line(log_paths("app")[-1]) == "- exit 0"


def test_a_run_that_fails_ends_its_log_with_its_exit_status(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1", unreachable=True))
    assert run(base, "app", "list").status == 4
    assert results(base) == [("list", "failed")]
    assert last_line(log_paths("app")[-1]) == "- exit 4"


def test_exec_logs_every_line_the_command_printed_with_secrets_masked(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = {"replies": {"command": ["token s3cret-value"]}, "stderr": {"command": ["oops"]}}
    fleet(base, monkeypatch, host("web1", **said), extra="env = API_TOKEN=s3cret-value\n")
    assert run(base, "app", "exec", "env").status == 0
    logged = [line.split(" ", 1)[1] for line in log_paths("app")[-1].read_text().splitlines()]
    assert [line for line in logged if line.startswith("web1 ")] == [
        "web1 output token ***",
        "web1 stderr oops",
    ]


def test_a_json_log_ends_with_an_exit_event(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet(base, monkeypatch, host("web1"))
    assert run(base, "--log-format", "json", "app", "list").status == 0
    last = json.loads(log_paths("app")[-1].read_text("utf-8").splitlines()[-1])
    assert (last["event"], last["exit_status"], results(base)) == ("exit", 0, [("list", "ok")])
