"""The remote layout under ``path``, and quoting its paths so that bash reads them back unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pushdeploy.remote.layout import Layout, quote

HOME = "/home/de ploy"  # a HOME with a blank: "$HOME" must stay double-quoted


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("repo", "/srv/app/repo"),
        ("releases", "/srv/app/releases"),
        ("current", "/srv/app/current"),
        ("shared", "/srv/app/shared"),
        ("logs", "/srv/app/shared/logs"),
        ("pids", "/srv/app/shared/pids"),
        ("deploys", "/srv/app/.deploys"),
        ("state", "/srv/app/.pushdeploy"),
        ("lock", "/srv/app/.pushdeploy/lock"),
        ("monitor_zipapp", "/srv/app/.pushdeploy/monitor.pyz"),
        ("monitor_config", "/srv/app/.pushdeploy/monitor.json"),
    ],
)
def test_layout_paths(attr: str, expected: str) -> None:
    assert expected == getattr(Layout("/srv/app"), attr)


def test_a_release_lives_under_releases() -> None:
    release = Layout("~/my app").release("20240102T030405Z-0123456")
    assert release == "~/my app/releases/20240102T030405Z-0123456"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/app", "/srv/app"),
        ("/srv/my app", "'/srv/my app'"),
        ("/srv/it's", "'/srv/it'\"'\"'s'"),
        ("/srv/$(id)", "'/srv/$(id)'"),
        ("~/app", '"$HOME"/app'),
        ("~/my app", "\"$HOME\"/'my app'"),
        ("~/", "\"$HOME\"/''"),
        ("~user/app", "'~user/app'"),
        ("~", "'~'"),
    ],
)
def test_quote(path: str, expected: str) -> None:
    assert expected == quote(path)


NASTY = [
    "/srv/my app",
    "/srv/it's",
    '/srv/say "hi"',
    "/srv/$(touch pwned)",
    "/srv/`touch pwned`",
    "/srv/$HOME/${PATH}",
    "/srv/a;b|c&d>e",
    "/srv/*",
    "/srv/line\nbreak",
    "/srv/tab\there",
    "/srv/-n",
    "~/dir with space/$HOME",
    '~/it\'s "quoted" $(touch pwned)',
    "~/*",
]


@pytest.mark.parametrize("path", NASTY)
def test_bash_reads_a_quoted_path_back_unchanged(path: str, tmp_path: Path) -> None:
    """The proof: bash prints the quoted path as the path (with ~/ meaning $HOME), running nothing."""
    done = subprocess.run(
        ["bash", "-c", "printf %s " + quote(path)],
        cwd=tmp_path,
        env={"HOME": HOME, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    expected = HOME + path[1:] if path.startswith("~/") else path
    assert (expected, []) == (done.stdout, list(tmp_path.iterdir()))
