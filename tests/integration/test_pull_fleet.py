"""A pull fleet for real: three `pushdeploy ENV watch` processes, each deploying to its own server
(`host = local`), taking turns through a real etcd. Never more than `batch` mid-update at once,
and a watcher killed mid-update gives its turn back when its lease expires."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushdeploy.watch.turns import fleet
from tests.integration.conftest import wait_until
from tests.support.cli import run_cli
from tests.support.etcdserver import EtcdServer
from tests.support.faults import CliProcess
from tests.support.gitrepo import Origin

LEASE = 2  # seconds: rollout-lease, so a killed watcher's turn comes back soon
NAMES = ("web1", "web2", "web3")


class PullFleet:
    """Three servers' deploy roots and watchers sharing an origin, an etcd prefix and a marks
    file where each build says when it began and ended (`enter NAME TIME`, `leave NAME TIME`);
    a server's `test` fails while the gate `fail-NAME` exists."""

    def __init__(self, base: Path, etcd: EtcdServer) -> None:
        self.base, self.marks, self.gates = base, base / "marks", base / "gates"
        self.gates.mkdir()
        self.origin = Origin(base / "origin")
        self.origin.commit({"VERSION": "v1\n"}, "v1")
        rollout = self.rollout = etcd.rollout(f"pushdeploy/{uuid.uuid4().hex[:8]}")
        self.roots = {name: base / name / "root" for name in NAMES}
        self.watchers: dict[str, CliProcess] = {}
        for name in NAMES:
            # Each build marks its start, waits for its gate when one is asked for, marks its end.
            build = (
                f'echo "enter {name} $(date +%s.%N)" >> {self.marks}\n'
                f"if [ -e {self.gates}/hold ]; then n=0; while [ ! -e {self.gates}/go-{name} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; fi\n"
                f"sleep 0.3\n"
                f'echo "leave {name} $(date +%s.%N)" >> {self.marks}'
            )
            conf = self.conf(name)
            conf.parent.mkdir()
            conf.write_text(
                f"[app]\nhost = local\nrepo = {self.origin.path}\npath = {self.roots[name]}\n"
                f"ref = main\ninterval = 1\nrollout = {rollout}\nbatch = 1\n"
                f"rollout-lease = {LEASE}\nrollout-name = {name}\n"
                f"test = test ! -e {self.gates}/fail-{name}\n"  # a test that fails when asked
                "build =\n" + "".join(f"    {line}\n" for line in build.splitlines())
            )
            setup = run_cli("-c", conf, "app", "setup")
            assert setup.status == 0, setup.stderr
            self.watchers[name] = CliProcess("-c", conf, "app", "watch")

    def conf(self, name: str) -> Path:
        return self.base / name / "deploy.conf"

    def live(self, name: str) -> str:
        """The release live on server ``name`` (its ID), or "" when none is."""
        current = self.roots[name] / "current"
        return os.readlink(current).rpartition("/")[2] if current.is_symlink() else ""

    def version(self, name: str) -> str:
        try:
            return (self.roots[name] / "current" / "VERSION").read_text().strip()
        except OSError:
            return ""

    def all_on(self, version: str) -> bool:
        return all(self.version(name) == version for name in NAMES)

    def spans(self) -> list[tuple[str, float, float]]:
        """(name, entered, left) of each build; one still inside has left = inf."""
        open_: dict[str, float] = {}
        spans = []
        for line in self.marks.read_text().splitlines() if self.marks.exists() else []:
            word, name, when = line.split()
            if word == "enter":
                open_[name] = float(when)
            else:
                spans.append((name, open_.pop(name), float(when)))
        return spans + [(name, start, float("inf")) for name, start in open_.items()]

    def close(self) -> None:
        for watcher in self.watchers.values():
            watcher.close()


def most_at_once(spans: list[tuple[str, float, float]]) -> int:
    edges = sorted([(start, 1) for _, start, _ in spans] + [(end, -1) for _, _, end in spans])
    inside = most = 0
    for _, step in edges:
        inside += step
        most = max(most, inside)
    return most


@pytest.fixture
def pull(tmp_path: Path, etcd: EtcdServer) -> Iterator[PullFleet]:
    fleet = PullFleet(tmp_path, etcd)
    try:
        yield fleet
    finally:
        fleet.close()


def test_three_watchers_take_turns_and_a_killed_ones_turn_comes_back(pull: PullFleet) -> None:
    wait_until(lambda: pull.all_on("v1"), 60, "every server on v1")
    pull.origin.commit({"VERSION": "v2\n"}, "v2")
    wait_until(lambda: pull.all_on("v2"), 60, "every server on v2")
    assert most_at_once(pull.spans()) == 1
    assert len(pull.spans()) == 6  # two builds each: v1 and v2

    # v3: the first server to get its turn holds it (its build waits) and is killed there.
    (pull.gates / "hold").touch()
    pull.origin.commit({"VERSION": "v3\n"}, "v3")
    wait_until(lambda: len(pull.spans()) == 7, 30, "the first build of v3 to begin")
    holder = pull.spans()[-1][0]
    assert pull.spans()[-1][2] == float("inf")
    pull.watchers[holder].send(signal.SIGKILL)
    killed = time.time()
    others = [name for name in NAMES if name != holder]
    for name in others:
        (pull.gates / f"go-{name}").touch()
    wait_until(lambda: all(pull.version(n) == "v3" for n in others), 30, "the others on v3")
    later = [start for name, start, _ in pull.spans() if name in others and start > killed]
    assert len(later) == 2
    waited = min(later) - killed
    assert waited < LEASE + 3, f"the killed watcher's turn came back after {waited:.1f}s"
    finished = [span for span in pull.spans() if span[2] != float("inf")]
    assert most_at_once(finished) == 1
    print(f"turn back {waited:.2f}s after kill -9 (rollout-lease {LEASE}s)")


def test_a_converged_fleet_is_no_drift_though_each_server_names_its_own_release(
    pull: PullFleet,
) -> None:
    """Each watcher stamps its release with its own time: three IDs of one commit, no drift."""
    sha = pull.origin.sha("main")

    def converged() -> bool:
        records = [(m.name, m.release, m.identity, m.outcome) for m in fleet(pull.rollout, None)]
        return pull.all_on("v1") and records == [(n, pull.live(n), sha, "ok") for n in NAMES]

    wait_until(converged, 60, "every server on v1, and its record saying so")
    assert len({pull.live(name) for name in NAMES}) > 1  # batch = 1: one after another
    result = run_cli("-c", pull.conf("web1"), "app", "status", "--json")
    said = json.loads(result.stdout)
    assert (result.status, said["drift"]) == (0, []), result.stderr
    assert [(m["release"], m["identity"]) for m in said["fleet"]] == [
        (pull.live(name), sha) for name in NAMES
    ]


def test_a_server_whose_deploy_failed_counts_on_the_release_it_kept(pull: PullFleet) -> None:
    """web2's test fails on v2: it switches back, records v1's release, and status says so."""
    wait_until(lambda: pull.all_on("v1"), 60, "every server on v1")
    kept = pull.live("web2")
    (pull.gates / "fail-web2").touch()
    pull.origin.commit({"VERSION": "v2\n"}, "v2")
    sha = pull.origin.sha("main")

    def recorded() -> dict[str, tuple[str, str, str]]:
        return {m.name: (m.release, m.identity, m.outcome) for m in fleet(pull.rollout, None)}

    def settled() -> bool:
        return recorded().get("web2") == (kept, sha, "switched-back") and all(
            recorded().get(n) == (pull.live(n), sha, "ok") and pull.version(n) == "v2"
            for n in ("web1", "web3")
        )

    wait_until(settled, 60, "web1 and web3 on v2, web2 back on v1 and its record saying so")
    assert pull.version("web2") == "v1"
    result = run_cli("-c", pull.conf("web1"), "app", "status", "--json")
    assert (result.status, json.loads(result.stdout)["drift"]) == (
        9,
        [
            f"fleet: servers on different releases: {sha[:12]} on web1, web3; {kept[-7:]} on web2",
            f"fleet: web2: its last deploy {sha[:12]} ended switched-back",
        ],
    )
