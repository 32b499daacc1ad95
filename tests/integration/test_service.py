"""Deploys that restart a real app through pushdeploy's monitor (restart = monitor), end to end."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project, wait_until

APP = Path(__file__).parents[2] / "examples" / "app" / "app.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read().decode().strip()


@pytest.fixture
def served(project: Project) -> Iterator[tuple[Project, int]]:
    """A project whose app runs under the monitor on a free port; the monitor is stopped after."""
    port = free_port()
    project.origin.commit({"app.py": APP.read_text(), "VERSION": "v1\n"}, "app")
    project.configure(
        app="python3 app.py",
        listen=f"127.0.0.1:{port}",
        restart="monitor",
        ready="/health",
        ready_timeout="10",
        grace="2",
        workers="2",
        health="/health",
        health_timeout="10",
    )
    project.ok("app", "setup")
    try:
        yield project, port
    finally:
        zipapp = project.root / ".pushdeploy" / "monitor.pyz"
        if zipapp.exists():
            subprocess.run(
                [
                    sys.executable,
                    str(zipapp),
                    "stop",
                    "--config",
                    str(zipapp.with_name("monitor.json")),
                    "--timeout",
                    "15",
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )


def test_setup_installs_the_monitor_and_its_config(served: tuple[Project, int]) -> None:
    p, port = served
    state = p.root / ".pushdeploy"
    settings = json.loads((state / "monitor.json").read_text())
    assert settings["app"] == "python3 app.py"
    assert settings["listen"] == [f"127.0.0.1:{port}"]
    assert settings["ready"] == {"http": "/health", "timeout": 10}
    before = (state / "monitor.pyz").stat().st_mtime_ns
    p.ok("app", "setup")
    assert (state / "monitor.pyz").stat().st_mtime_ns == before  # unchanged digest: not rewritten


def test_each_deploy_reloads_the_app_and_a_broken_release_is_refused(
    served: tuple[Project, int],
) -> None:
    p, port = served
    p.ok("app")  # the first deploy starts the monitor
    first = get(port)
    assert first.startswith("v1 ")
    p.deploy_new("v2", "app")
    assert get(port).startswith("v2 ")
    p.origin.commit({"VERSION": "v3\n", "BROKEN": "1\n"}, "broken")
    result = p.run("app")
    assert result.status == 7
    assert "monitor:" in result.stderr
    assert "  │ BROKEN file present: refusing to start" in result.stderr  # why, from app.log
    assert get(port).startswith("v2 ")
    assert p.live == "v2"
    status = p.ok("--json", "app", "monitor", "status").stdout
    document = json.loads(status)
    assert document["last_reload"]["result"] == "failed"
    p.ok("app", "reload")
    assert get(port).startswith("v2 ")


def test_an_app_that_cannot_start_says_why_above_the_error(served: tuple[Project, int]) -> None:
    """The first deploy starts the monitor; when the app exits instead of getting ready, its own
    last words (the app's log, which the monitor keeps) come before the error, under the log's
    path."""
    p, _ = served
    p.origin.commit({"BROKEN": "1\n"}, "broken")
    result = p.run("app")
    assert result.status == 7, result.stderr
    lines = result.stderr.splitlines()
    app_log = lines.index(f"  │ ==> {p.root}/shared/logs/app.log <==")
    error = next(n for n, line in enumerate(lines) if line.startswith("pushdeploy: error:"))
    assert "  │ BROKEN file present: refusing to start" in lines[app_log:error]
    assert "restart failed after going live (monitor: " in lines[error]


def test_monitor_commands_drive_the_monitor(served: tuple[Project, int]) -> None:
    p, port = served
    not_running = p.run("app", "monitor", "status")
    assert not_running.status == 3
    assert "not running" in not_running.stderr
    p.ok("app")  # the first deploy starts the monitor
    assert "generation" in p.ok("app", "monitor", "status").stdout
    assert p.ok("app", "monitor", "logs", "-n", "5").status == 0
    p.ok("app", "monitor", "stop")
    assert p.run("app", "monitor", "status").status == 3
    p.ok("app", "monitor", "start")
    assert get(port, "/health") == "ok"
    bad = p.run("app", "monitor", "restart")
    assert bad.status == 2 and "status|start|stop|reload|logs" in bad.stderr


def test_systemd_units_are_printed_and_verify(served: tuple[Project, int], tmp_path: Path) -> None:
    p, _ = served
    printed = p.ok("app", "systemd", "--socket").stdout
    assert "# pushdeploy-app.socket" in printed and "# pushdeploy-app.service" in printed
    assert "ListenStream=127.0.0.1:" in printed
    service = p.ok("app", "systemd").stdout
    assert '/.pushdeploy/monitor.pyz" run --config "' in service  # quoted: the path has a space
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "pushdeploy-app.service"
    unit.write_text(service.split("\n", 1)[1])
    check = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_restart_by_touch_is_picked_up_by_a_running_monitor(served: tuple[Project, int]) -> None:
    p, port = served
    p.ok("app")  # restart = monitor: starts it
    p.configure(restart="touch")
    p.deploy_new("v2", "app")  # only touches tmp/restart.txt in the new release
    wait_until(lambda: get(port).startswith("v2 "), what="the monitor to reload into v2")


def test_a_release_failing_its_test_after_the_reload_is_reloaded_away(
    served: tuple[Project, int],
) -> None:
    p, port = served
    p.ok("app")
    p.configure(test='test "$(cat VERSION)" != v2')
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 7
    assert get(port).startswith("v1 ")  # the monitor went back to the previous release
    assert p.live == "v1"


def test_systemd_install_writes_the_units_with_sudo_and_reloads(
    served: tuple[Project, int],
) -> None:
    # No systemd runs in the test machines: check the exact script --install would run.
    p, _ = served
    script = p.ok("--dry-run", "app", "systemd", "--install").stdout
    # service.sh's functions (tests/bash/test_service_library.py runs them with a sudo stub)
    assert "\nsystemd_unit pushdeploy-app.service '[Unit]" in script
    assert "\nsystemd_reload\nOK=1\n" in script
    assert 'as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }' in script
    assert "and reloaded systemd" not in script
