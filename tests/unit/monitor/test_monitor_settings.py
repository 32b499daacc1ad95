"""The monitor's JSON config: defaults, path resolution, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pushdeploy.monitor import settings
from pushdeploy.monitor.settings import Heartbeat, Ready, SettingsError

MINIMAL = {"app": "python3 app.py", "listen": ["127.0.0.1:8080"]}


def parse(**overrides: Any) -> settings.Settings:
    return settings.parse(
        {**MINIMAL, **overrides}, source="m.json", base_dir="/srv/app/.pushdeploy"
    )


def test_defaults_fit_the_pushdeploy_layout() -> None:
    s = parse()
    assert (s.current, s.state_dir, s.logs_dir) == (
        "/srv/app/current",
        "/srv/app/.pushdeploy/monitor",
        "/srv/app/shared/logs",
    )
    assert (s.workers, s.grace, s.poll_interval, s.restart_file) == (
        2,
        30.0,
        0.5,
        "tmp/restart.txt",
    )
    assert s.ready == Ready(http="/", timeout=30.0)
    assert s.heartbeat is None
    assert s.confine_reloads is True
    assert s.restart_path == "/srv/app/current/tmp/restart.txt"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ready": {"accept": True}}, Ready(http=None, timeout=30.0)),
        ({"ready": {"http": "/health", "timeout": 5}}, Ready(http="/health", timeout=5.0)),
        ({"ready": {"accept": True, "timeout": 2.5}}, Ready(http=None, timeout=2.5)),
    ],
)
def test_ready_modes(overrides: dict[str, Any], expected: Ready) -> None:
    assert parse(**overrides).ready == expected


def test_heartbeat_defaults_follow_the_seed_design() -> None:
    assert parse(heartbeat={}).heartbeat == Heartbeat("/health", 10.0, 5.0, 1, 10.0)
    assert parse(heartbeat={"path": "/up", "failures": 3}).heartbeat == Heartbeat(
        "/up", 10.0, 5.0, 3, 10.0
    )


def test_listen_accepts_one_string_or_a_list() -> None:
    s = parse(listen="[::1]:9000")
    assert [(e.host, e.port) for e in s.listen] == [("::1", 9000)]
    s = parse(listen=["127.0.0.1:1", "../shared/app.sock"])
    assert s.listen[1].path == "/srv/app/shared/app.sock"


def test_confine_reloads_can_be_turned_off() -> None:
    assert parse(confine_reloads=False).confine_reloads is False


def test_env_is_kept_sorted() -> None:
    assert parse(env={"B": "2", "A": "1"}).env == (("A", "1"), ("B", "2"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app": ""}, "m.json: app: expected a non-empty string"),
        ({"listen": []}, "m.json: listen: expected one or more addresses"),
        ({"listen": ["localhost"]}, "m.json: listen: 'localhost': expected host:port"),
        ({"listen": ["::1:80"]}, "write IPv6 addresses as [addr]:port"),
        ({"listen": ["127.0.0.1:99999"]}, "expected host:port"),
        ({"workers": 0}, "m.json: workers: expected a positive integer, got 0"),
        ({"workers": "two"}, "workers: expected a positive integer, got 'two'"),
        ({"workers": 1.5}, "workers: expected a positive integer"),
        ({"grace": -1}, "grace: expected a number of seconds >= 0"),
        ({"poll_interval": 0}, "poll_interval: expected a positive number of seconds"),
        ({"graec": 3}, "unknown key 'graec' (did you mean 'grace'?)"),
        ({"ready": {"htp": "/"}}, "unknown key ready.'htp'"),
        ({"ready": {"http": "health"}}, "ready.http: expected a path starting with '/'"),
        ({"heartbeat": {"interval": "10s"}}, "heartbeat.interval: expected a positive number"),
        ({"heartbeat": {"failures": True}}, "heartbeat.failures: expected a positive integer"),
        ({"heartbeat": 5}, "heartbeat: expected an object or null"),
        ({"env": {"A": 1}}, "env: expected an object of string values"),
        ({"restart_file": "/tmp/r"}, "restart_file: must be relative to the release"),
        ({"confine_reloads": "yes"}, "confine_reloads: expected true or false"),
    ],
)
def test_bad_values_are_rejected_with_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse(**overrides)
    assert message in str(info.value)


def test_load_reports_bad_json_with_a_line_number(tmp_path: Path) -> None:
    path = tmp_path / "monitor.json"
    path.write_text('{\n  "app": "x",\n  oops\n}\n')
    with pytest.raises(SettingsError, match=r"monitor.json:3: not valid JSON"):
        settings.load(str(path))


def test_load_resolves_paths_against_the_config_dir(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "monitor.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**MINIMAL, "current": "../current"}))
    assert settings.load(str(path)).current == str(tmp_path / "current")


def test_status_file_may_not_overwrite_the_config(tmp_path: Path) -> None:
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({**MINIMAL, "state_dir": "."}))
    with pytest.raises(SettingsError, match="would overwrite this config"):
        settings.load(str(path))
