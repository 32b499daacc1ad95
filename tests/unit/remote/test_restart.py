"""The restart strategies: one per kind, each owning its go-live steps, its switch-back and setup."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import pushdeploy
from pushdeploy import sources
from pushdeploy.config import deployconf
from pushdeploy.config.environment import Environment
from pushdeploy.remote import restart, scripts, service

PACKAGE = Path(pushdeploy.__file__).parent
BASE = "[app]\nhost = web1\nrepo = /r\npath = /srv/app\n"
APP = "app = python3 app.py\nlisten = 127.0.0.1:3000\n"
COMMAND = "sudo systemctl restart 'app; x'"
ZIPAPP_CONFIG = "/srv/app/.pushdeploy/monitor.pyz /srv/app/.pushdeploy/monitor.json"


def load(tmp_path: Path, extra: str) -> Environment:
    conf = tmp_path / "deploy.conf"
    conf.write_text(BASE + extra, encoding="utf-8")
    return deployconf.load(conf, "app")


@pytest.mark.parametrize(
    ("extra", "kind", "steps", "back", "command"),
    [
        ("", restart.Touch, ["restart_by_touch"], "restart_back_by_touch", None),
        (
            f"restart = {COMMAND}\n",
            restart.Command,
            [f'hook restart "$RELEASES/$ID" {shlex.quote(COMMAND)} back'],
            f"restart_back_by_command {shlex.quote(COMMAND)}",
            COMMAND,
        ),
        (
            f"restart = monitor\n{APP}",
            restart.Monitor,
            ["step restart", "write_private", f"restart_by_monitor {ZIPAPP_CONFIG} 70 40 6"],
            f"restart_back_by_monitor {ZIPAPP_CONFIG} 70",
            None,
        ),
    ],
)
def test_each_kind_is_one_strategy_with_its_steps_and_its_way_back(
    tmp_path: Path,
    extra: str,
    kind: type[object],
    steps: list[str],
    back: str,
    command: str | None,
) -> None:
    """(monitor.json's text, written by ``write_private``, is service.py's: not repeated here.)"""
    strategy = restart.of(load(tmp_path, extra))
    shown = [s.split(" ", 1)[0] if s.startswith("write_") else s for s in strategy.go_live_steps()]
    expected = (kind, steps, back, command)
    assert expected == (type(strategy), shown, strategy.switch_back(), strategy.command)


@pytest.mark.parametrize(
    ("extra", "installs", "libraries"),
    [
        ("", False, [restart.LIBRARY]),
        (APP, True, [restart.LIBRARY, service.LIBRARY]),  # touch: the monitor watches the file
        (f"restart = monitor\n{APP}", True, [restart.LIBRARY, service.LIBRARY]),
        (f"restart = {COMMAND}\n", False, [restart.LIBRARY]),
    ],
)
def test_setup_installs_the_monitor_wherever_it_runs_the_app(
    tmp_path: Path, extra: str, installs: bool, libraries: list[str]
) -> None:
    strategy = restart.of(load(tmp_path, extra))
    steps = strategy.setup_steps()
    installed = bool(steps) and steps[0].startswith("monitor_install ")
    assert (installed, list(strategy.libraries())) == (installs, libraries)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("", "RESTART_BACK=(restart_back_by_touch)"),
        (
            f"restart = {COMMAND}\n",
            f"RESTART_BACK=(restart_back_by_command {shlex.quote(COMMAND)})",
        ),
        (
            f"restart = monitor\n{APP}",
            f"RESTART_BACK=(restart_back_by_monitor {ZIPAPP_CONFIG} 70)",
        ),
    ],
)
def test_a_script_that_runs_user_commands_carries_the_way_back_and_its_functions(
    tmp_path: Path, extra: str, line: str
) -> None:
    env = load(tmp_path, extra)
    text = scripts.deploy(
        env, scripts.Run("t", "o", "w", "20240102T030405Z"), "main", source=sources.of(env)
    )
    read_only = scripts.status(env, sources.of(env))
    assert (f"\n{line}\n" in text, restart.LIBRARY.rstrip("\n") in text) == (True, True)
    assert (
        "\nUSER_ENV=(); RESTART_BACK=(:)\n" in read_only,
        "RESTART_BACK=(restart" in read_only,
    ) == (
        True,
        False,
    )


# `env.restart == "touch"`, `restart in {...}`, `text in {"touch", "monitor"}`: a choice of kind.
KIND_BRANCH = re.compile(r"""restart\s*(==|!=|\bin\b)|\{\s*["'](touch|monitor)["']\s*,""")


def test_no_module_but_the_strategies_and_the_key_table_chooses_by_kind() -> None:
    """restart.of picks the strategy once; config/keys.py only checks that monitor has an app."""
    allowed = {"remote/restart.py", "config/keys.py"}
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in allowed and "monitor/" not in str(path)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if KIND_BRANCH.search(line)
    ]
    assert found == []
