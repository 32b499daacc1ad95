"""A pull fleet's records: the release each watcher records as live, and what ``status`` flags in
them: servers on different commits, never on different release IDs alone (each stamps its own)."""

from __future__ import annotations

import pytest

from pushdeploy.cli.watch import live_after
from pushdeploy.watch.turns import Member, findings, runs

A, B = "3f2a9c1e0b4d" + "0" * 28, "0aa41c7d9e21" + "1" * 28
HINT = "a rollout may be under way: watch the turns; else see each server's watcher log"


def on(name: str, stamp: str, identity: str, outcome: str = "ok") -> Member:
    """Server ``name`` with its own release of ``identity`` (made at ``stamp``) live."""
    return Member(name, f"20261130T{stamp}Z-{identity[:7]}", identity, outcome)


def test_a_converged_fleet_with_a_release_id_per_server_is_no_drift() -> None:
    """Each watcher names its release with its own time: one commit is one release all the same."""
    fleet = [on("web1", "074102", A), on("web2", "074109", A), on("web3", "074115", A)]
    assert findings(fleet) == []


def test_servers_on_two_commits_are_drift_named_by_identity() -> None:
    fleet = [on("web1", "074102", A), on("web2", "074109", B), on("web3", "074115", A)]
    said = "fleet: servers on different releases: 3f2a9c1e0b4d on web1, web3; 0aa41c7d9e21 on web2"
    assert findings(fleet) == [(said, HINT)]


def test_a_failed_deploy_counts_what_its_release_id_carries_not_what_it_tried() -> None:
    """web2 tried B and failed: it still runs its release of A, the fleet's commit."""
    failed = Member("web2", "20261130T073011Z-3f2a9c1", B, "switched-back")
    found = findings([on("web1", "074102", A), failed])
    assert found == [
        (
            "fleet: web2: its last deploy 0aa41c7d9e21 ended switched-back",
            "see the watcher's log on web2 ('pushdeploy ENV log' there)",
        )
    ]


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (on("web1", "074102", A), A),
        (Member("web1", "20261130T074102Z-3f2a9c1.2", B, "failed"), "3f2a9c1"),
        (Member("web1", "20261130T074102Z-3f2a9c1", "", "ok"), "3f2a9c1"),
        (Member("web1", "not a release", A, "failed"), "not a release"),
    ],
)
def test_runs_is_the_identity_of_what_is_live(member: Member, expected: str) -> None:
    assert runs(member) == expected


NEW, OLD = "20261130T074102Z-3f2a9c1", "20261130T073011Z-0aa41c7"


@pytest.mark.parametrize(
    ("report", "live"),
    [
        ({"outcome": "ok", "release": NEW, "hosts": [{"previous": OLD}]}, NEW),
        ({"outcome": "ok", "release": OLD, "hosts": [{"previous": OLD}]}, OLD),  # live already
        ({"outcome": "switched-back", "release": NEW, "hosts": [{"previous": OLD}]}, OLD),
        ({"outcome": "failed", "release": NEW, "hosts": [{"previous": None}]}, ""),  # a first
        ({"outcome": "locked", "hosts": []}, ""),
        ({"outcome": "failed", "hosts": "not a list"}, ""),
        ({}, ""),
    ],
)
def test_a_watcher_records_the_release_live_after_its_deploy(
    report: dict[str, object], live: str
) -> None:
    """A deploy that failed leaves (or puts back) what was live: that is recorded, not the try."""
    assert live_after(report) == live
