"""Reports are read once from the markers: typed fields, step durations, a headline, JSON."""

from __future__ import annotations

import json

import pytest

from pushdeploy.remote import protocol
from pushdeploy.remote.protocol import Outcome
from pushdeploy.remote.report import DeployReport, HostReport

SHA = "3f2a9c1" + "0" * 33


def outcome(status: int, lines: list[tuple[float, str]], ended: float) -> Outcome:
    found = Outcome(status, started=0.0, ended=ended)
    for at, line in lines:
        found.add(protocol.parse(protocol.PREFIX + line), at)
    return found


DEPLOYED = [
    (0.1, "step lock"),
    (0.2, "value previous 20261129T000000Z-1111111"),
    (0.3, "step fetch"),
    (0.9, "value ref main"),
    (0.9, f"value sha {SHA}"),
    (0.9, "value release 20261130T074102Z-3f2a9c1"),
    (1.0, "step switch"),
    (1.1, "value live 20261130T074102Z-3f2a9c1"),
    (1.5, "done"),
]


def test_a_host_report_types_what_the_script_said() -> None:
    host = HostReport.of("web1", outcome(0, DEPLOYED, 2.0))
    assert (host.result, host.status, host.ref, host.sha, host.release, host.previous) == (
        "ok",
        0,
        "main",
        SHA,
        "20261130T074102Z-3f2a9c1",
        "20261129T000000Z-1111111",
    )
    assert [(s.name, s.seconds) for s in host.steps] == [
        ("lock", 0.2),
        ("fetch", 0.7),
        ("switch", 1.0),
    ]
    assert host.seconds == 2.0


@pytest.mark.parametrize(
    ("status", "done", "result"),
    [
        (0, True, "ok"),
        (0, False, "failed"),
        (1, False, "failed"),
        (protocol.EXIT_SWITCHED_BACK, False, "switched-back"),
        (protocol.EXIT_ABORTED, False, "stopped"),
        (protocol.RUNNING, False, "running"),
        (protocol.LOST, False, "failed"),
    ],
)
def test_a_hosts_result_follows_its_status(status: int, done: bool, result: str) -> None:
    lines = [(0.0, "done")] if done else []
    assert result == HostReport.of("h", outcome(status, lines, 1.0)).result


def test_only_the_last_output_lines_are_kept() -> None:
    lines = [(0.0, f"out line {n}") for n in range(40)]
    host = HostReport.of("h", outcome(1, lines, 1.0))
    assert host.output == tuple(f"line {n}" for n in range(25, 40))


def test_the_headline_says_what_went_where_and_how_long_it_took() -> None:
    hosts = [HostReport.of(h, outcome(0, DEPLOYED, 2.0)) for h in ("a", "b", "c")]
    report = DeployReport.of("deploy", "prod", hosts, seconds=2.44)
    assert report.headline() == "deployed main (3f2a9c1) to 3 hosts in 2.4 s"


def test_a_failed_reports_headline_counts_how_the_hosts_ended() -> None:
    hosts = [
        HostReport("a", "rolled-back", 0),
        HostReport("b", "switched-back", 77),
        HostReport("c", "stopped", 80),
    ]
    report = DeployReport.of("deploy", "prod", hosts, seconds=3.0).ended(7, "b: test failed")
    assert report.headline() == (
        "deploy switched-back in 3.0 s: 1 switched-back, 1 rolled-back, 1 stopped"
    )
    assert [h.host for h in report.failed_first()] == ["b"]


def test_the_json_is_one_object_with_nulls_for_what_was_never_said() -> None:
    report = DeployReport.of("setup", "prod", [HostReport("a", "ok", 0)], seconds=1.0)
    data = json.loads(json.dumps(report.ended(0, log="/l").to_json()))
    assert (data["outcome"], data["exit_status"], data["sha"], data["log"]) == ("ok", 0, None, "/l")
    assert data["hosts"][0]["release"] is None and data["hosts"][0]["steps"] == []


def test_an_exit_status_names_the_outcome() -> None:
    base = DeployReport.of("deploy", "prod", [])
    assert [base.ended(s).outcome for s in (0, 4, 5, 6, 7, 8, 9, 130, 1)] == [
        *("ok", "unreachable", "locked", "failed", "switched-back"),
        *("refused", "drift", "interrupted", "error"),
    ]
