"""Commands against a state dir with no monitor running, and reading log tails."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pushdeploy.monitor import cli, control


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / ".pushdeploy" / "monitor.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"app": "true", "listen": ["127.0.0.1:1"]}))
    return str(path)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["status"], (3, "monitor not running\n", "")),
        (["reload"], (3, "", "pushdeploy-monitor: error: monitor not running\n")),
        (["stop"], (0, "monitor not running\n", "")),
    ],
)
def test_commands_without_a_running_monitor(
    config: str, command: list[str], expected: tuple[int, str, str]
) -> None:
    assert run([*command, "--config", config]) == expected


def test_status_json_without_a_running_monitor(config: str) -> None:
    code, out, _ = run(["status", "--json", "--config", config])
    assert (code, json.loads(out)) == (3, {"state": "not running"})


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(["status", "--config", str(tmp_path / "nope.json")])
    assert code == 2
    assert "cannot read" in err


@pytest.mark.parametrize(
    ("lines", "expected"), [(0, []), (2, ["c", "d"]), (9, ["a", "b", "c", "d"])]
)
def test_tail(tmp_path: Path, lines: int, expected: list[str]) -> None:
    path = tmp_path / "log"
    path.write_text("a\nb\nc\nd\n")
    assert control.tail(str(path), lines, block=3) == expected


def test_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert control.tail(str(tmp_path / "none"), 5) == []
