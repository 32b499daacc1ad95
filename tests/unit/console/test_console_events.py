"""``--log-format json``: the console's calls become one JSON object per line, on stderr and in the log.

A deploy's calls are fed to a Console in json mode with fake clocks: every stderr line parses as
one JSON object, in the order of the calls, a step's ``step_done`` when the next step begins or
the host ends; secrets are masked and control characters escaped (the line stays printable ASCII
and parses back to the exact text); the local log holds the same lines after its ``run`` event.
"""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pushdeploy import __version__
from pushdeploy.cli import logs
from pushdeploy.config.secrets import Masker
from pushdeploy.console import Console
from pushdeploy.console.logbook import Logbook
from pushdeploy.remote.report import DeployReport, HostReport, StepTime

START = datetime(2026, 11, 30, 7, 41, 2, 123456, tzinfo=UTC)
HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\x08e\x00f\x7fg\x9bh\u202ei\u2066j\u2028k\udc80l"
SECRET = "hunter2-token"


def make(verbosity: int = 1, **options: Any) -> tuple[Console, io.StringIO, io.StringIO]:
    """A json-mode console whose monotonic clock reads 0.0, 0.5, 1.0, ... and whose wall clock
    is START at every reading."""
    out, err = io.StringIO(), io.StringIO()
    ticks = (n / 2 for n in itertools.count())
    console = Console(
        out,
        err,
        verbosity=verbosity,
        color=False,
        log_format="json",
        clock=lambda: next(ticks),
        now=lambda: START,
        **options,
    )
    console.environment = "production"
    return console, out, err


def events(err: io.StringIO) -> list[dict[str, Any]]:
    """Each line of stderr as the object it must be."""
    parsed = [json.loads(line) for line in err.getvalue().splitlines()]
    assert all(isinstance(event, dict) for event in parsed)
    return parsed


def deploy(console: Console, host: str = "web1") -> None:
    """What a one-host deploy says to the console: the session records each marker, then shows it."""
    console.start("deploy", [host])
    for kind, text in [("step", "fetch"), ("output", "building"), ("step", "build")]:
        console.record(host, kind, text)
        if kind == "step":
            console.step(host, text)
        else:
            console.remote_output(host, text)
    console.record(host, "value", "release 20261130T074102Z-3f2a9c1")
    console.record(host, "warn", "disk is 91% full")
    console.warn(f"{host}: disk is 91% full")
    report = HostReport(host, "ok", 0, release="20261130T074102Z-3f2a9c1", seconds=1.5)
    console.host_done(report)
    console.finish(DeployReport.of("deploy", "production", [report], seconds=1.6))


def test_a_deploy_is_a_stream_of_events_in_order_each_one_json_line() -> None:
    console, out, err = make()
    deploy(console)
    time = "2026-11-30T07:41:02.123Z"
    assert [
        {
            "event": "start",
            "command": "deploy",
            "environment": "production",
            "hosts": ["web1"],
            "time": time,
        },
        {"event": "step", "host": "web1", "step": "fetch", "time": time},
        {"event": "output", "host": "web1", "line": "building", "time": time},
        {"event": "step_done", "host": "web1", "step": "fetch", "seconds": 0.5, "time": time},
        {"event": "step", "host": "web1", "step": "build", "time": time},
        {"event": "warning", "host": "web1", "message": "disk is 91% full", "time": time},
        {"event": "step_done", "host": "web1", "step": "build", "seconds": 0.5, "time": time},
        {
            "event": "host_done",
            "host": "web1",
            "result": "ok",
            "status": 0,
            "release": "20261130T074102Z-3f2a9c1",
            "previous": None,
            "seconds": 1.5,
            "failed_step": None,
            "failure": None,
            "time": time,
        },
    ] == events(err)[:-1]
    result = events(err)[-1]
    expected = DeployReport.of("deploy", "production", [], seconds=1.6).to_json()
    assert (result["event"], result["outcome"], result["environment"]) == (
        "result",
        "ok",
        "production",
    )
    assert set(expected) | {"event", "time"} == set(result)
    assert out.getvalue().startswith("deployed 20261130T074102Z-3f2a9c1 to 1 host")


@pytest.mark.parametrize("verbosity", [0, 1, 2], ids=["-q", "default", "-v"])
def test_every_event_is_printed_whatever_the_verbosity(verbosity: int) -> None:
    console, _, err = make(verbosity)
    deploy(console)
    assert len(events(err)) == 9


def test_a_call_that_shows_no_recorded_marker_is_an_event_of_its_own() -> None:
    """Only the session's showing of what it just recorded is dropped, once."""
    console, _, err = make()
    console.record("web1", "output", "migrating 3")
    console.info("web1 migrate │ migrating 3")  # the session's way of showing a migration
    console.info("web1 migrate │ migrating 3")  # said again: a new event
    console.step("web2", "fetch")
    console.remote_output("web2", "hello")
    console.warn("no notify target", host="web2")
    console.warn("rolling back web1")
    assert [
        (e["event"], e.get("host"), e.get("line") or e.get("message") or e.get("step"))
        for e in events(err)
    ] == [
        ("output", "web1", "migrating 3"),
        ("info", None, "web1 migrate │ migrating 3"),
        ("step", "web2", "fetch"),
        ("output", "web2", "hello"),
        ("warning", "web2", "no notify target"),
        ("warning", None, "rolling back web1"),
    ]
    assert "host" not in events(err)[-1]


def test_every_step_gets_its_step_done_even_when_an_error_ends_the_run() -> None:
    console, out, err = make()
    console.start("deploy", ["web1", "web2"])
    for host in ["web1", "web2"]:
        console.record(host, "step", "build")
    console.record("web1", "output", "error: missing file")
    console.host_done(HostReport("web1", "failed", 1, failed_step="build", failure="exit 1"))
    console.error(
        "web1: build failed", "see its output above", ["error: missing file"], exit_status=6
    )
    said = events(err)
    done = [(e["host"], e["step"]) for e in said if e["event"] == "step_done"]
    assert sorted(done) == [("web1", "build"), ("web2", "build")]
    assert said[-1] == {
        "event": "error",
        "message": "web1: build failed",
        "hint": "see its output above",
        "exit_status": 6,
        "log": None,
        "details": ["error: missing file"],
        "time": "2026-11-30T07:41:02.123Z",
    }
    assert out.getvalue() == ""


def test_a_failed_command_gives_its_result_then_its_error() -> None:
    console, _, err = make(json_output=True)
    host = HostReport("web1", "failed", 1, failed_step="build", steps=(StepTime("build", 1.0),))
    report = DeployReport.of("deploy", "production", [host]).ended(6, "web1: build failed")
    console.finish(report)
    console.error("web1: build failed", exit_status=6)
    said = events(err)
    assert [(e["event"], e.get("outcome"), e["exit_status"]) for e in said] == [
        ("result", "failed", 6),
        ("error", None, 6),
    ]


def test_secrets_are_masked_in_every_event_as_in_text() -> None:
    console, out, err = make(json_output=True)
    console.mask([SECRET])
    console.start("deploy", [f"deploy@{SECRET}"])
    console.record("web1", "output", f"token={SECRET}")
    console.warn(f"the token {SECRET} expires")
    report = HostReport("web1", "failed", 1, failure=f"denied {SECRET}", output=(SECRET,))
    console.finish(DeployReport.of("deploy", "production", [report]).ended(6, SECRET))
    console.error(f"failed: {SECRET}", hint=SECRET, details=[SECRET], exit_status=6)
    assert (SECRET in err.getvalue(), SECRET in out.getvalue()) == (False, False)  # --json too
    assert events(err)[1]["line"] == "token=***"


def test_control_characters_are_json_escapes_and_parse_back_exactly() -> None:
    console, _, err = make()
    console.record(HOSTILE, "output", HOSTILE)
    console.error(HOSTILE, hint=HOSTILE, details=[HOSTILE], exit_status=6)
    text = err.getvalue()
    assert all(" " <= c <= "~" for c in text.replace("\n", "")), repr(text)
    assert text.count("\n") == 2
    first, last = events(err)
    assert (first["host"], first["line"], last["message"], last["details"]) == (
        HOSTILE,
        HOSTILE,
        HOSTILE,
        [HOSTILE],
    )


def test_text_mode_prints_no_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, color=False)
    console.warn("careful")
    assert err.getvalue() == "pushdeploy: warning: careful\n"


# --- the local log -------------------------------------------------------------------------


def json_book(tmp_path: Path, mask: Masker | None = None) -> Logbook:
    environ = {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)}
    ticks = (START + n * timedelta(seconds=1) for n in itertools.count())
    argv = ["prod", "deploy", "main"]
    return Logbook.open(
        "prod",
        "deploy",
        argv,
        mask=mask or Masker(),
        environ=environ,
        clock=lambda: next(ticks),
        log_format="json",
    )


def log_lines(log: Logbook) -> list[str]:
    log.close()
    assert log.path is not None
    return log.path.read_text(encoding="utf-8").splitlines()


def test_the_log_holds_a_run_event_then_the_same_lines_as_stderr(tmp_path: Path) -> None:
    console, _, err = make()
    console.log = json_book(tmp_path)
    deploy(console)
    written = log_lines(console.log)
    assert {
        "event": "run",
        "pushdeploy": __version__,
        "argv": ["prod", "deploy", "main"],
        "environment": "prod",
        "time": "2026-11-30T07:41:03.123Z",
    } == json.loads(written[0])
    assert written[1:] == err.getvalue().splitlines()
    assert events(err)[-1]["log"] == str(console.log.path)


def test_the_log_masks_and_escapes_what_it_is_given(tmp_path: Path) -> None:
    log = json_book(tmp_path, Masker([SECRET]))
    log.write_event({"event": "output", "host": "web1", "line": f"{SECRET} {HOSTILE}"})
    line = log_lines(log)[1]
    assert (SECRET in line, json.loads(line)["line"]) == (False, f"*** {HOSTILE}")


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ([{"event": "result", "exit_status": 0}], "ok"),
        ([{"event": "result", "exit_status": 6}], "failed"),
        ([{"event": "result", "exit_status": 6}, {"event": "error", "message": "x"}], "failed"),
        ([{"event": "error", "message": "interrupted"}], "interrupted"),
        ([{"event": "step", "host": "web1", "step": "build"}], "unfinished"),
        ([{"event": "output", "host": "web1", "line": '{"event": "result"}'}], "unfinished"),
    ],
    ids=["ok", "failed-result", "error", "interrupted", "unfinished", "output-is-data"],
)
def test_log_says_how_a_json_logged_run_ended(
    tmp_path: Path, last: list[dict[str, Any]], expected: str
) -> None:
    log = json_book(tmp_path)
    for event in last:
        log.write_event(event)
    log.close()
    environ = {"XDG_STATE_HOME": str(tmp_path / "state")}
    assert [expected] == [summary.result for summary in logs.recent("prod", environ)]
