"""A pull fleet for real: three `pushdeploy ENV watch` processes, each deploying to its own server
(`host = local`), taking turns through a real etcd. Never more than `batch` mid-update at once,
and a watcher killed mid-update gives its turn back when its lease expires."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import wait_until
from tests.support.cli import run_cli
from tests.support.etcdserver import EtcdServer
from tests.support.faults import CliProcess
from tests.support.gitrepo import Origin

LEASE = 2  # seconds: rollout-lease, so a killed watcher's turn comes back soon
NAMES = ("web1", "web2", "web3")


class PullFleet:
    """Three servers' deploy roots and watchers sharing an origin, an etcd prefix and a marks
    file where each build says when it began and ended (`enter NAME TIME`, `leave NAME TIME`)."""

    def __init__(self, base: Path, etcd: EtcdServer) -> None:
        self.base, self.marks, self.gates = base, base / "marks", base / "gates"
        self.gates.mkdir()
        self.origin = Origin(base / "origin")
        self.origin.commit({"VERSION": "v1\n"}, "v1")
        rollout = etcd.rollout(f"pushdeploy/{uuid.uuid4().hex[:8]}")
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
            conf = base / name / "deploy.conf"
            conf.parent.mkdir()
            conf.write_text(
                f"[app]\nhost = local\nrepo = {self.origin.path}\npath = {self.roots[name]}\n"
                f"ref = main\ninterval = 1\nrollout = {rollout}\nbatch = 1\n"
                f"rollout-lease = {LEASE}\nrollout-name = {name}\n"
                "build =\n" + "".join(f"    {line}\n" for line in build.splitlines())
            )
            setup = run_cli("-c", conf, "app", "setup")
            assert setup.status == 0, setup.stderr
            self.watchers[name] = CliProcess("-c", conf, "app", "watch")

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
