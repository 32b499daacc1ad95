"""systemd.py renders units that say exactly what we mean and that systemd-analyze accepts."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pushdeploy.remote import systemd


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("/srv/my app/x", '"/srv/my app/x"'),
        ("100%", "100%%"),
        ("$HOME", '"$$HOME"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        (";", '";"'),
        ("", '""'),
    ],
)
def test_quote_arg_keeps_each_word_literal(arg: str, expected: str) -> None:
    assert systemd.quote_arg(arg) == expected


def test_newlines_are_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        systemd.render_service("app", path="/srv/app", user="deploy", description="a\nb")


@pytest.mark.parametrize("name", ["", "my app", "a/b", "x;y"])
def test_bad_unit_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unit name"):
        systemd.render_service(name, path="/srv/app", user=None)


def test_relative_path_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        systemd.render_service("app", path="srv/app", user=None)


def test_service_runs_the_monitor_in_the_foreground() -> None:
    text = systemd.render_service(
        "shop", path="/srv/shop", user="deploy", description="Shop", grace=20
    )
    assert text == (
        "[Unit]\n"
        "Description=Shop\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=notify\n"
        "NotifyAccess=main\n"
        "User=deploy\n"
        "WorkingDirectory=/srv/shop\n"
        "ExecStart=/usr/bin/python3 /srv/shop/.pushdeploy/monitor.pyz run"
        " --config /srv/shop/.pushdeploy/monitor.json\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=35\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def test_service_escapes_spaces_and_specifiers_in_the_path() -> None:
    text = systemd.render_service("shop", path="/srv/my shop%1", user=None)
    assert "WorkingDirectory=/srv/my shop%%1\n" in text
    assert 'ExecStart=/usr/bin/python3 "/srv/my shop%%1/.pushdeploy/monitor.pyz" run' in text
    assert "User=" not in text


def test_socket_units_listen_on_every_entry_and_run_the_app_in_current() -> None:
    sock, service = systemd.render_socket_units(
        "shop",
        path="/srv/shop",
        user="deploy",
        app="node server.js --port $PORT",
        listen=["127.0.0.1:8080", "[::1]:8080", "shared/app.sock"],
        environment_file="/srv/shop/.pushdeploy/shop.env",
    )
    assert "ListenStream=127.0.0.1:8080\n" in sock
    assert "ListenStream=[::1]:8080\n" in sock
    assert "ListenStream=/srv/shop/shared/app.sock\n" in sock
    assert "FileDescriptorName=listen\n" in sock
    assert "WantedBy=sockets.target" in sock
    assert "Requires=shop.socket\n" in service
    assert "WorkingDirectory=/srv/shop/current\n" in service
    assert 'ExecStart=/bin/sh -c "exec node server.js --port $$PORT"\n' in service
    assert "EnvironmentFile=/srv/shop/.pushdeploy/shop.env\n" in service
    assert "Environment=" not in service


def test_socket_units_without_env_have_no_environment_line() -> None:
    _, service = systemd.render_socket_units(
        "shop", path="/srv/shop", user=None, app="python3 app.py", listen=["127.0.0.1:8080"]
    )
    assert "Environment" not in service


def test_the_environment_file_quotes_each_value_as_systemd_reads_it() -> None:
    """Inside double quotes systemd unescapes \\" \\\\ \\` \\$ and expands nothing (env-file.c)."""
    text = systemd.environment_file(
        {"NODE_ENV": "production", "GREETING": 'say "50%"', "ODD": "a\\b $HOME `id` \ttab", "E": ""}
    )
    assert text.splitlines() == [
        "# The app's env for systemd (EnvironmentFile=), written by pushdeploy; mode 0600.",
        'E=""',
        'GREETING="say \\"50%\\""',
        'NODE_ENV="production"',
        'ODD="a\\\\b \\$HOME \\`id\\` \ttab"',
    ]


@pytest.mark.parametrize("value", ["two\nlines", "cr\r", "bell\x07"])
def test_a_control_character_in_an_env_value_is_refused_by_name_only(value: str) -> None:
    with pytest.raises(ValueError) as info:
        systemd.environment_file({"DB_PASSWORD": value})
    assert "DB_PASSWORD" in str(info.value)
    assert value not in str(info.value)


def test_an_environment_file_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="absolute"):
        systemd.render_socket_units(
            "shop", path="/srv/shop", user=None, app="a", listen=["1"], environment_file="x.env"
        )


def _verify(tmp_path: Path, units: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    # `verify` checks that ExecStart's binary exists, so point it at this interpreter.
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in units)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def _own_complaints(result: subprocess.CompletedProcess[str], tmp_path: Path) -> list[str]:
    """Lines of systemd-analyze output about our files (it also talks about the host's units)."""
    out = result.stdout + result.stderr
    return [line for line in out.splitlines() if str(tmp_path) in line or "shop" in line]


@needs_analyze
def test_systemd_analyze_accepts_the_service(tmp_path: Path) -> None:
    text = systemd.render_service(
        "shop", path="/srv/my shop", user=getpass.getuser(), python=shutil.which("python3") or ""
    )
    result = _verify(tmp_path, {"shop.service": text})
    assert _own_complaints(result, tmp_path) == []
    assert result.returncode == 0, result.stderr


@needs_analyze
def test_systemd_analyze_accepts_the_socket_units(tmp_path: Path) -> None:
    sock, service = systemd.render_socket_units(
        "shop",
        path="/srv/shop",
        user=getpass.getuser(),
        app="python3 app.py",
        listen=["127.0.0.1:8080", "/run/shop.sock"],
        environment_file=str(tmp_path / "shop.env"),
    )
    (tmp_path / "shop.env").write_text(systemd.environment_file({"A": 'b "c" $d'}))
    result = _verify(tmp_path, {"shop.socket": sock, "shop.service": service})
    assert _own_complaints(result, tmp_path) == []
    assert result.returncode == 0, result.stderr


@needs_analyze
def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The verify helper can fail: a unit with a bogus key is reported."""
    text = systemd.render_service("shop", path="/srv/shop", user=None) + "Bogus=1\n"
    result = _verify(tmp_path, {"shop.service": text})
    assert _own_complaints(result, tmp_path) != []
