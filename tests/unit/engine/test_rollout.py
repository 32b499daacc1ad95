"""Fleet deploys in-process, against pushdeploy.testing.fake: batches, migrations, failures anywhere.

Every case runs the real ``deploy.deploy`` / ``deploy.revert`` over a real ``Session`` whose
opener hands out fake hosts (pushdeploy/testing/fake.py); each fake keeps its live release and history,
so a case can check the promise that matters: the fleet ends on one release.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pushdeploy import sources
from pushdeploy.config import deployconf as config
from pushdeploy.config.values import batch_size
from pushdeploy.console import Console
from pushdeploy.engine import deploy
from pushdeploy.engine.rollout import batches, picked
from pushdeploy.engine.session import Session
from pushdeploy.errors import ConnectionError, DeployFailed, DeployReverted, Refused
from pushdeploy.testing.fake import FakeFleet
from pushdeploy.testing.fakehost import SHA, FakeHost
from tests.support.fakefleet import STEPS

OLDER = "20261128T000000Z-1111111"
OLD = "20261129T000000Z-1111111"
NEW = "20261130T074102Z-3f2a9c1"


def fleet(*names: str, **faults: dict[str, str]) -> FakeFleet:
    """Hosts all live on OLD; ``faults``: host -> {"fail": step, "drop": step} for deploys."""
    hosts = []
    for name in names:
        fault = faults.get(name, {})
        lines = [f"{'1' * 40}\tt\t{r}\tmain\tme\tdeploy\tok" for r in (OLDER, OLD)]
        host = FakeHost(name, live=OLD, history=lines)
        if "fail" in fault:
            host.fail_at["deploy"] = fault["fail"]
        if "drop" in fault:
            host.drop_at["deploy"] = fault["drop"]
        if "sha" in fault:
            host.sha = fault["sha"]
        hosts.append(host)
    return FakeFleet(*hosts)


def session(tmp_path: Path, fake: FakeFleet, extra: str = "") -> Session:
    conf = tmp_path / "deploy.conf"
    hosts = " ".join(fake.hosts)
    conf.write_text(f"[app]\nhost = {hosts}\nrepo = /r\npath = /srv/app\n{STEPS}{extra}", "utf-8")
    env = config.load(conf, "app")
    console = Console(io.StringIO(), io.StringIO())
    return Session(env, console, source=sources.of(env), command="deploy main", opener=fake.opener)  # type: ignore[arg-type]


def lives(fake: FakeFleet) -> dict[str, str]:
    return {name: host.live for name, host in fake.hosts.items()}


@pytest.mark.parametrize(
    ("size", "hosts", "expected"),
    [
        ("1", 3, [["h1"], ["h2"], ["h3"]]),
        ("2", 3, [["h1", "h2"], ["h3"]]),
        ("50%", 3, [["h1", "h2"], ["h3"]]),
        ("100%", 3, [["h1", "h2", "h3"]]),
        ("1%", 4, [["h1"], ["h2"], ["h3"], ["h4"]]),
        ("10", 2, [["h1", "h2"]]),
    ],
)
def test_batches_cut_the_hosts_in_config_order(
    size: str, hosts: int, expected: list[list[str]]
) -> None:
    assert expected == batches([f"h{i}" for i in range(1, hosts + 1)], batch_size(size))


def test_without_batch_every_host_goes_at_once() -> None:
    assert batches(["a", "b", "c"], None) == [["a", "b", "c"]]


def test_a_fleet_deploy_reports_every_host_live_on_one_release(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3")
    report = deploy.deploy(session(tmp_path, fake), "main")
    assert (report.ref, report.sha, report.release) == ("main", SHA, NEW)
    assert [(h.host, h.result, h.live) for h in report.hosts] == [
        (name, "ok", NEW) for name in fake.hosts
    ]
    assert lives(fake) == dict.fromkeys(fake.hosts, NEW)
    assert [h.words for h in fake.hosts.values()] == [["go"]] * 3


def test_each_host_reports_its_steps_in_order(tmp_path: Path) -> None:
    report = deploy.deploy(session(tmp_path, fleet("web1", "web2")), "main")
    assert [s.name for s in report.hosts[0].steps] == [
        *("lock", "fetch", "resolve", "release", "build"),
        *("switch", "restart", "test", "prune"),
    ]
    assert all(s.seconds >= 0 for s in report.hosts[0].steps)


def test_a_host_failing_to_prepare_leaves_every_host_unchanged(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3", web2={"fail": "build"})
    with pytest.raises(DeployFailed) as caught:
        deploy.deploy(session(tmp_path, fake), "main")
    assert caught.value.status == 6
    assert caught.value.message == "web2: build failed: 'build' exited with status 1"
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert [h.result for h in caught.value.report.hosts] == ["stopped", "failed", "stopped"]
    assert caught.value.report.hosts[1].output == ("building...",)


def test_a_host_failing_after_going_live_puts_the_whole_fleet_back(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3", web3={"fail": "test"})
    with pytest.raises(DeployReverted) as caught:
        deploy.deploy(session(tmp_path, fake), "main")
    assert caught.value.status == 7
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    results = {h.host: h.result for h in caught.value.report.hosts}
    assert results == {"web1": "rolled-back", "web2": "rolled-back", "web3": "switched-back"}


def test_hosts_that_resolve_different_commits_never_go_live(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", web2={"sha": "f" * 40})
    with pytest.raises(DeployFailed) as caught:
        deploy.deploy(session(tmp_path, fake), "main")
    assert "resolved the ref to different commits" in caught.value.message
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert all(h.words == ["stop"] for h in fake.hosts.values())  # none told to go


def test_a_connection_lost_mid_activate_rolls_the_fleet_back(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3", web2={"drop": "restart"})
    with pytest.raises(DeployReverted) as caught:
        deploy.deploy(session(tmp_path, fake), "main")
    assert "web2" in caught.value.message and "connection was lost" in caught.value.message
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert fake.hosts["web2"].ran == ["deploy", "rollback"]  # reconnected to put it back


def test_an_unreachable_host_stops_the_fleet_before_anything_changes(tmp_path: Path) -> None:
    fake = fleet("web1", "web2")
    fake.hosts["web2"].unreachable = True
    with pytest.raises(ConnectionError) as caught:
        deploy.deploy(session(tmp_path, fake), "main")
    assert caught.value.status == 4
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)


def test_batches_go_live_one_after_another(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3", "web4")
    report = deploy.deploy(session(tmp_path, fake, "batch = 2\n"), "main")
    assert report.ok and lives(fake) == dict.fromkeys(fake.hosts, NEW)
    at = {event: number for number, event in enumerate(fake.events)}
    first_done = max(at["web1 deploy done"], at["web2 deploy done"])
    assert min(at["web3 go"], at["web4 go"]) > first_done


def test_a_failing_batch_stops_the_next_and_rolls_back_the_ones_before(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3", "web4", web3={"fail": "test"})
    with pytest.raises(DeployReverted) as caught:
        deploy.deploy(session(tmp_path, fake, "batch = 1\n"), "main")
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert {h.host: h.result for h in caught.value.report.hosts} == {
        "web1": "rolled-back",
        "web2": "rolled-back",
        "web3": "switched-back",
        "web4": "stopped",
    }
    assert fake.hosts["web4"].words == ["stop"]  # never told to go


def test_the_migration_runs_once_on_the_primary_before_any_switch(tmp_path: Path) -> None:
    fake = fleet("web1", "web2", "web3")
    deploy.deploy(session(tmp_path, fake, "migrate = ./bin/migrate\nprimary = web2\n"), "main")
    assert {name: host.words for name, host in fake.hosts.items()} == {
        "web1": ["go"],
        "web2": ["migrate", "go"],
        "web3": ["go"],
    }


def test_a_failing_migration_changes_nothing_live(tmp_path: Path) -> None:
    fake = fleet("web1", "web2")
    fake.hosts["web1"].fail_at["deploy"] = "migrate"
    with pytest.raises(DeployFailed) as caught:
        deploy.deploy(session(tmp_path, fake, "migrate = ./bin/migrate\n"), "main")
    assert caught.value.status == 6
    assert caught.value.message.startswith("web1: migrate failed")
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)


def test_parallel_bounds_hosts_preparing_at_once_without_blocking_the_fleet(
    tmp_path: Path,
) -> None:
    fake = fleet(*(f"web{i}" for i in range(1, 7)))
    report = deploy.deploy(session(tmp_path, fake, "parallel = 2\n"), "main")
    assert report.ok and lives(fake) == dict.fromkeys(fake.hosts, NEW)


def test_revert_reads_and_switches_in_one_session_per_host(tmp_path: Path) -> None:
    fake = fleet("web1", "web2")
    deploy.deploy(session(tmp_path, fake), "main")
    report = deploy.revert(session(tmp_path, fake), 1)
    assert lives(fake) == dict.fromkeys(fake.hosts, OLD)
    assert [h.ran for h in fake.hosts.values()] == [["deploy", "revert"]] * 2
    assert report.release == OLD


def test_a_revert_with_nowhere_to_go_on_one_host_changes_no_host(tmp_path: Path) -> None:
    fake = fleet("web1", "web2")
    fake.hosts["web2"].history = []
    with pytest.raises(Refused) as caught:
        deploy.revert(session(tmp_path, fake), 1)
    assert caught.value.message.startswith("web2: ")
    assert all(h.words == ["stop"] for h in fake.hosts.values())  # none told to go


@pytest.mark.parametrize(
    ("word", "release"),
    [
        ("to 0 20261130T074102Z-3f2a9c1 " + "3" * 40 + " main", "20261130T074102Z-3f2a9c1"),
        ("to 1 - 3f2a9c1 -", ""),  # a line of TJ's deploy: its release is made on the server
        ("go", ""),
        ("", ""),
    ],
)
def test_the_release_a_revert_was_sent_to_is_read_back_from_its_word(
    word: str, release: str
) -> None:
    """For a host whose connection was lost before it said where it went (its rollback)."""
    assert picked(word) == release
