"""Pull fleets take turns through a real etcd: never more than ``batch`` inside, a killed
watcher's turn comes back within its lease, and ``status`` shows every server's record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pushdeploy.config.values import BatchSize
from pushdeploy.errors import ConnectionError, ExitStatus, LockHeld
from pushdeploy.watch.etcd import Etcd, parse_rollout, range_end
from pushdeploy.watch.turns import Member, Turns, fleet
from tests.integration.conftest import Project, wait_until
from tests.support.etcdserver import EtcdServer
from tests.support.sshd import free_port

REPO = Path(__file__).resolve().parents[2]
TTL = 2  # seconds: etcd's shortest lease with its default timings
# A watcher: waits for a turn, says when it entered and when it leaves (inside its turn), and
# holds the turn for HOLD seconds of "work" in between.
WATCHER = """
import sys, time
from pushdeploy.watch.turns import Turns
rollout, name, size, hold, log, ttl = sys.argv[1:]
def say(word):
    with open(log, "a") as f:
        f.write(f"{word} {time.monotonic()}\\n")
with Turns(rollout, name, int(size), ttl=int(ttl)).turn(timeout=30):
    say("enter")
    time.sleep(float(hold))
    say("leave")
"""


@pytest.fixture
def rollout(etcd: EtcdServer) -> str:
    """A prefix of this test's own in the shared etcd."""
    return etcd.rollout(f"pushdeploy/{uuid.uuid4().hex[:8]}")


Watchers = Callable[[int, float, list[str]], list[subprocess.Popen[bytes]]]


@pytest.fixture
def watchers(rollout: str, tmp_path: Path) -> Iterator[Watchers]:
    """Start watcher processes (size, hold, names); every one is killed after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def logged(name: str) -> list[str]:
        return [str(tmp_path / f"{name}.log"), str(TTL)]

    def start(size: int, hold: float, names: list[str]) -> list[subprocess.Popen[bytes]]:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WATCHER, rollout, name, str(size), str(hold), *logged(name)],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stderr=subprocess.PIPE,
            )
            for name in names
        ]
        started.extend(procs)
        return procs

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def said(tmp_path: Path, name: str) -> dict[str, float]:
    path = tmp_path / f"{name}.log"
    lines = path.read_text().split("\n") if path.exists() else []
    return {word: float(at) for word, _, at in (line.partition(" ") for line in lines if line)}


def most_inside(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that overlapped at any one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    inside = most = 0
    for _, step in events:
        inside += step
        most = max(most, inside)
    return most


def finished(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for proc in procs:
        _, err = proc.communicate(timeout=40)
        assert proc.returncode == 0, err.decode()
    return [proc.returncode for proc in procs]


@pytest.mark.parametrize(("size", "names"), [(1, ["a", "b", "c"]), (2, ["a", "b", "c", "d"])])
def test_never_more_than_size_watchers_are_inside_and_every_one_gets_a_turn(
    watchers: Watchers, tmp_path: Path, size: int, names: list[str]
) -> None:
    assert finished(watchers(size, 0.8, names)) == [0] * len(names)
    intervals = [(said(tmp_path, n)["enter"], said(tmp_path, n)["leave"]) for n in names]
    assert size == most_inside(intervals)


def test_a_watcher_killed_mid_turn_gives_it_back_within_its_lease(
    watchers: Watchers, rollout: str, etcd: EtcdServer, tmp_path: Path
) -> None:
    [victim] = watchers(1, 60, ["victim"])
    wait_until(lambda: "enter" in said(tmp_path, "victim"), 15, "the victim's turn")
    waiting = watchers(1, 0.2, ["next1", "next2"])
    queue = rollout.split("/", 3)[3]
    client = Etcd("127.0.0.1", etcd.port)
    wait_until(lambda: client.count(f"/{queue}/turns/") == 3, 15, "three in the queue")
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert finished(waiting) == [0, 0]
    entered = [said(tmp_path, n)["enter"] for n in ("next1", "next2")]
    assert killed < min(entered) < killed + TTL + 2.5, f"took {min(entered) - killed:.2f}s"
    intervals = [(said(tmp_path, "victim")["enter"], killed)]
    intervals += [
        (said(tmp_path, n)["enter"], said(tmp_path, n)["leave"]) for n in ("next1", "next2")
    ]
    assert most_inside(intervals) == 1


def test_a_holder_whose_lease_ends_learns_it_has_lost_its_turn(
    rollout: str, etcd: EtcdServer
) -> None:
    with Turns(rollout, "web1", 1, ttl=TTL).turn() as turn:
        Etcd("127.0.0.1", etcd.port).revoke(turn.lease)
        wait_until(turn.lost.is_set, TTL + 2, "the lost turn")
    assert f"lost its turn: its lease expired in etcd at {etcd.endpoint}" == turn.why


def test_no_turn_within_the_timeout_is_lock_held_naming_the_holders(rollout: str) -> None:
    web1, web2 = Turns(rollout, "web1", 1, ttl=TTL), Turns(rollout, "web2", 1, ttl=TTL)
    with web1.turn(), pytest.raises(LockHeld) as raised, web2.turn(timeout=0.5):
        pass
    assert raised.value.message == "no turn within 0.5s: all 1 held by web1"
    assert fleet(rollout, None) == []  # both turns given back, no record written


def test_etcd_out_of_reach_is_a_one_line_connection_error_with_a_hint() -> None:
    port = free_port()
    with (
        pytest.raises(ConnectionError) as raised,
        Turns(f"etcd://127.0.0.1:{port}/x", "a", 1).turn(),
    ):
        pass
    assert raised.value.message.startswith(f"etcd at 127.0.0.1:{port}: cannot reach it: ")
    assert "\n" not in raised.value.message
    assert f"'curl http://127.0.0.1:{port}/health'" in raised.value.hint


@pytest.fixture
def pulled(tmp_path: Path, rollout: str) -> Project:
    """A server of a pull fleet (host = local, rollout set), set up, with its first deploy."""
    project = Project(tmp_path, "host = local", {"rollout": rollout})
    project.ok("app", "setup")
    project.ok("app")
    return project


def fleet_table(stdout: str, rollout: str) -> list[list[str]]:
    lines = stdout.split(f"fleet in {rollout}:\n", 1)[1].splitlines()
    return [line.split() for line in lines]


def test_status_shows_each_servers_record_and_who_holds_a_turn(
    pulled: Project, rollout: str
) -> None:
    release, sha = pulled.live_release, pulled.origin.sha("main")
    web1, web2 = Turns(rollout, "web1", 1, ttl=TTL), Turns(rollout, "web2", 1, ttl=TTL)
    web1.record_live(release, sha, "ok")
    web2.record_live(release, sha, "ok")
    with web2.turn():
        result = pulled.run("app", "status")
        held = pulled.run("app", "status", "--json")
    at = [m.at for m in fleet(rollout, None)]
    assert (result.status, fleet_table(result.stdout, rollout)) == (
        0,
        [
            ["server", "release", "identity", "outcome", "when", "turn"],
            ["web1", release, sha[:12], "ok", at[0], "-"],
            ["web2", release, sha[:12], "ok", at[1], "holds"],
        ],
    )
    assert json.loads(held.stdout)["fleet"][1] == {
        "name": "web2",
        "release": release,
        "identity": sha,
        "outcome": "ok",
        "at": at[1],
        "turn": "holds",
    }


def test_status_flags_a_fleet_on_two_releases_and_a_failed_deploy_as_drift(
    pulled: Project, rollout: str
) -> None:
    Turns(rollout, "web1", 1).record_live(pulled.live_release, "a" * 40, "ok")
    Turns(rollout, "web2", 1).record_live("20240101T000000Z-0000000", "b" * 40, "failed")
    result = pulled.run("app", "status", "--json")
    assert (result.status, json.loads(result.stdout)["drift"]) == (
        ExitStatus.DRIFT,
        [
            "fleet: servers on different releases: aaaaaaaaaaaa on web1; 0000000 on web2",
            "fleet: web2: its last deploy bbbbbbbbbbbb ended failed",
        ],
    )


def test_status_with_etcd_out_of_reach_is_exit_4(pulled: Project) -> None:
    pulled.configure(rollout=f"etcd://127.0.0.1:{free_port()}/app")
    result = pulled.run("app", "status")
    assert result.status == ExitStatus.CONNECTION
    assert result.error_lines[0].startswith("pushdeploy: error: etcd at 127.0.0.1:")


def test_records_other_servers_wrote_are_read_field_by_field(rollout: str) -> None:
    client, prefix = parse_rollout(rollout)
    client.put(f"{prefix}/live/odd", b"not json")
    hostile = {"release": ["x"], "identity": 5, "outcome": "\x1b[2J" * 200, "at": None}
    client.put(f"{prefix}/live/evil", json.dumps(hostile).encode())
    assert fleet(rollout, None) == [
        Member("evil", outcome="\x1b[2J" * 75 + "…"),  # cut; the console escapes it
        Member("odd"),
    ]


def test_a_percentage_batch_is_a_share_of_the_servers_that_recorded_a_release(rollout: str) -> None:
    client, prefix = parse_rollout(rollout)
    for name in ("web1", "web2", "web3", "web4"):
        client.put(f"{prefix}/live/{name}", b"{}")
    for name in ("web3", "web1", "web4"):  # the queue, oldest first
        client.put(f"{prefix}/turns/{name}-{uuid.uuid4().hex}", b"{}")
    turns = {m.name: m.turn for m in fleet(rollout, BatchSize(50, percent=True))}
    assert turns == {"web1": "holds", "web2": "", "web3": "holds", "web4": "waits"}


@pytest.mark.parametrize(
    ("prefix", "end"), [(b"/a/", b"/a0"), (b"a\xff", b"b"), (b"a\xff\xff", b"b"), (b"\xff", b"\0")]
)
def test_a_prefix_ends_at_the_first_key_after_all_of_its_keys(prefix: bytes, end: bytes) -> None:
    assert range_end(prefix) == end
