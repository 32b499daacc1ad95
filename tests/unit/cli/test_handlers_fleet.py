"""A fleet's failures and reverts through ``cli.main``, in-process, against pushdeploy.testing.fake.

Each case types a command line as a user would and checks what they would see (the error line,
the exit status) and what the servers were left with (each fake's live release, the scripts it
ran, the words it was told): every multi-host failure path ends on one release, and a revert
switches every host or none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.testing.fake import FakeFleet
from tests.support.fakefleet import FLEET, OLD, OLDER, fleet, host, lives, ran, run, timed


@pytest.mark.parametrize(
    ("faults", "argv", "status", "error", "rolled_back"),
    [
        pytest.param(
            {"web2": {"fail_at": {"deploy": "build"}}},
            [],
            6,
            "web2: build failed: 'build' exited with status 1",
            [],
            id="prepare-fails-on-one-host",
        ),
        pytest.param(
            {"web3": {"fail_at": {"deploy": "test"}}},
            [],
            7,
            "web3: test failed after going live ('test' exited with status 1); switched back",
            ["web1", "web2"],
            id="activate-fails-on-one-host",
        ),
        pytest.param(
            {"web2": {"drop_at": {"deploy": "restart"}}},
            [],
            7,
            "web2: the connection was lost (fake); the hosts that went live were rolled back",
            ["web1", "web2", "web3"],
            id="connection-drops-mid-activate",
        ),
        pytest.param(
            {"web2": {"fail_at": {"deploy": "test"}}},
            ["--batch", "1"],
            7,
            "web2: test failed after going live ('test' exited with status 1); switched back",
            ["web1"],
            id="a-rolling-slice-fails",
        ),
        pytest.param(
            {"web2": {"unreachable": True}},
            [],
            4,
            "web2: cannot connect to web2: connection refused",
            [],
            id="a-host-is-unreachable",
        ),
        pytest.param(
            {"web3": {"lock": "ann@laptop (pid 7)"}},
            [],
            5,
            "web3: locked by ann@laptop (pid 7)",
            [],
            id="a-host-is-locked",
        ),
    ],
)
def test_a_fleet_failure_anywhere_leaves_every_host_on_what_it_served(
    base: Path,
    monkeypatch: pytest.MonkeyPatch,
    faults: dict[str, dict[str, object]],
    argv: list[str],
    status: int,
    error: str,
    rolled_back: list[str],
) -> None:
    fake = fleet(base, monkeypatch, *(host(name, **faults.get(name, {})) for name in FLEET))
    result = run(base, *argv, "app")
    assert (result.status, result.error_lines) == (status, [f"pushdeploy: error: {error}"])
    assert lives(fake) == dict.fromkeys(FLEET, OLD)
    assert [name for name, h in fake.hosts.items() if "rollback" in h.ran] == rolled_back
    assert timed(result.stdout).startswith("deploy ")  # the summary line, never "deployed"


def test_a_failing_slice_puts_back_the_slices_before_and_never_tells_the_next_to_go(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *map(host, [*FLEET, "web4"]))
    fake.hosts["web2"].fail_at["deploy"] = "restart"
    result = run(base, "--json", "--batch", "50%", "app")
    results = {h["host"]: h["result"] for h in json.loads(result.stdout)["hosts"]}
    assert (result.status, results) == (
        7,
        {"web1": "rolled-back", "web2": "switched-back", "web3": "stopped", "web4": "stopped"},
    )
    assert [h.words for h in fake.hosts.values()] == [["go"], ["go"], ["stop"], ["stop"]]
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)


@pytest.mark.parametrize(
    ("step", "ends", "status", "error", "hint"),
    [
        (
            "lock",
            78,
            6,
            "web1: 'lock' exited with status 1",
            "run 'pushdeploy -C BASE app setup' first",
        ),
        (
            "resolve",
            81,
            8,
            "web1: 'resolve' exited with status 1",
            "check the name: 'git ls-remote' on the repo lists its branches and tags",
        ),
        (
            "build",
            79,
            6,
            "web1: build failed: 'build' exited with status 1",
            "free space on the server (old releases, logs), then run the command again;"
            " nothing half-done was left behind",
        ),
        (
            "build",
            -1,
            6,
            "web1: the script on the server was killed at step build; its guard stops what it"
            " started, removes the half-built release and drops the lock: the host is left"
            " unchanged",
            "the live release was not changed; fix the cause and run the command again",
        ),
        (
            "restart",
            -1,
            7,
            "web1: the script on the server was killed at step restart after going live; its"
            " guard has it switched back to the previous release within a second",
            "the previous release is live again; fix the failing check and deploy again",
        ),
    ],
)
def test_each_way_a_script_ends_is_its_own_error_status_and_hint(
    base: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    ends: int,
    status: int,
    error: str,
    hint: str,
) -> None:
    fake = fleet(base, monkeypatch, host("web1", fail_at={"deploy": step}, exits={"deploy": ends}))
    result = run(base, "app")
    assert (result.status, result.error_lines) == (status, [f"pushdeploy: error: {error}"])
    assert f"hint: {hint.replace('BASE', str(base))}\n" in result.stderr
    assert lives(fake) == {"web1": OLD}


def last_to_prepare(fake: FakeFleet, name: str) -> None:
    """``name`` holds its build until every other host has prepared (and waits for its word)."""
    others = [f"{other} prepared" for other in fake.hosts if other != name]

    def hold(kind: str, step: str) -> None:
        if step == "build":
            fake.wait_for(*others)

    fake.hosts[name].at_step = hold


def test_hosts_that_resolve_different_commits_never_go_live(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *map(host, FLEET))
    fake.hosts["web3"].sha = "f" * 40
    result = run(base, "app")
    assert result.status == 6
    assert result.error_lines[0].startswith(
        "pushdeploy: error: the hosts resolved the ref to different commits ("
    )
    assert [h.words for h in fake.hosts.values()] == [["stop"]] * 3
    assert lives(fake) == dict.fromkeys(FLEET, OLD)


def test_the_hosts_that_resolved_different_commits_are_named_in_config_order(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *map(host, FLEET))
    fake.hosts["web3"].sha = "f" * 40
    last_to_prepare(fake, "web1")
    result = run(base, "app")
    assert result.error_lines == [
        "pushdeploy: error: the hosts resolved the ref to different commits"
        " (web1 3f2a9c1, web2 3f2a9c1, web3 fffffff)"
    ]


# -- revert ---------------------------------------------------------------------------------------


def test_revert_goes_back_on_every_host_in_one_session_each(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1"), host("web2"))
    result = run(base, "app", "revert")
    assert (result.status, timed(result.stdout)) == (
        0,
        "reverted 2 hosts to main (1111111) in N.N s\n",
    )
    assert (lives(fake), ran(fake)) == (
        dict.fromkeys(fake.hosts, OLDER),
        {name: ["revert"] for name in fake.hosts},
    )


def test_revert_is_refused_when_a_host_has_nothing_earlier_and_nobody_switches(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = [f"{'1' * 40}\tt\t{OLD}\tmain\tme\tdeploy\tok"]
    fake = fleet(base, monkeypatch, host("web1"), host("web2", history=only))
    result = run(base, "app", "revert")
    assert (result.status, result.error_lines) == (
        8,
        ["pushdeploy: error: web2: cannot revert 1: the history holds 0 earlier good releases"],
    )
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert [h.words for h in fake.hosts.values()] == [["stop"]] * 2


def test_a_revert_that_fails_its_test_is_switched_back(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1", fail_at={"revert": "test"}))
    result = run(base, "app", "revert")
    assert (result.status, lives(fake)) == (7, {"web1": OLD})
    assert result.error_lines == [
        "pushdeploy: error: web1: test failed after going live ('test' exited with status 1);"
        " switched back"
    ]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["0"], "revert: expected a number of good deploys to go back (1 or more), got '0'"),
        (["two"], "revert: expected a number of good deploys to go back (1 or more), got 'two'"),
        (["1", "2"], "revert: unexpected argument '2'"),
    ],
)
def test_revert_takes_one_whole_number_and_says_so_before_any_connection(
    base: Path, monkeypatch: pytest.MonkeyPatch, words: list[str], error: str
) -> None:
    fake = fleet(base, monkeypatch, host("web1"))
    result = run(base, "app", "revert", *words)
    assert (result.status, result.error_lines, ran(fake)) == (
        2,
        [f"pushdeploy: error: {error}"],
        {"web1": []},
    )
