"""The console shows server text with its controls escaped, progress on stderr, results on stdout.

Terminal control bytes from a server show as visible escapes (``raw`` is exact); a command across
hosts is one line per ended step off a terminal, a live view and a summary on one, the headline
(or --json's report) on stdout.
"""

from __future__ import annotations

import io
import json

import pytest

from pushdeploy.console import Console, visible
from pushdeploy.remote.report import DeployReport, HostReport
from tests.support.pty import ESCAPES

HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\x08e\x00f\x7fg\x9bh\u202ei\u2066j\tk"
SHOWN = "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x0dd\\x08e\\x00f\\x7fg\\x9bh\\u202ei\\u2066j\tk"


def make() -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(out, err, verbosity=2, color=False), out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, tabs\tstay", "plain text, tabs\tstay"),
        (HOSTILE, SHOWN),
        ("line1\nline2", "line1\\x0aline2"),
        (
            "\x85 next line, \u200f mark, \u061c arabic mark",
            "\\x85 next line, \\u200f mark, \\u061c arabic mark",
        ),
        ("ünïcödé and emoji 🚀 stay", "ünïcödé and emoji 🚀 stay"),
    ],
)
def test_visible_escapes_c0_del_c1_and_bidi_controls(text: str, expected: str) -> None:
    assert visible(text) == expected


def test_visible_can_keep_newlines_for_multi_line_diagnostics() -> None:
    assert visible("one\x1b\ntwo", newlines=True) == "one\\x1b\ntwo"


def control_free(text: str) -> bool:
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)


@pytest.mark.parametrize(
    "say",
    [
        lambda c, t: c.step("host", t),
        lambda c, t: c.step(t, "fetch"),
        lambda c, t: c.info(t),
        lambda c, t: c.remote_output("host", t),
        lambda c, t: c.warn(t),
        lambda c, t: c.error(t),
        lambda c, t: c.error("failed", hint=t),
        lambda c, t: c.error("failed", details=[t]),
        lambda c, t: c.debug(t),
        lambda c, t: c.result(t),
        lambda c, t: c.table(["release", "by"], [[t, t]]),
        lambda c, t: (c.start("deploy", [t]), c.step(t, t), c.step(t, "next")),
        lambda c, t: (c.start("deploy", [t]), c.host_done(HostReport(t, "ok", 0, release=t))),
        lambda c, t: c.finish(
            DeployReport.of("deploy", t, [HostReport(t, "failed", 1, output=(t,))], exit_status=6)
        ),
        lambda c, t: c.finish(DeployReport.of("deploy", t, [HostReport(t, "ok", 0, ref=t, sha=t)])),
        lambda c, t: c.error("failed", log=t),
    ],
    ids=[
        "step",
        "step-host",
        "info",
        "remote_output",
        "warn",
        "error",
        "error-hint",
        "error-details",
        "debug",
        "result",
        "table",
        "progress-step",
        "host_done",
        "finish-failing-output",
        "finish-headline",
        "error-log",
    ],
)
def test_every_printing_method_but_raw_neutralises_server_text(say: object) -> None:
    console, out, err = make()
    say(console, HOSTILE)  # type: ignore[operator]
    printed = out.getvalue() + err.getvalue()
    assert control_free(printed), repr(printed)
    assert "\u202e" not in printed and "\u2066" not in printed
    assert "\\x1b]0;pwned" in printed


def test_rich_markup_in_server_text_is_printed_not_interpreted() -> None:
    console, out, _ = make()
    console.result("[bold red]fake[/bold red] \\[x]")
    assert out.getvalue() == "[bold red]fake[/bold red] \\[x]\n"


def test_raw_prints_exactly_what_it_is_given() -> None:
    """--dry-run scripts and exec output pass through unchanged, as ssh would pass them."""
    console, out, _ = make()
    console.raw(HOSTILE)
    assert out.getvalue() == HOSTILE + "\n"


def test_json_output_escapes_controls_by_itself() -> None:
    console, out, _ = make()
    console.data({"who": "\x1b[2J"})
    assert "\x1b" not in out.getvalue()
    assert "\\u001b[2J" in out.getvalue()


# ---- a command across hosts: start, step, host_done, finish ----


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, as rich asks (``isatty``)."""

    def isatty(self) -> bool:
        return True


RELEASE = "20261130T074102Z-3f2a9c1"


def ok(host: str, seconds: float = 2.41) -> HostReport:
    return HostReport(host, "ok", 0, ref="main", sha="3f2a9c1d0e", release=RELEASE, seconds=seconds)


def failed(host: str, output: tuple[str, ...] = ("npm ERR! missing script: build",)) -> HostReport:
    return HostReport(
        host, "failed", 1, failed_step="build", failure="exit 1", seconds=1.5, output=output
    )


def deployed(*hosts: HostReport) -> DeployReport:
    statuses = {"ok": 0, "failed": 6}
    status = max(statuses.get(h.result, 6) for h in hosts)
    outcome = "ok" if status == 0 else "failed"
    return DeployReport.of(
        "deploy", "production", list(hosts), outcome=outcome, exit_status=status, seconds=2.4
    )


def plain(
    verbosity: int = 1, json_output: bool = False
) -> tuple[Console, Clock, io.StringIO, io.StringIO]:
    out, err, clock = io.StringIO(), io.StringIO(), Clock()
    console = Console(
        out, err, verbosity=verbosity, color=False, json_output=json_output, clock=clock
    )
    return console, clock, out, err


def test_off_a_terminal_each_step_is_a_line_when_it_ends_with_its_duration() -> None:
    """Hosts are aligned to the widest host named at start, step names padded."""
    console, clock, _, err = plain()
    console.start("deploy", ["web1.example.com", "db1"])
    console.step("db1", "fetch")
    clock.now += 0.42
    console.step("db1", "build")
    clock.now += 1.5
    console.host_done(ok("db1"))
    assert [
        "db1               fetch         0.42 s",
        "db1               build         1.50 s",
        f"db1               ✓ ok {RELEASE}  1.92 s",
    ] == err.getvalue().splitlines()


def test_a_failed_host_says_where_and_why() -> None:
    console, clock, _, err = plain()
    console.start("deploy", ["web1"])
    console.step("web1", "build")
    clock.now += 3
    console.host_done(failed("web1"))
    assert err.getvalue().splitlines() == [
        "web1  build         3.00 s",
        "web1  ✗ failed at build: exit 1  3.00 s",
    ]


def test_a_host_that_never_began_a_step_shows_the_reports_time() -> None:
    console, _, _, err = plain()
    console.start("deploy", ["web1"])
    console.host_done(HostReport("web1", "stopped", 80, seconds=0.7))
    assert err.getvalue() == "web1  – stopped  0.70 s\n"


def test_without_start_a_step_is_announced_as_it_begins() -> None:
    """Commands that do not call start() print what they printed before."""
    console, clock, _, err = plain()
    console.step("web1", "fetch")
    clock.now += 1
    console.host_done(ok("web1"))
    assert err.getvalue() == "web1 › fetch\n"


def test_finish_prints_the_headline_on_stdout() -> None:
    console, _, out, err = plain()
    console.start("deploy", ["web1", "web2"])
    console.finish(deployed(ok("web1"), ok("web2")))
    assert (out.getvalue(), err.getvalue()) == ("deployed main (3f2a9c1) to 2 hosts in 2.4 s\n", "")


def test_quiet_prints_only_the_headline() -> None:
    console, clock, out, err = plain(verbosity=0)
    console.start("deploy", ["web1"])
    console.step("web1", "fetch")
    clock.now += 1
    console.host_done(failed("web1"))
    console.finish(deployed(failed("web1")))
    assert (out.getvalue(), err.getvalue()) == ("deploy failed in 2.4 s: 1 failed\n", "")


def test_json_prints_the_report_as_one_object_and_keeps_progress_on_stderr() -> None:
    console, clock, out, err = plain(json_output=True)
    report = deployed(ok("web1"))
    console.start("deploy", ["web1"])
    console.step("web1", "fetch")
    clock.now += 0.5
    console.host_done(ok("web1"))
    console.finish(report)
    assert json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n" == out.getvalue()
    assert err.getvalue().splitlines(keepends=True)[0] == "web1  fetch         0.50 s\n"


def test_a_failure_shows_the_failing_hosts_last_output_first_and_not_twice() -> None:
    """finish() shows the output; the error's details are those lines, so error() skips them."""
    console, _, out, err = plain()
    lines = ("compiling", "npm ERR! missing script: build")
    report = deployed(ok("web1"), failed("web2", lines))
    console.start("deploy", ["web1", "web2"])
    console.finish(report)
    console.error("web2: build failed: exit 1", "fix the build", list(lines), log="logs/1.log")
    assert err.getvalue().splitlines() == [
        "✗ web2 failed at build, its last output:",
        "  │ compiling",
        "  │ npm ERR! missing script: build",
        "pushdeploy: error: web2: build failed: exit 1",
        "hint: fix the build",
        "log: logs/1.log",
    ]
    assert out.getvalue() == "deploy failed in 2.4 s: 1 ok, 1 failed\n"


def test_error_details_finish_did_not_show_are_printed() -> None:
    console, _, _, err = plain()
    console.error("interrupted", details=["web1: stopped waiting at step build"])
    assert err.getvalue().splitlines() == [
        "  │ web1: stopped waiting at step build",
        "pushdeploy: error: interrupted",
    ]


def live() -> tuple[Console, Clock, Terminal, Terminal]:
    out, err, clock = Terminal(), Terminal(), Clock()
    return Console(out, err, color=False, clock=clock), clock, out, err


def test_on_a_terminal_the_live_view_ends_in_a_summary_table() -> None:
    console, clock, out, err = live()
    console.start("deploy", ["web1", "web2"])
    console.step("web1", "fetch")
    clock.now += 2.41
    console.host_done(ok("web1"))
    console.finish(deployed(ok("web1"), ok("web2", 2.0)))
    shown = err.getvalue()
    assert "\x1b[1A" in shown  # redrawn in place: it was live
    text = ESCAPES.sub("", shown)
    summary = text[text.index("host  release") :].splitlines()
    assert [
        "host  release                   result  time",
        f"web1  {RELEASE}  ✓ ok    2.41 s",
        f"web2  {RELEASE}  ✓ ok    2.00 s",
    ] == summary
    assert out.getvalue() == "deployed main (3f2a9c1) to 2 hosts in 2.4 s\n"


def test_the_live_view_shows_server_text_with_its_controls_escaped() -> None:
    console, _, _, err = live()
    console.start("deploy", ["web1"])
    console.step("web1", HOSTILE)
    console.error("interrupted")
    shown = err.getvalue()
    assert "\\x1b]0;pwned" in shown
    assert "\x1b]0;pwned" not in shown and "\x1b[2J" not in shown and "\u202e" not in shown


def test_results_printed_while_the_live_view_runs_go_above_it_on_the_same_screen() -> None:
    console, _, out, err = live()
    console.start("exec", ["web1"])
    console.result("a result")
    console.finish(deployed(ok("web1")))
    assert "a result" in err.getvalue()
    assert "a result" not in out.getvalue()


def test_steps_after_the_command_ended_are_not_shown() -> None:
    """A host left behind by a second Ctrl-C says nothing more under the error."""
    console, _, _, err = plain()
    console.start("deploy", ["web1"])
    console.error("interrupted")
    console.step("web1", "build")
    assert err.getvalue() == "pushdeploy: error: interrupted\n"


def test_verbose_also_says_when_a_step_begins_so_its_output_sits_under_it() -> None:
    console, clock, _, err = plain(verbosity=2)
    console.start("deploy", ["web1"])
    console.step("web1", "build")
    console.remote_output("web1", "compiling")
    clock.now += 2
    console.step("web1", "switch")
    assert err.getvalue().splitlines() == [
        "web1 › build",
        "web1 │ compiling",
        "web1  build         2.00 s",
        "web1 › switch",
    ]
