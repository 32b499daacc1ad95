"""The status file, the lock, reload request tokens, and the status text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.monitor import state


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m00s"), (245, "4m05s"), (7380, "2h03m"), (273600, "3d04h")],
)
def test_duration(seconds: float, text: str) -> None:
    assert state.duration(seconds) == text


def test_write_json_atomic_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "monitor.json"
    state.write_json_atomic(str(path), {"a": 1})
    state.write_json_atomic(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["monitor.json"]


def test_lock_makes_a_monitor_visible_and_exclusive(tmp_path: Path) -> None:
    assert state.running_pid(str(tmp_path)) is None
    first, second = state.Lock(str(tmp_path)), state.Lock(str(tmp_path))
    assert first.acquire()
    try:
        assert not second.acquire()
        assert state.running_pid(str(tmp_path)) is not None
    finally:
        first.release()
    assert state.running_pid(str(tmp_path)) is None
    assert not (tmp_path / state.PID).exists()


def test_a_stale_pid_file_is_not_a_running_monitor(tmp_path: Path) -> None:
    (tmp_path / state.PID).write_text("1\n")
    (tmp_path / state.LOCK).write_text("")
    assert state.running_pid(str(tmp_path)) is None


def test_reload_requests_are_taken_once(tmp_path: Path) -> None:
    a = state.add_reload_request(str(tmp_path))
    b = state.add_reload_request(str(tmp_path))
    assert sorted(state.take_reload_requests(str(tmp_path))) == sorted([a, b])
    assert state.take_reload_requests(str(tmp_path)) == []


def test_find_reload_matches_the_request_in_current_or_past_records() -> None:
    status = {
        "reloads": [{"seq": 1, "requests": ["x"], "result": "failed"}],
        "reload": {"seq": 2, "requests": ["y"], "result": "pending"},
    }
    assert state.find_reload(status, "x") == {"seq": 1, "requests": ["x"], "result": "failed"}
    assert state.find_reload(status, "y") == {"seq": 2, "requests": ["y"], "result": "pending"}
    assert state.find_reload(status, "z") is None


def test_render_shows_workers_and_the_last_reload() -> None:
    status = {
        "pid": 10,
        "state": "running",
        "started": 1000.0,
        "generation": 3,
        "release": "/srv/app/releases/B",
        "workers": [
            {"slot": 0, "pid": 11, "started": 1090.0, "ready": True},
            {"slot": 1, "pid": 12, "started": 1099.0, "ready": False},
        ],
        "retiring": [{"pid": 9, "generation": 2}],
        "reload": {"result": "failed"},
        "last_reload": {
            "result": "failed",
            "finished": 0,
            "trigger": "sighup",
            "reason": "worker 13 exited with status 1 before it was ready",
        },
    }
    text = state.render(status, now=1100.0)
    lines = text.splitlines()
    assert lines[0] == "monitor     running (pid 10, up 1m40s)"
    assert lines[1:4] == ["generation  3", "release     /srv/app/releases/B", "workers"]
    assert lines[4:7] == [
        "  0  pid 11  up 10s",
        "  1  pid 12  up 1s  (starting)",
        "  -  pid 9  draining (generation 2)",
    ]
    assert lines[7].startswith("last reload failed at ")
    assert lines[7].endswith("(sighup): worker 13 exited with status 1 before it was ready")
