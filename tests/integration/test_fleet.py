"""A fleet deploys as one, on three real OpenSSH servers: batches, a run-once migration, local hooks.

The in-process tier (tests/unit/test_rollout.py) covers the rollout's logic with a fake
transport; these tests prove it end to end, on real sshds, real git and real bash, and read
what happened from the servers' disks: ``current`` links, VERSION files, ``.deploys`` lines,
and the lines hooks write to a file the test shares with the servers (tests/support/fleet.py).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support.fleet import Fleet
from tests.support.sshd import SSHServer

FAIL_ON_MARKED_HOST = '[ ! -e "$HOME/fail-here" ]'  # fails only where the test put the file


def deployed(fleet: Fleet) -> list[str]:
    """Deploy v1 everywhere and return each host's live release."""
    fleet.project.ok("app")
    return [fleet.live(i) for i in range(3)]


def actions(fleet: Fleet, i: int) -> list[tuple[str, str, str]]:
    """Host i's history as (release, action, outcome)."""
    return [(line[2], line[5], line[6]) for line in fleet.history(i)]


def test_batches_of_one_go_live_one_host_after_another(fleet: Fleet) -> None:
    """When each host restarts, the hosts of later batches still serve the old version."""
    p = fleet.project
    deployed(fleet)
    p.configure(batch="1", restart=fleet.mark("restarted", versions=True))
    p.origin.commit({"VERSION": "v2\n"})
    result = p.ok("app")
    seen = [(m.host, m.seen) for m in fleet.marks_of("restarted")]
    assert seen == [(0, ("v2", "v1", "v1")), (1, ("v2", "v2", "v1")), (2, ("v2", "v2", "v2"))]
    batches = [line for line in result.stderr.splitlines() if line.startswith("batch ")]
    assert [f"batch {n}: {spec}" for n, spec in enumerate(fleet.specs, 1)] == batches
    assert fleet.versions() == ["v2", "v2", "v2"]


def test_the_pause_between_batches_is_kept(fleet: Fleet) -> None:
    """``batch = 2`` over three hosts with ``batch-pause = 1``: the third host restarts at least
    a second after the first two (measured from the restart hooks' own clocks)."""
    p = fleet.project
    p.configure(batch="2", batch_pause="1", restart=fleet.mark("restarted"))
    result = p.ok("app")
    marks = fleet.marks_of("restarted")
    assert sorted(m.host for m in marks) == [0, 1, 2]
    assert marks[-1].host == 2
    gap = marks[-1].time - max(m.time for m in marks[:2])
    assert gap >= 1.0, f"the second batch restarted {gap:.3f} s after the first"
    assert f"batch 2: {fleet.specs[2]}" in result.stderr.splitlines()


def test_a_batch_of_half_the_fleet_takes_two_of_four_hosts_at_a_time(
    tmp_path: Path, fresh_sshd: SSHServer, more_sshds: Callable[[int], list[SSHServer]]
) -> None:
    fleet = Fleet(tmp_path, [fresh_sshd, *more_sshds(3)], Project)
    p = fleet.project
    p.ok("app", "setup")
    p.ok("app")
    p.configure(batch="50%", restart=fleet.mark("restarted", versions=True))
    p.origin.commit({"VERSION": "v2\n"})
    result = p.ok("app")
    marks = fleet.marks_of("restarted")
    assert [{0, 1}, {2, 3}] == [{m.host for m in marks[:2]}, {m.host for m in marks[2:]}]
    assert [m.seen[2:] for m in marks[:2]] == [("v1", "v1")] * 2, "the second batch waited"
    assert [m.seen[:2] for m in marks[2:]] == [("v2", "v2")] * 2
    batches = [line for line in result.stderr.splitlines() if line.startswith("batch ")]
    assert [f"batch 1: {fleet.specs[0]}, {fleet.specs[1]}"] == batches[:1]


def test_parallel_one_prepares_one_host_at_a_time_and_still_goes_live_everywhere(
    fleet: Fleet,
) -> None:
    """With ``parallel = 1`` a prepared host waits, its lock held, while the next one builds."""
    p = fleet.project
    p.configure(parallel="1", build=fleet.mark("built", locks=True))
    p.ok("app")
    seen = [(m.host, m.seen) for m in fleet.marks_of("built")]
    assert seen == [(0, ("L", "-", "-")), (1, ("L", "L", "-")), (2, ("L", "L", "L"))]
    assert fleet.versions() == ["v1", "v1", "v1"]
    assert not any(fleet.locked(i) for i in range(3))


def test_a_test_failing_on_the_second_host_puts_the_first_back_and_spares_the_third(
    fleet: Fleet,
) -> None:
    p = fleet.project
    old = deployed(fleet)
    p.configure(batch="1", test=FAIL_ON_MARKED_HOST)
    (fleet.servers[1].server_home / "fail-here").touch()
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("--json", "app")
    assert result.status == 7, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert [h["result"] for h in hosts] == ["rolled-back", "switched-back", "stopped"]
    new = fleet.history(0)[1][2]
    went_back = [(old[0], "deploy", "ok"), (new, "deploy", "ok")]
    went_back += [(old[0], "rollback", "ok"), (new, "deploy", "bad")]
    assert [went_back, went_back, [(old[0], "deploy", "ok")]] == [
        actions(fleet, i) for i in range(3)
    ]
    assert old == [fleet.live(i) for i in range(3)]
    assert fleet.versions() == ["v1", "v1", "v1"]
    assert [old[2]] == fleet.releases(2), "the third host's prepared release was removed"
    assert not any(fleet.locked(i) for i in range(3))


def test_migrate_runs_once_on_the_primary_in_the_new_release_before_any_switch(
    fleet: Fleet,
) -> None:
    p = fleet.project
    deployed(fleet)
    pwd = fleet.marks.with_name("pwd")
    migrate = f'{fleet.mark("migrated", versions=True)}; echo "$PWD" >> {pwd}; echo said-by-migrate'
    p.configure(migrate=migrate, primary=fleet.specs[1], post_deploy=fleet.mark("post-deploy"))
    p.origin.commit({"VERSION": "v2\n"})
    result = p.ok("app")  # no -v: the migration's output is shown all the same
    migrated = fleet.marks_of("migrated")
    assert [(m.host, m.seen) for m in migrated] == [(1, ("v1", "v1", "v1"))]
    assert migrated[0].time < min(m.time for m in fleet.marks_of("post-deploy"))
    new_release = os.path.realpath(fleet.roots[1] / "releases" / fleet.live(1))
    assert [new_release] == [os.path.realpath(line) for line in pwd.read_text().splitlines()]
    assert f"{fleet.specs[1]} migrate │ said-by-migrate" in result.stderr.splitlines()
    assert fleet.versions() == ["v2", "v2", "v2"]


def test_a_failing_migrate_changes_no_host_and_leaves_no_release_behind(fleet: Fleet) -> None:
    p = fleet.project
    old = deployed(fleet)
    before = [fleet.history(i) for i in range(3)]
    p.configure(migrate="echo the database says no; exit 3", primary=fleet.specs[1])
    p.origin.commit({"VERSION": "v2\n"})
    result = p.run("app")
    assert result.status == 6, result.stderr
    assert f"pushdeploy: error: {fleet.specs[1]}: migrate failed" in result.stderr
    assert old == [fleet.live(i) for i in range(3)]
    assert before == [fleet.history(i) for i in range(3)]
    assert [[old[i]] for i in range(3)] == [fleet.releases(i) for i in range(3)]
    assert not any(fleet.locked(i) for i in range(3))


def local_facts(path: os.PathLike[str]) -> dict[str, str]:
    with open(path) as fh:
        return dict(line.rstrip("\n").split("=", 1) for line in fh)


def test_pre_deploy_local_knows_the_environment_the_ref_and_the_hosts(fleet: Fleet) -> None:
    p = fleet.project
    p.configure(pre_deploy_local="env | grep ^PUSHDEPLOY_ > pre-deploy.env")
    p.ok("app")
    expected = {"PUSHDEPLOY_ENV": "app", "PUSHDEPLOY_REF": "main"}
    expected |= {"PUSHDEPLOY_HOSTS": " ".join(fleet.specs)}
    expected |= {f"PUSHDEPLOY_{name}": "" for name in ("SHA", "RELEASE", "OUTCOME", "DURATION")}
    assert expected == local_facts(p.base / "pre-deploy.env")


def test_a_failing_pre_deploy_local_contacts_no_host(fleet: Fleet) -> None:
    p = fleet.project
    old = deployed(fleet)
    before = [fleet.history(i) for i in range(3)]
    p.configure(pre_deploy_local="echo tests are red; exit 1")
    p.origin.commit({"VERSION": "v2\n"})
    logs = fleet.log_sizes()
    result = p.run("app")
    assert result.status == 6
    assert "local pre-deploy-local │ tests are red" in result.stderr.splitlines()
    assert result.error_lines == [
        "pushdeploy: error: pre-deploy-local exited with status 1; no host was contacted"
    ]
    assert fleet.counts(logs, "Connection from") == [0, 0, 0]
    assert before == [fleet.history(i) for i in range(3)]
    assert old == [fleet.live(i) for i in range(3)]


def test_post_deploy_local_hears_how_the_deploy_ended_whether_it_succeeded_or_not(
    fleet: Fleet,
) -> None:
    p = fleet.project
    p.configure(post_deploy_local='env | grep ^PUSHDEPLOY_ > "post-$PUSHDEPLOY_OUTCOME.env"')
    sha = p.origin.sha("main")
    p.ok("app")
    ok = local_facts(p.base / "post-ok.env")
    assert (sha, fleet.live(0), "ok") == (
        ok["PUSHDEPLOY_SHA"],
        ok["PUSHDEPLOY_RELEASE"],
        ok["PUSHDEPLOY_OUTCOME"],
    )
    assert re.fullmatch(r"\d+\.\d", ok["PUSHDEPLOY_DURATION"])
    p.configure(build=FAIL_ON_MARKED_HOST)
    (fleet.servers[2].server_home / "fail-here").touch()
    sha = p.origin.commit({"VERSION": "v2\n"})
    assert p.run("app").status == 6
    failed = local_facts(p.base / "post-failed.env")
    assert (sha, "failed") == (failed["PUSHDEPLOY_SHA"], failed["PUSHDEPLOY_OUTCOME"])
    assert failed["PUSHDEPLOY_RELEASE"].endswith(f"-{sha[:7]}")


@pytest.mark.parametrize("client", ["paramiko", "openssh"])
def test_a_deploy_and_a_revert_each_use_one_connection_and_one_session_per_host(
    fleet: Fleet, client: str
) -> None:
    """With either SSH client (``ssh``): a fleet's go-live barrier, one connection per host."""
    p = fleet.project
    p.configure(ssh=client)
    deployed(fleet)
    logs = fleet.log_sizes()
    p.deploy_new("v2", "app")
    assert fleet.counts(logs, "Connection from") == [1, 1, 1]
    assert fleet.counts(logs, "Starting session:") == [1, 1, 1]
    logs = fleet.log_sizes()
    p.ok("app", "revert")
    assert fleet.counts(logs, "Connection from") == [1, 1, 1]
    assert fleet.counts(logs, "Starting session:") == [1, 1, 1]
    assert fleet.versions() == ["v1", "v1", "v1"]


def test_each_release_has_a_private_run_log_on_each_host_that_goes_when_it_is_pruned(
    fleet: Fleet,
) -> None:
    p = fleet.project
    p.configure(keep="1", post_deploy="echo said-by-post-deploy")
    first = deployed(fleet)[0]
    for i in range(3):
        log = fleet.run_log(i, first)
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert "out said-by-post-deploy" in log.read_text().splitlines()
    p.deploy_new("v2", "app")
    p.deploy_new("v3", "app")  # keep = 1: the first release is neither live nor previous any more
    for i in range(3):
        kept = fleet.releases(i)
        assert first not in kept
        runs = sorted(path.name for path in fleet.run_log(i, first).parent.iterdir())
        assert [f"{release}.log" for release in kept] == runs
