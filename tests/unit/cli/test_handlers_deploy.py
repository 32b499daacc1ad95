"""deploy through ``cli.main``, in-process, against a fake fleet (pushdeploy.testing.fake): what it prints
(the headline, a line per step, ``--json``, ``-q``, ``--dry-run``), ``--batch``, the local hooks
and Ctrl-C.

Each case types a command line as a user would and checks what they would see (stdout, stderr,
the exit status) and what the servers were left with (each fake's live release, the scripts it
ran, the words it was told). Failures across a fleet and revert are in test_handlers_fleet.py.
"""

from __future__ import annotations

import _thread
import json
import re
from pathlib import Path

import pytest

from pushdeploy.testing.fakehost import SHA
from tests.support.fakefleet import FLEET, NEW, OLD, fleet, host, lives, ran, run, timed


def test_a_deploy_to_one_host_ends_in_its_headline(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"))
    result = run(base, "app")
    assert (result.status, timed(result.stdout)) == (
        0,
        "deployed main (3f2a9c1) to 1 host in N.N s\n",
    )
    assert (lives(fake), ran(fake)) == ({"web1": NEW}, {"web1": ["deploy"]})
    steps = [line.split()[1] for line in result.stderr.splitlines()]
    assert steps == [
        *("lock", "fetch", "resolve", "release", "build"),
        *("switch", "restart", "test", "prune", "✓"),
    ]


def test_a_fleet_deploy_says_each_hosts_result_then_one_headline(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *map(host, FLEET))
    result = run(base, "app")
    assert (result.status, timed(result.stdout)) == (
        0,
        "deployed main (3f2a9c1) to 3 hosts in N.N s\n",
    )
    ends = sorted(timed(line) for line in result.stderr.splitlines() if "✓" in line)
    assert ends == [f"{name}  ✓ ok {NEW}  N.N s" for name in FLEET]
    assert lives(fake) == dict.fromkeys(FLEET, NEW)


def test_json_is_one_object_with_every_host_and_its_steps(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "--json", "app")
    data = json.loads(result.stdout)
    assert (result.status, data["command"], data["outcome"], data["exit_status"]) == (
        0,
        "deploy",
        "ok",
        0,
    )
    assert (data["ref"], data["sha"], data["release"], data["error"]) == ("main", SHA, NEW, None)
    assert [(h["host"], h["result"], h["previous"]) for h in data["hosts"]] == [
        ("web1", "ok", OLD),
        ("web2", "ok", OLD),
    ]
    assert [s["name"] for s in data["hosts"][0]["steps"]][-4:] == [
        "switch",
        "restart",
        "test",
        "prune",
    ]


def test_json_on_failure_still_prints_the_report_with_the_error_and_hint(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2", fail_at={"deploy": "build"}))
    result = run(base, "--json", "app")
    data = json.loads(result.stdout)
    assert (result.status, data["outcome"], data["exit_status"]) == (6, "failed", 6)
    assert data["error"] == "web2: build failed: 'build' exited with status 1"
    assert (
        data["hint"] == "the live release was not changed; fix the cause and run the command again"
    )
    assert [(h["result"], h["output"]) for h in data["hosts"]] == [
        ("stopped", []),
        ("failed", ["building..."]),
    ]


def test_quiet_prints_only_the_headline(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "-q", "app")
    assert (result.status, timed(result.stdout), result.stderr) == (
        0,
        "deployed main (3f2a9c1) to 2 hosts in N.N s\n",
        "",
    )


def test_dry_run_prints_each_hosts_script_and_no_server_runs_one(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "--dry-run", "app", "v2")
    assert result.status == 0
    assert re.findall(r"^# ---- (\S+) ----\n# pushdeploy (\S+)$", result.stdout, re.M) == [
        ("web1", "deploy"),
        ("web2", "deploy"),
    ]
    assert "REF=v2" in result.stdout and "\nawait_go\n" in result.stdout
    assert (ran(fake), lives(fake)) == ({"web1": [], "web2": []}, {"web1": OLD, "web2": OLD})


def test_batch_on_the_command_line_sends_one_host_live_at_a_time(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *map(host, FLEET))
    result = run(base, "--batch", "1", "app")
    assert result.status == 0
    assert [line for line in result.stderr.splitlines() if line.startswith("batch")] == [
        "batch 1: web1",
        "batch 2: web2",
        "batch 3: web3",
    ]
    at = {event: number for number, event in enumerate(fake.events)}
    assert at["web1 deploy done"] < at["web2 go"] < at["web2 deploy done"] < at["web3 go"]


def test_a_failing_pre_deploy_local_stops_before_any_host_is_contacted(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"), extra="pre-deploy-local = exit 3\n")
    result = run(base, "app")
    assert (result.status, result.error_lines) == (
        6,
        ["pushdeploy: error: pre-deploy-local exited with status 3; no host was contacted"],
    )
    assert ran(fake) == {"web1": [], "web2": []}


HOOK = "post-deploy-local = env | grep ^PUSHDEPLOY_ | sort > facts; exit 4\n"


def facts(base: Path) -> dict[str, str]:
    lines = (base / "facts").read_text("utf-8").splitlines()
    found = dict(line.split("=", 1) for line in lines)
    assert re.fullmatch(r"\d+\.\d", found.pop("PUSHDEPLOY_DURATION"))
    return found


def test_post_deploy_local_gets_the_deploys_facts_and_its_failure_only_warns(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2"), extra=HOOK)
    result = run(base, "app")
    assert (result.status, result.error_lines) == (0, [])
    assert "pushdeploy: warning: post-deploy-local exited with status 4" in result.stderr
    assert facts(base) == {
        "PUSHDEPLOY_ENV": "app",
        "PUSHDEPLOY_REF": "main",
        "PUSHDEPLOY_SHA": SHA,
        "PUSHDEPLOY_RELEASE": NEW,
        "PUSHDEPLOY_HOSTS": "web1 web2",
        "PUSHDEPLOY_OUTCOME": "ok",
    }


def test_post_deploy_local_runs_after_a_failure_too_with_its_outcome(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet(base, monkeypatch, host("web1"), host("web2", fail_at={"deploy": "test"}), extra=HOOK)
    result = run(base, "app", "main")
    assert result.status == 7
    assert facts(base)["PUSHDEPLOY_OUTCOME"] == "switched-back"


def test_ctrl_c_during_prepare_stops_every_host_before_it_goes_live(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def press_ctrl_c(kind: str, step: str) -> None:
        if (kind, step) == ("deploy", "build"):
            _thread.interrupt_main()

    fake = fleet(base, monkeypatch, host("web1"), host("web2", at_step=press_ctrl_c), extra=HOOK)
    result = run(base, "app")
    assert (result.status, result.error_lines) == (130, ["pushdeploy: error: interrupted"])
    assert lives(fake) == {"web1": OLD, "web2": OLD}
    left = "stopped before going live and left unchanged (the half-built release is removed)"
    assert f"web1: {left}" in result.stderr and f"web2: {left}" in result.stderr
    assert facts(base)["PUSHDEPLOY_OUTCOME"] == "interrupted"


def test_a_local_log_that_fails_mid_run_is_said_at_the_end(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills during the deploy: the deploy goes on, and its end says the log is cut."""
    from pushdeploy.console.logbook import Logbook, utc_now

    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    opened = lambda *args, **kwargs: Logbook(full, "", full.open("w"), str, utc_now)  # noqa: E731
    monkeypatch.setattr(Logbook, "open", opened)
    fleet(base, monkeypatch, host("web1"))
    result = run(base, "app")
    assert result.status == 0
    assert result.stderr.count("the local log /dev/full stopped at a write error") == 1
