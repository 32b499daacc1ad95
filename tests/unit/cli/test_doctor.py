"""The doctor command: how a host's markers become a report, and when it exits 0.

Its script (remote/doctor.py) is tested in tests/unit/remote/test_doctor_script.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pushdeploy.cli import doctor
from pushdeploy.config import deployconf as config
from pushdeploy.config.environment import Environment
from pushdeploy.console import Console
from pushdeploy.errors import ExitStatus, HostKeyError, PushdeployError
from pushdeploy.remote.protocol import LOST, Outcome
from pushdeploy.testing.fakehost import FakeHost
from tests.support.fakefleet import fleet, run


def environment(**keys: str) -> Environment:
    """[production] of a deploy.conf with these keys (underscores become dashes)."""
    lines = ["[production]", "host = app1", "repo = git@x:a.git", "path = /srv/app"]
    lines += [f"{k.replace('_', '-')} = {v}".replace("\n", "\n    ") for k, v in keys.items()]
    ini = config.parse("\n".join(lines) + "\n", "deploy.conf")
    return config.build_environment(
        "production", "deploy.conf", config.effective(ini, "production")
    )


ENV = environment()


def outcome(**values: str) -> Outcome:
    base = {"path": "/usr/bin:/bin", "hook_path": "/usr/bin:/bin", "bash": "5.2", "git": "git 2.39"}
    base |= {"disk": "2048000", "inodes": "100 50", "repo": "yes", "setup": "yes", "agent": "no"}
    return Outcome(0, values=base | values, done=True)


def test_a_healthy_host_has_facts_and_no_problem() -> None:
    report = doctor.read(ENV, outcome())
    assert (report.problems, report.set_up) == ([], True)
    assert "PATH /usr/bin:/bin" in report.facts


def test_a_missing_tool_unreachable_repo_and_full_disk_are_problems() -> None:
    env = environment(build="npm ci")
    found = outcome(repo="no", repo_error="fatal: could not read from remote", disk="12")
    found.lines = {"tool": ["npm"], "problem": ["/srv/app is not writable by deploy"]}
    assert doctor.read(env, found).problems == [
        "npm (named by build) is not found on the hooks' PATH",
        "/srv/app is not writable by deploy",
        "the disk holding /srv/app is full (12 KiB free)",
        "repo git@x:a.git does not answer from the server: fatal: could not read from remote",
    ]


def test_a_script_that_did_not_finish_is_a_problem() -> None:
    broken = Outcome(1, failure="bash: boom")
    assert doctor.read(ENV, broken).problems[0] == "the check did not finish: bash: boom"


def show(env: Environment, found: Outcome) -> tuple[int | str, str]:
    out = io.StringIO()
    try:
        return doctor.show(env, {"app1": found}, Console(out, io.StringIO())), out.getvalue()
    except PushdeployError as exc:
        return f"{exc.status}: {exc.message} / {exc.hint}", out.getvalue()


def test_doctor_exits_0_only_when_a_deploy_can_go_ahead() -> None:
    assert (
        show(ENV, outcome())[0],
        "ready to deploy" in show(ENV, outcome())[1],
    ) == (ExitStatus.OK, True)


def test_problems_exit_6_listing_each_one() -> None:
    status, out = show(ENV, outcome(repo="no", repo_error="denied"))
    assert (
        status
        == "6: doctor: 1 problem(s) on app1 would stop a deploy / fix what is listed above (PROBLEM), then run doctor again"
    )
    assert "app1: PROBLEM: repo git@x:a.git does not answer from the server: denied" in out


def test_a_host_not_set_up_exits_6_naming_the_setup_command() -> None:
    status, _ = show(ENV, outcome(setup="no"))
    assert status == (
        "6: doctor: app1: not set up yet; everything else a deploy needs is there"
        " / run 'pushdeploy ENV setup', then deploy"
    )


# -- the command against the fake fleet: which exit wins --------------------------------------

READY = ["value path /usr/bin:/bin", "value bash 5.2", "value git git version 2.43"]
READY += ["value repo yes", "value disk 10485760", "value setup yes"]


def test_a_host_doctor_cannot_reach_is_exit_4_as_for_every_command(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, FakeHost("web1", unreachable=True))
    result = run(base, "app", "doctor")
    assert (result.status, result.error_lines) == (
        ExitStatus.CONNECTION,
        ["pushdeploy: error: doctor: could not reach web1"],
    )
    assert "web1: PROBLEM: not reached: cannot connect to web1: connection refused" in result.stdout


def test_an_unreachable_host_wins_over_problems_on_the_hosts_reached(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = FakeHost("web1", replies={"script": [*READY, "value repo no"]})
    fleet(base, monkeypatch, broken, FakeHost("web2", unreachable=True))
    result = run(base, "app", "doctor")
    assert (result.status, result.error_lines) == (
        ExitStatus.CONNECTION,
        ["pushdeploy: error: doctor: could not reach web2; problem(s) on web1 would stop a deploy"],
    )
    assert "web1: PROBLEM: repo /r does not answer from the server: no output" in result.stdout


def test_a_host_with_an_unknown_host_key_is_exit_4_with_the_keys_own_hint() -> None:
    lost = Outcome(LOST, failure="web1: host key unknown")
    lost.lost = HostKeyError("web1: host key unknown", "ssh-keyscan web1 >> ~/.ssh/known_hosts")
    assert show(ENV, lost)[0] == (
        "4: doctor: could not reach app1 / ssh-keyscan web1 >> ~/.ssh/known_hosts"
    )
