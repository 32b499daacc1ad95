"""The go-live steps of each restart strategy (restart.sh) and prelude.sh's ``back``, run for real.

Each test switches from release 1 to release 2 as a deploy does (activation.go_live's calls:
``switch``, the strategy's ``go_live_steps``, ``check_health``) and makes a step fail, so that the
way back runs too: ``back`` switches back and the header's RESTART_BACK restarts release 1.
"""

from __future__ import annotations

import shlex

from pushdeploy.remote import activation, protocol
from tests.support.bashlib import BashHost, entry, release_id, sha

DEAD_URL = "http://127.0.0.1:9/health"  # the discard port: nothing answers there


def going_live(host: BashHost, n: int, **settings: str) -> str:
    """Bash: take the lock, read what is live, then go live with release n as a deploy does."""
    start = ["lock_take 0 120", "read_live", f"ID={release_id(n)} SHA={sha(n)} REF=main"]
    steps = activation.go_live(host.environment(**settings), "$ID", "deploy")
    return "\n".join([*start, *steps])


def test_pre_deploy_runs_in_the_live_release_with_its_release_and_revision(host: BashHost) -> None:
    live = host.release(1, live=True)
    text = 'echo "$PWD|$RELEASE|$REVISION"'
    result = host.run(f"read_live\npre_deploy {shlex.quote(text)}")
    expected = [f"{host.current}|{host.releases / live}|{sha(1)}"]
    assert (result.status, result.outcome.steps, result.outcome.output) == (
        0,
        ["pre-deploy"],
        expected,
    )


def test_pre_deploy_is_skipped_with_a_warning_when_nothing_is_live(host: BashHost) -> None:
    result = host.run("read_live\npre_deploy 'touch ran'")
    warning = "pre-deploy skipped: nothing is live yet, so there is no release to run it in"
    assert (result.status, result.outcome.steps, result.outcome.warnings) == (0, [], [warning])


def test_a_failed_restart_command_switches_back_and_runs_the_command_in_the_previous_release(
    host: BashHost,
) -> None:
    host.release(1, live=True)
    host.record(1)
    host.release(2)
    (host.releases / release_id(2) / "broken").touch()
    command = "test ! -e broken && touch restarted"
    result = host.run(going_live(host, 2, restart=command), restart=command)
    assert (result.status, result.failure, result.outcome.warnings) == (
        protocol.EXIT_SWITCHED_BACK,
        ("restart", "'restart' exited with status 1"),
        [f"restart failed; switching back to {release_id(1)}"],
    )
    restarted = [n for n in (1, 2) if (host.releases / release_id(n) / "restarted").exists()]
    assert (restarted, host.link(host.current)) == ([1], f"releases/{release_id(1)}")
    assert [entry(1), entry(2), entry(1, "-", "rollback"), entry(2, outcome="bad")] == (
        host.history()
    )


def test_a_failed_health_check_after_a_touch_restart_touches_the_previous_release(
    host: BashHost,
) -> None:
    host.release(1, live=True)
    host.release(2)
    settings = {"health": DEAD_URL, "health_timeout": "0"}
    result = host.run(going_live(host, 2, **settings), **settings)
    touched = [n for n in (1, 2) if (host.releases / release_id(n) / "tmp/restart.txt").exists()]
    assert (result.status, result.failure, touched) == (
        protocol.EXIT_SWITCHED_BACK,
        ("health", f"{DEAD_URL} did not answer in time"),
        [1, 2],
    )


def test_the_monitor_is_started_when_not_running_and_reloaded_into_the_previous_release(
    host: BashHost,
) -> None:
    """A python3 stub stands in for the monitor: its reload says "not running" once."""
    host.release(1, live=True)
    host.release(2)
    calls = host.base / "monitor-calls"
    host.stub(
        "python3",
        f'echo "$2 $6" >>{shlex.quote(str(calls))}\n'
        f'if [ "$2" = reload ] && [ ! -e {shlex.quote(str(calls))}.once ]; then\n'
        f"  : >{shlex.quote(str(calls))}.once; exit {protocol.MONITOR_NOT_RUNNING}\nfi\n",
    )
    settings = {
        "restart": "monitor",
        "app": "python3 app.py",
        "listen": "127.0.0.1:3000",
        "health": DEAD_URL,
        "health_timeout": "0",
    }
    result = host.run(going_live(host, 2, **settings), **settings)
    said = calls.read_text(encoding="utf-8").splitlines()
    assert (result.status, result.failure, said) == (
        protocol.EXIT_SWITCHED_BACK,
        ("health", f"{DEAD_URL} did not answer in time"),
        ["reload 70", "start 40", "reload 70"],
    )
    assert host.link(host.current) == f"releases/{release_id(1)}"
