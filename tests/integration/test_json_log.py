"""``--log-format json`` on real deploys: stderr is one JSON object per event, the local log the same.

Each deploy runs for real (``host = local`` and OpenSSH on 127.0.0.1; a fleet of three servers for
the rollout): every stderr line parses as an object, each host's ``step`` has its ``step_done``
before its ``host_done``, a failing build's output lines come before the ``error`` event and its
exit status 6, and the run's local log holds the very same lines after its ``run`` event.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.integration.conftest import Project
from tests.support.cli import Result
from tests.support.fleet import Fleet

JSON = ("--log-format", "json")


def events(result: Result) -> list[dict[str, Any]]:
    """Every stderr line as the JSON object it must be."""
    said = [json.loads(line) for line in result.stderr.splitlines()]
    assert all(isinstance(event, dict) and "event" in event for event in said), result.stderr
    return said


def steps_pair_up(said: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each host's steps, in order, checked: a step is done before the next begins on that host
    and before the host is done; none is left open. Returns host: its steps."""
    opened: dict[str, str | None] = defaultdict(lambda: None)
    steps: dict[str, list[str]] = defaultdict(list)
    for event in said:
        host = event.get("host", "")
        if event["event"] == "step":
            assert opened[host] is None, (host, event)
            opened[host] = event["step"]
            steps[host].append(event["step"])
        elif event["event"] == "step_done":
            assert (opened[host], event["seconds"] >= 0) == (event["step"], True)
            opened[host] = None
        elif event["event"] == "host_done":
            assert opened[host] is None, (host, event)
    assert {h: s for h, s in opened.items() if s is not None} == {}
    return dict(steps)


def log_lines(result: Result) -> list[str]:
    """The lines of the run's local log (its path is in the result event)."""
    path = next(e["log"] for e in events(result) if e["event"] == "result")
    return Path(path).read_text(encoding="utf-8").splitlines()


def logged_as_said(result: Result) -> tuple[str, bool, tuple[str, int]]:
    """The local log of a --log-format json run: its ``run`` event, then stderr's lines as they
    were, then its ``exit`` event with the exit status."""
    written = log_lines(result)
    last = json.loads(written[-1])
    same = written[1:-1] == result.stderr.splitlines()
    return json.loads(written[0])["event"], same, (last["event"], last["exit_status"])


def test_a_deploy_is_a_stream_of_json_events_and_its_log_the_same_lines(
    ready_project: Project,
) -> None:
    p = ready_project
    result = p.ok(*JSON, "app")
    said = events(result)
    kinds = [e["event"] for e in said]
    assert (kinds[0], kinds[-2:]) == ("start", ["host_done", "result"])
    assert (said[0]["command"], said[0]["environment"], said[0]["hosts"]) == (
        "deploy",
        "app",
        [p.host_spec],
    )
    steps = steps_pair_up(said)
    assert list(steps) == [p.host_spec]
    assert {"lock", "fetch", "restart"} <= set(steps[p.host_spec])
    assert (said[-2]["result"], said[-2]["release"]) == ("ok", p.live_release)
    assert (said[-1]["outcome"], said[-1]["release"]) == ("ok", p.live_release)
    assert all(e["time"].endswith("Z") for e in said)
    assert result.stdout.startswith("deployed main (")  # results stay on stdout
    written = log_lines(result)
    assert logged_as_said(result) == ("run", True, ("exit", 0))
    listed = json.loads(p.ok("--json", "app", "log").stdout)
    assert (listed[-1]["number"], listed[-1]["result"]) == (1, "ok")
    assert p.ok("app", "log", "1").stdout.splitlines() == written


def test_a_failing_build_gives_its_output_then_an_error_with_exit_status_6(
    ready_project: Project,
) -> None:
    p = ready_project
    p.configure(build="echo building\necho 'half \x1b[2J' >&2\nfalse")
    result = p.run(*JSON, "-q", "app")
    assert result.status == 6, result.stderr
    said = events(result)
    steps_pair_up(said)
    lines = [e["line"] for e in said if e["event"] == "output"]
    assert lines[-2:] == ["building", "half \x1b[2J"]
    assert "\x1b" not in result.stderr
    assert [e["event"] for e in said[-3:]] == ["host_done", "result", "error"]
    error = said[-1]
    assert (error["exit_status"], "build" in error["message"], error["hint"] is not None) == (
        6,
        True,
        True,
    )
    assert error["log"] == said[-2]["log"] and os.path.isfile(error["log"])
    assert logged_as_said(result) == ("run", True, ("exit", 6))
    listed = json.loads(p.ok("--json", "app", "log").stdout)
    assert listed[-1]["result"] == "failed"


def test_a_fleet_rollback_keeps_every_host_s_steps_paired_and_shows_output_once(
    fleet: Fleet,
) -> None:
    p = fleet.project
    p.ok("app")
    p.configure(
        batch="1",
        test='[ ! -e "$HOME/fail-here" ]',
        migrate="echo said-by-migrate",
    )
    (fleet.servers[1].server_home / "fail-here").touch()
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run(*JSON, "app")
    assert result.status == 7, result.stderr
    said = events(result)
    steps = steps_pair_up(said)
    assert set(steps) == set(fleet.specs)
    migrated = [e for e in said if e["event"] in {"output", "info"} and "said-by-migrate" in str(e)]
    assert [(e["event"], e["host"]) for e in migrated] == [("output", fleet.specs[0])]
    ended = [(e["host"], e["result"]) for e in said if e["event"] == "host_done"]
    assert (fleet.specs[0], "rolled-back") == ended[-1]
    assert [e["event"] for e in said[-2:]] == ["result", "error"]
    assert said[-1]["exit_status"] == 7
    assert logged_as_said(result) == ("run", True, ("exit", 7))
