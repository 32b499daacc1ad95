"""What a fleet deploy on three real OpenSSH servers shows: --json, -q, step lines, logs, a terminal.

The console's own tests (tests/unit/test_console*.py) drive it with made-up reports; these run
the real command against real servers (tests/support/fleet.py) and read what it printed: the
report object of docs/json.md, the headline alone, one timed line per step per host off a
terminal, the local log of the run, and the live view on a real pseudo-terminal.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.support.cli import Result
from tests.support.fleet import Fleet
from tests.support.pty import PtyRun, run_in_pty

ROOT = Path(__file__).resolve().parents[2]
# A deploy without hooks or build, as each host's script steps through it.
STEPS = ["lock", "fetch", "resolve", "release", "switch", "restart", "prune"]
# docs/json.md: the fields of the report and of each host.
REPORT_FIELDS = {"command", "environment", "outcome", "exit_status", "ref", "sha", "release"}
REPORT_FIELDS |= {"seconds", "log", "error", "hint", "hosts"}
HOST_FIELDS = {"host", "result", "status", "ref", "sha", "release", "previous", "seconds"}
HOST_FIELDS |= {"steps", "failed_step", "failure", "warnings", "output"}
BUILD_FAILS_ON_HOST_2 = '[ ! -e "$HOME/fail-here" ] || { echo build broke here; exit 1; }'
CURSOR_UP = "\x1b[1A"


def break_the_build_on_host_2(fleet: Fleet) -> None:
    fleet.project.configure(build=BUILD_FAILS_ON_HOST_2)
    (fleet.servers[1].server_home / "fail-here").touch()
    fleet.project.origin.commit({"VERSION": "v2\n"})


def error_and_hint(result: Result) -> tuple[str, str]:
    lines = result.stderr.splitlines()
    at = lines.index(result.error_lines[0])
    return lines[at].removeprefix("pushdeploy: error: "), lines[at + 1].removeprefix("hint: ")


def test_json_prints_one_report_object_as_docs_json_md_describes(fleet: Fleet) -> None:
    p = fleet.project
    result = p.ok("--json", "app")
    report = json.loads(result.stdout)  # one object, nothing after it
    assert set(report) == REPORT_FIELDS
    said = {k: report[k] for k in ("command", "environment", "outcome", "exit_status", "ref")}
    assert said == {"command": "deploy", "environment": "app", "outcome": "ok"} | {
        "exit_status": 0,
        "ref": "main",
    }
    assert (p.origin.sha("main"), fleet.live(0), None, None) == (
        report["sha"],
        report["release"],
        report["error"],
        report["hint"],
    )
    assert Path(report["log"]).is_file()
    assert fleet.specs == [host["host"] for host in report["hosts"]]
    for host in report["hosts"]:
        assert set(host) == HOST_FIELDS
        assert ("ok", 0, fleet.live(0)) == (host["result"], host["status"], host["release"])
        assert [step["name"] for step in host["steps"]] == STEPS
        assert all(isinstance(step["seconds"], float | int) for step in host["steps"])
        assert host["seconds"] >= sum(step["seconds"] for step in host["steps"]) - 0.01


def test_json_is_printed_on_a_failed_deploy_too_with_its_error_and_hint(fleet: Fleet) -> None:
    break_the_build_on_host_2(fleet)
    result = fleet.project.run("--json", "app")
    assert result.status == 6
    report = json.loads(result.stdout)
    assert (report["outcome"], report["exit_status"]) == ("failed", 6)
    assert error_and_hint(result) == (report["error"], report["hint"])
    assert [host["result"] for host in report["hosts"]] == ["stopped", "failed", "stopped"]
    failing = report["hosts"][1]
    assert (failing["failed_step"], failing["output"]) == ("build", ["build broke here"])


def test_a_host_stopped_because_another_failed_is_not_said_to_be_interrupted(
    fleet: Fleet,
) -> None:
    break_the_build_on_host_2(fleet)
    report = json.loads(fleet.project.run("--json", "app").stdout)
    stopped = [report["hosts"][0], report["hosts"][2]]
    assert [(host["result"], host["failed_step"]) for host in stopped] == [("stopped", None)] * 2
    assert all("another host failed" in host["failure"] for host in stopped), stopped


def test_quiet_prints_the_headline_alone(fleet: Fleet) -> None:
    result = fleet.project.ok("-q", "app")
    sha = fleet.project.origin.sha("main")[:7]
    assert re.fullmatch(rf"deployed main \({sha}\) to 3 hosts in \d+\.\d s\n", result.stdout)
    assert result.stderr == ""


def test_off_a_terminal_each_step_of_each_host_gets_one_aligned_timed_line(fleet: Fleet) -> None:
    result = fleet.project.ok("app")
    width = max(len(spec) for spec in fleet.specs) + 2  # the host column and two blanks
    lines = result.stderr.splitlines()
    for spec in fleet.specs:
        prefix = spec.ljust(width)
        own = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
        steps = [re.fullmatch(r"([a-z-]+) +\d+\.\d\d s", line) for line in own[:-1]]
        assert [step[1] for step in steps if step] == STEPS
        assert re.fullmatch(rf"✓ ok {fleet.live(0)}  \d+\.\d\d s", own[-1])
    assert len(lines) == 3 * (len(STEPS) + 1), "nothing but the step and result lines"


def test_off_a_terminal_a_rolled_back_host_ends_on_a_line_saying_so(
    fleet: Fleet,
) -> None:
    p = fleet.project
    p.ok("app")
    p.configure(batch="1", test='[ ! -e "$HOME/fail-here" ]')
    (fleet.servers[1].server_home / "fail-here").touch()
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 7
    prefix = fleet.specs[0].ljust(max(len(spec) for spec in fleet.specs) + 2)
    own = [line[len(prefix) :] for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert own[-2].startswith("✓ ok"), "it went live and passed its checks"
    assert own[-1].startswith("↩ rolled-back"), "then it was rolled back, and says so last"


def test_the_local_log_lists_each_run_and_holds_every_hosts_steps_and_hook_output(
    fleet: Fleet,
) -> None:
    p = fleet.project
    p.configure(post_deploy="echo said-by-post-deploy")
    p.ok("app")
    listing = p.ok("app", "log").stdout.splitlines()
    assert listing[0].split() == ["#", "time", "command", "result", "path"]
    latest = listing[-1].split()
    assert [latest[0], latest[4], latest[5]] == ["1", "deploy", "ok"]
    log = p.ok("app", "log", "1").stdout
    assert Path(latest[-1]).read_text() == log
    for spec in fleet.specs:
        assert re.search(rf"^\S+Z {re.escape(spec)} step fetch$", log, re.MULTILINE)
        assert re.search(rf"^\S+Z {re.escape(spec)} output said-by-post-deploy$", log, re.MULTILINE)


def test_a_failed_deploy_names_its_log_which_holds_the_failure(fleet: Fleet) -> None:
    p = fleet.project
    break_the_build_on_host_2(fleet)
    result = p.run("app")
    assert result.status == 6
    said = [line for line in result.stderr.splitlines() if line.startswith("log: ")]
    assert len(said) == 1
    log = Path(said[0].removeprefix("log: ")).read_text()
    assert f"{fleet.specs[1]} output build broke here" in log
    assert f"error {error_and_hint(result)[0]}" in log
    assert p.ok("app", "log").stdout.splitlines()[-1].split()[5] == "failed"


def in_pty(fleet: Fleet) -> PtyRun:
    p = fleet.project
    argv = [sys.executable, "-m", "pushdeploy", "-c", str(p.conf), "-C", str(p.base), "app"]
    return run_in_pty(argv, cwd=ROOT, columns=120, timeout=30)


def summary_rows(text: str) -> list[list[str]]:
    header = re.search(r"^host +release +result +time$", text, re.MULTILINE)
    assert header is not None, text
    return [line.split() for line in text[header.end() :].splitlines()[1:4]]


def test_on_a_terminal_the_hosts_are_drawn_live_then_summed_up(fleet: Fleet) -> None:
    run = in_pty(fleet)
    assert run.status == 0, run.text
    assert CURSOR_UP in run.screen, "the rows were redrawn in place"
    text = run.text
    release, sha = fleet.live(0), fleet.project.origin.sha("main")[:7]
    assert "deploy on 3 hosts" in text
    for spec in fleet.specs:
        assert re.search(rf"{re.escape(spec)} +✓ ok {release}", text), "its live row, done"
    expected = [[spec, release, "✓", "ok"] for spec in fleet.specs]
    assert expected == [row[:4] for row in summary_rows(text)]
    assert re.search(rf"\ndeployed main \({sha}\) to 3 hosts in \d+\.\d s\n", text)


def test_on_a_terminal_a_failing_hosts_output_comes_before_the_summary_and_the_error(
    fleet: Fleet,
) -> None:
    break_the_build_on_host_2(fleet)
    run = in_pty(fleet)
    assert run.status == 6
    text = run.text
    output = text.rindex("│ build broke here")
    summary = text.index("\nhost ")
    error = text.index(f"pushdeploy: error: {fleet.specs[1]}: build failed")
    assert output < summary < error
    results = [row[2:4] for row in summary_rows(text)]
    assert results == [["–", "stopped"], ["✗", "failed"], ["–", "stopped"]]


def test_on_a_terminal_a_long_result_never_cuts_a_host_name_in_the_live_view(
    fleet: Fleet,
) -> None:
    break_the_build_on_host_2(fleet)
    rows = [
        line
        for line in in_pty(fleet).text.splitlines()
        if line.startswith((f"{fleet.servers[0].user}@", "127."))
    ]
    assert [row for row in rows if not row.startswith(tuple(fleet.specs))] == []
