"""A fleet's deploy and revert when a host is cut short, fails or cannot be put back: what goes
back, what is named, and the exit status (the fake fleet; issue 18's and 19's defects)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushdeploy.remote import protocol
from pushdeploy.testing.fakescript import Stop
from tests.support.fakefleet import FLEET, NEW, OLD, OLDER, fleet, host, lives, run

OTHER = "20261201T000000Z-9999999"  # a release someone else deployed meanwhile


def results(stdout: str) -> dict[str, str]:
    return {h["host"]: h["result"] for h in json.loads(stdout)["hosts"]}


@pytest.mark.parametrize("status", [protocol.KILLED, protocol.EXIT_ABORTED])
def test_a_host_cut_short_after_its_checks_passed_is_deployed_and_nobody_is_rolled_back(
    base: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """Killed (or stopped by a signal) during prune or at its exit: its release is live and
    checked, so it counts as deployed, with a warning, and no other host goes back."""
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web2"].exits["deploy"] = status
    result = run(base, "--json", "app")
    web2 = next(h for h in json.loads(result.stdout)["hosts"] if h["host"] == "web2")
    assert (result.status, lives(fake), [h.ran for h in fake.hosts.values()]) == (
        0,
        dict.fromkeys(FLEET, NEW),
        [["deploy"]] * 3,
    )
    assert (web2["result"], any("ended early" in w for w in web2["warnings"])) == ("ok", True)


def test_a_lone_host_cut_short_after_its_checks_passed_exits_0(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, host("web1", exits={"deploy": protocol.KILLED}))
    result = run(base, "app")
    assert (result.status, lives(fake), result.error_lines) == (0, {"web1": NEW}, [])


def test_a_fleet_revert_that_fails_on_one_host_puts_the_others_back(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reverted release is not marked bad on the hosts put back: it failed nowhere there."""
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web3"].fail_at["revert"] = "test"
    result = run(base, "--json", "app", "revert")
    assert (result.status, lives(fake), results(result.stdout)) == (
        7,
        dict.fromkeys(FLEET, OLD),
        {"web1": "rolled-back", "web2": "rolled-back", "web3": "switched-back"},
    )
    assert [line.split("\t")[2::4] for line in fake.hosts["web1"].history[2:]] == [
        [OLDER, "ok"],
        [OLD, "ok"],
    ]


def test_a_fleet_revert_whose_connection_drops_after_the_switch_puts_every_host_back(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web2"].drop_at["revert"] = "restart"
    result = run(base, "app", "revert")
    assert (result.status, lives(fake)) == (7, dict.fromkeys(FLEET, OLD))
    assert [name for name, h in fake.hosts.items() if "rollback" in h.ran] == list(FLEET)


def test_a_fleet_revert_names_the_unreachable_host_with_exit_4(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a host that only stopped because another failed (the first in the config here)."""
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web2"].unreachable = True
    result = run(base, "app", "revert")
    assert (result.status, result.error_lines, lives(fake)) == (
        4,
        ["pushdeploy: error: web2: cannot connect to web2: connection refused"],
        dict.fromkeys(FLEET, OLD),
    )


def test_a_host_that_cannot_be_put_back_is_named_and_the_exit_says_the_fleet_is_split(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rolling deploy: web1 passed and released its lock; while web3 tests, someone deploys
    OTHER on web1. The rollback leaves OTHER there, and says so: exit 10, web1 ``kept``."""
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web3"].fail_at["deploy"] = "test"

    def meanwhile(kind: str, step: str) -> None:
        if (kind, step) == ("deploy", "test"):
            fake.hosts["web1"].live = OTHER

    fake.hosts["web3"].at_step = meanwhile
    result = run(base, "--json", "--batch", "1", "app")
    said = json.loads(result.stdout)
    assert (result.status, said["outcome"], results(result.stdout), lives(fake)) == (
        10,
        "split",
        {"web1": "kept", "web2": "rolled-back", "web3": "switched-back"},
        {"web1": OTHER, "web2": OLD, "web3": OLD},
    )
    assert result.error_lines[0].endswith(
        f"; web1 could not be switched back: current is {OTHER}, not {NEW}; left as it is"
    )


def test_a_fleet_revert_whose_hosts_would_go_to_different_commits_is_refused(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web2's history holds another commit before OLD (the fleet was split once): no host
    changes, so that a revert that exits 0 always leaves the fleet on one commit."""
    fake = fleet(base, monkeypatch, *(host(name) for name in FLEET))
    fake.hosts["web2"].history[0] = fake.hosts["web2"].history[0].replace("1" * 40, "2" * 40, 1)
    result = run(base, "app", "revert")
    assert (result.status, lives(fake), result.error_lines[0]) == (
        8,
        dict.fromkeys(FLEET, OLD),
        "pushdeploy: error: the hosts' histories go back to different commits"
        " (web1 1111111, web2 2222222, web3 1111111); nothing was changed",
    )


@pytest.mark.parametrize("names", [("web1",), FLEET])
def test_a_host_killed_after_its_switch_and_before_its_checks_passed_is_made_sure_of(
    base: Path, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]
) -> None:
    """Killed at its test, and (the instant between the guard's last look and the kill) still
    live: a rollback makes sure it is back, alone or in a fleet, and the exit says so (7)."""
    fake = fleet(base, monkeypatch, *(host(name) for name in names))

    def killed(kind: str, step: str) -> None:
        if (kind, step) == ("deploy", "test"):
            raise Stop(protocol.KILLED)

    fake.hosts["web1"].at_step = killed
    result = run(base, "app")
    assert (result.status, lives(fake)) == (7, dict.fromkeys(names, OLD))
    assert "rollback" in fake.hosts["web1"].ran
    assert fake.hosts["web1"].history[-1].split("\t")[2::4] == [NEW, "bad"]


def test_a_host_stopped_at_its_switch_before_the_rename_is_said_unchanged(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM at the switch, before current moved: the rollback that makes sure finds nothing
    to undo, and the error says nothing live changed (exit 6), not that hosts were rolled back."""
    fake = fleet(base, monkeypatch, host("web1"))

    def stopped(kind: str, step: str) -> None:
        if (kind, step) == ("deploy", "restart"):
            fake.hosts["web1"].live = OLD  # its trap switched it back already
            raise Stop(protocol.EXIT_ABORTED)

    fake.hosts["web1"].at_step = stopped
    result = run(base, "app")
    assert (result.status, lives(fake), "rolled back" in result.stderr) == (6, {"web1": OLD}, False)
