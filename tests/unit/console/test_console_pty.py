"""On a real terminal the console draws a live view of the hosts, then a summary and the headline.

A child Python process gets a pseudo-terminal as its stderr (tests/support/pty.py), builds a
Console on its own sys.stdout/sys.stderr and drives a three-host deploy through it, as session.py
and deploy.py do; the test reads what the terminal was sent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.support.pty import PtyRun, run_in_pty

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ["web1.example.com", "web2.example.com", "db.example.com"]
CHILD = """
import sys
from pushdeploy.console import Console
from pushdeploy.remote.report import DeployReport, HostReport

hosts = {hosts!r}
console = Console(sys.stdout, sys.stderr)
console.start("deploy", hosts)
for host in hosts:
    console.step(host, "fetch")
    console.step(host, "build")
console.warn("web2.example.com: a warning above the live view")
{ending}
"""
FINISH = """
reports = [
    HostReport(hosts[0], "ok", 0, ref="main", sha="3f2a9c1d", release="20261130T074102Z-3f2a9c1",
               live="20261130T074102Z-3f2a9c1", seconds=2.4),
    HostReport(hosts[1], "failed", 1, ref="main", sha="3f2a9c1d", release="20261130T074102Z-3f2a9c1",
               failed_step="build", failure="npm ci failed", seconds=1.9,
               output=("npm ERR! missing script: build",)),
    HostReport(hosts[2], "stopped", 80, seconds=1.1),
]
for report in reports:
    console.host_done(report)
console.finish(DeployReport.of("deploy", "production", reports, outcome="failed",
                               exit_status=6, seconds=2.4))
"""
INTERRUPT = """
console.error("interrupted", "nothing was changed by this run on a server it had not reached")
"""
CURSOR_UP = "\x1b[1A"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def drive(ending: str, **env: str) -> PtyRun:
    code = CHILD.format(hosts=HOSTS, ending=ending)
    return run_in_pty(
        [sys.executable, "-c", code], env=env, cwd=ROOT, columns=100, stdout_to_pty=False
    )


def test_a_fleet_deploy_is_drawn_live_and_ends_in_a_summary_table_and_headline() -> None:
    run = drive(FINISH)
    assert (run.status, run.stdout) == (0, "deploy failed in 2.4 s: 1 ok, 1 failed, 1 stopped\n")
    assert CURSOR_UP in run.screen, "the rows were redrawn in place"
    text = run.text
    assert "deploy on 3 hosts" in text
    assert re.search(r"web1\.example\.com +. build", text), "a live row: host, spinner, step"
    assert re.search(r"web2\.example\.com +✗ failed at build: npm ci failed", text)
    assert re.search(r"web1\.example\.com +✓ ok 20261130T074102Z-3f2a9c1", text)
    assert "pushdeploy: warning: web2.example.com: a warning above the live view" in text


def test_the_failing_hosts_output_comes_before_the_summary_table() -> None:
    text = drive(FINISH).text
    output = text.index("npm ERR! missing script: build")
    summary = re.search(r"host +release +result +time", text)
    assert summary is not None
    assert output < summary.start()
    rows = text[summary.start() :].splitlines()[1:4]
    expected = [
        ["web1.example.com", "20261130T074102Z-3f2a9c1", "✓", "ok", "2.40", "s"],
        ["web2.example.com", "-", "✗", "failed", "1.90", "s"],  # nothing was live before
        ["db.example.com", "-", "–", "stopped", "1.10", "s"],
    ]
    assert expected == [row.split() for row in rows]


def test_the_terminal_gets_its_cursor_back_when_the_run_ends_in_an_error() -> None:
    """Ctrl-C's path (cli prints ``console.error("interrupted", ...)``) ends the live view."""
    run = drive(INTERRUPT)
    assert HIDE_CURSOR in run.screen
    assert run.screen.rindex(SHOW_CURSOR) > run.screen.rindex(HIDE_CURSOR)
    assert run.text.rstrip().endswith(
        "pushdeploy: error: interrupted\n"
        "hint: nothing was changed by this run on a server it had not reached"
    )


def test_a_dumb_terminal_gets_plain_step_lines_instead_of_a_live_view() -> None:
    run = drive(FINISH, TERM="dumb")
    assert CURSOR_UP not in run.screen
    assert re.search(r"^web1\.example\.com  fetch +\d+\.\d\d s$", run.text, re.MULTILINE)
    assert re.search(r"^web2\.example\.com  ✗ failed at build", run.text, re.MULTILINE)
