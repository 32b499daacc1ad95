"""``inherit``: ``config inherit`` says what a section inherits, and an empty value clears a key.

A key written with an empty value (``build =``) in a section is as if nothing had set it: not
the value its ``inherit`` chain or ``[defaults]`` gives, but the key's default (or unset). A
required key cannot be cleared, and ``inherit =`` follows no section.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pushdeploy.config import deployconf
from pushdeploy.errors import ConfigError
from tests.support.cli import run_cli

CONF = """\
[defaults]
keep = 9
[production]
host = deploy@app1.example.com
repo = /srv/git/app.git
path = /srv/app
ref = main
build = make
restart = ./bin/restart
port = 2222
[staging]
inherit = production
host = deploy@staging.example.com
{staging}
"""


def written(tmp_path: Path, staging: str = "") -> Path:
    path = tmp_path / "deploy.conf"
    path.write_text(CONF.format(staging=staging), encoding="utf-8")
    return path


def test_config_inherit_prints_the_section_the_environment_inherits(tmp_path: Path) -> None:
    written(tmp_path)
    staging = run_cli("-C", tmp_path, "staging", "config", "inherit")
    production = run_cli("-C", tmp_path, "production", "config", "inherit")
    assert (staging.status, staging.stdout, staging.stderr) == (0, "production\n", "")
    assert (production.status, production.stdout, production.stderr) == (0, "", "")


def test_the_config_listing_shows_the_inherit_line(tmp_path: Path) -> None:
    written(tmp_path)
    listing = run_cli("-C", tmp_path, "staging", "config").stdout.splitlines()
    assert "inherit = production" in listing


@pytest.mark.parametrize("line", ["build =", "build=", "build = ", "build =\t"])
def test_an_empty_value_clears_what_the_section_would_inherit(tmp_path: Path, line: str) -> None:
    env = deployconf.load(written(tmp_path, line), "staging")
    assert (env.hooks.build, "build" in env.settings) == (None, False)


def test_a_cleared_key_goes_back_to_its_default_or_unset(tmp_path: Path) -> None:
    env = deployconf.load(written(tmp_path, "ref =\nrestart =\nport =\nkeep ="), "staging")
    expected = (None, "touch", None, 5, "/srv/app")
    assert expected == (env.source.ref, env.restart.strategy, env.ssh.port, env.keep, env.path)


def test_config_says_a_cleared_key_is_left_to_its_default(tmp_path: Path) -> None:
    written(tmp_path, "ref =")
    listing = run_cli("-C", tmp_path, "staging", "config").stdout.splitlines()
    one = run_cli("-C", tmp_path, "staging", "config", "ref")
    assert "# ref = (the newest tag)" in listing
    assert (one.status, one.stdout) == (0, "")


def test_a_required_key_cannot_be_cleared(tmp_path: Path) -> None:
    path = written(tmp_path, "path =")
    with pytest.raises(ConfigError) as info:
        deployconf.load(path, "staging")
    assert info.value.message == f"{path}:14: [staging] path: a required key cannot be cleared"
    assert "remove the line to inherit it" in (info.value.hint or "")
    result = run_cli("-C", tmp_path, "staging", "config")
    assert (result.status, result.error_lines) == (
        3,
        [f"pushdeploy: error: {path}:14: [staging] path: a required key cannot be cleared"],
    )


def test_an_empty_inherit_follows_no_section(tmp_path: Path) -> None:
    path = written(tmp_path, "repo = /r\npath = /p\nbuild = b")
    text = path.read_text(encoding="utf-8").replace("inherit = production", "inherit =")
    path.write_text(text, encoding="utf-8")
    env = deployconf.load(path, "staging")
    assert (env.inherit, env.source.ref, env.hooks.build, env.keep) == (None, None, "b", 9)
