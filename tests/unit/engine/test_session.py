"""Sessions, in-process: a fleet's barrier, interrupts and where they leave each host.

A scripted fake transport stands in for the servers: each host plays a list of moves (print a
marker, wait for the client's "go" or for the end of its input, end with a status), so every
path of ``Session.phase`` and ``Rollout`` runs here in milliseconds; the real-sshd tests in
tests/integration prove the same paths end to end.
"""

from __future__ import annotations

import _thread
import io
import threading
from pathlib import Path

import pytest

from pushdeploy import sources
from pushdeploy.config import deployconf as config
from pushdeploy.config.hosts import Host
from pushdeploy.console import Console
from pushdeploy.engine import deploy
from pushdeploy.engine.parallel import Parallel
from pushdeploy.engine.rollout import Rollout
from pushdeploy.engine.session import Session, left_at
from pushdeploy.errors import DeployFailed, Interrupted
from pushdeploy.remote import protocol
from pushdeploy.transport.streams import Control, OnLine

SHA = "0123456789abcdef" * 2 + "01234567"
WAIT = 10.0  # no fake waits longer than this for the client's word


class Fake:
    """One host's scripted run. Moves: ("say", line) a line on stdout; ("go",) wait for the
    client's go (or the end of input: then stop as the guard would); ("end",) wait for the end
    of input; ("ctrl-c",) interrupt the main thread; ("meet",) wait for the other fakes;
    ("hang",) wait until the test releases it; a number: end with that status."""

    def __init__(
        self, label: str, moves: list[tuple[str, ...] | int], meet: threading.Barrier | None = None
    ) -> None:
        self.label, self.moves, self.meet = label, moves, meet
        self.received = b""
        self.ended = threading.Event()
        self.released = threading.Event()
        self.got = threading.Condition()

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int:
        assert control is not None
        control.attach(self._write, self._end)
        for move in self.moves:
            if isinstance(move, int):
                return move
            if move[0] == "say":
                on_line("out", protocol.PREFIX + move[1])
            elif move[0] == "ctrl-c":
                _thread.interrupt_main()
            elif move[0] == "go":
                with self.got:
                    arrived = self.got.wait_for(
                        lambda: b"go\n" in self.received or self.ended.is_set(), WAIT
                    )
                if not arrived or self.ended.is_set():
                    on_line("out", protocol.PREFIX + "fail interrupted stopped before going live")
                    return protocol.EXIT_ABORTED
            elif move[0] == "end" and not self.ended.wait(WAIT):
                return 99
            elif move[0] == "meet" and self.meet is not None:  # every fake has started
                self.meet.wait(WAIT)
            elif move[0] == "hang":  # until the test is over: a host that does not answer
                self.released.wait(WAIT)
        return 0

    def _end(self) -> None:
        with self.got:
            self.ended.set()
            self.got.notify_all()

    def _write(self, data: bytes) -> None:
        with self.got:
            self.received += data
            self.got.notify_all()

    def interactive(self, command: str) -> int:
        return 0

    def close(self) -> None:
        self._end()


def session(tmp_path: Path, fakes: dict[str, Fake]) -> Session:
    hosts = " ".join(fakes)
    conf = tmp_path / "deploy.conf"
    conf.write_text(f"[app]\nhost = {hosts}\nrepo = /r\npath = /srv/app\n", encoding="utf-8")
    env = config.load(conf, "app")
    console = Console(io.StringIO(), io.StringIO())

    def opener(env: config.Environment, host: Host, warn: object, key: str) -> Fake:
        return fakes[host.spec]

    return Session(env, console, source=sources.of(env), command="test", opener=opener)  # type: ignore[arg-type]


def prepared(release: str = "20240101T000000Z-0123456", sha: str = SHA) -> list[tuple[str, ...]]:
    return [
        ("say", "step build"),
        ("say", f"value sha {sha}"),
        ("say", f"value release {release}"),
        ("say", "value previous "),
        ("say", "value prepared yes"),
    ]


def live(release: str = "20240101T000000Z-0123456") -> list[tuple[str, ...] | int]:
    return [("say", f"value live {release}"), ("say", "value checked yes"), ("say", "done"), 0]


def test_every_host_goes_live_only_once_all_have_prepared(tmp_path: Path) -> None:
    fakes = {h: Fake(h, [*prepared(), ("go",), *live()]) for h in ("a1", "a2", "a3")}
    report = deploy.deploy(session(tmp_path, fakes), "main")
    assert {h.host: (h.status, h.result, h.live) for h in report.hosts} == {
        h: (0, "ok", "20240101T000000Z-0123456") for h in fakes
    }
    assert [f.received for f in fakes.values()] == [b"go\n"] * 3


def test_a_host_failing_to_prepare_stops_the_others_at_the_barrier(tmp_path: Path) -> None:
    fakes = {
        "a1": Fake("a1", [*prepared(), ("go",), *live()]),
        "a2": Fake(
            "a2", [("say", "step build"), ("say", "fail build 'build' exited with status 2"), 1]
        ),
        "a3": Fake("a3", [*prepared(), ("go",), *live()]),
    }
    with pytest.raises(DeployFailed) as caught:
        deploy.deploy(session(tmp_path, fakes), "main")
    assert caught.value.message == "a2: build failed: 'build' exited with status 2"
    assert caught.value.status == 6
    assert [f.received for f in fakes.values()] == [b"stop\n"] * 3  # nobody was told to go


def test_hosts_that_resolve_different_commits_all_stop(tmp_path: Path) -> None:
    fakes = {
        "a1": Fake("a1", [*prepared(sha=SHA), ("go",), *live()]),
        "a2": Fake("a2", [*prepared(sha="f" * 40), ("go",), *live()]),
    }
    with pytest.raises(DeployFailed) as caught:
        deploy.deploy(session(tmp_path, fakes), "main")
    assert caught.value.message == (
        "the hosts resolved the ref to different commits (a1 0123456, a2 fffffff)"
    )
    assert all(f.ended.is_set() for f in fakes.values())


def test_ctrl_c_asks_every_host_to_stop_and_says_where_each_was_left(tmp_path: Path) -> None:
    meet = threading.Barrier(2)
    fakes = {
        "a1": Fake(
            "a1",
            [
                ("say", "step build"),
                ("meet",),
                ("ctrl-c",),
                ("end",),
                ("say", "fail interrupted x"),
                protocol.EXIT_ABORTED,
            ],
            meet,
        ),
        "a2": Fake(
            "a2",
            [
                ("say", "value live 20240101T000000Z-0123456"),
                ("meet",),
                ("end",),
                ("say", "value checked yes"),
                ("say", "done"),
                0,
            ],
            meet,
        ),
    }
    with pytest.raises(Interrupted) as caught:
        session(tmp_path, fakes).phase({"a1": "s", "a2": "s"})
    assert caught.value.status == 130
    assert caught.value.details == [
        "a1: stopped before going live and left unchanged (the half-built release is removed)",
        "a2: 20240101T000000Z-0123456 is live and passed its checks",
    ]


def test_a_second_ctrl_c_stops_waiting_and_says_what_is_known(tmp_path: Path) -> None:
    moves: list[tuple[str, ...] | int] = [("say", "step build"), ("ctrl-c",), ("end",)]
    fake = Fake("a1", [*moves, ("say", "step more"), ("ctrl-c",), ("hang",), 0])
    with pytest.raises(Interrupted) as caught:
        session(tmp_path, {"a1": fake}).phase({"a1": "s"})
    fake.released.set()
    assert caught.value.details == [
        "a1: stopped waiting at step more; the server stops there on its own and is left unchanged"
        " (the half-built release is removed)"
    ]


@pytest.mark.parametrize(
    ("values", "status", "expected"),
    [
        ({"live": "R"}, -2, "R went live; the server finishes its checks on its own and switches back if they fail"),
        ({"live": "R", "checked": "yes"}, -2, "R is live and passed its checks"),
        ({"live": "R"}, protocol.EXIT_SWITCHED_BACK, "R went live, then was switched back: why"),
        ({}, protocol.EXIT_ABORTED, "stopped before going live and left unchanged (the half-built release is removed)"),
        ({}, 6, "why"),
    ],
)  # fmt: skip
def test_left_at(values: dict[str, str], status: int, expected: str) -> None:
    outcome = protocol.Outcome(status, values=values, failure="why")
    assert left_at(outcome) == expected


@pytest.mark.parametrize(
    ("values", "status", "then"),
    [
        ({}, 6, "; its guard stops what it started, removes the half-built release and drops the lock: the host is left unchanged"),
        ({"live": "R"}, 7, " after going live; its guard has it switched back to the previous release within a second"),
        ({"live": "R", "checked": "yes"}, 6, "; its guard stops what it started, removes the half-built release and drops the lock: the host is left unchanged"),
    ],
)  # fmt: skip
def test_a_script_killed_on_the_server_says_what_its_guard_does(
    values: dict[str, str], status: int, then: str
) -> None:
    error = deploy.failure("h", protocol.Outcome(protocol.KILLED, values=values, steps=["build"]))
    assert (error.status, error.message) == (
        status,
        f"h: the script on the server was killed at step build{then}",
    )


def test_a_full_disk_is_exit_6_and_says_whether_it_had_gone_live() -> None:
    outcome = protocol.Outcome(
        protocol.EXIT_DISK_FULL, failure="x: the disk holding /srv is full (0 KiB free)"
    )
    assert deploy.failure("h", outcome).status == 6
    outcome.values["live"] = "R"
    assert deploy.failure("h", outcome).message.endswith("it had gone live and was switched back")


def test_parallel_join_can_be_interrupted_and_resumed() -> None:
    release = threading.Event()
    work = Parallel({"a": 1, "b": 2})
    work.start(lambda n: (release.wait(WAIT), n * 10)[1])
    threading.Timer(0.05, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        work.join()
    release.set()
    assert work.join() == {"a": 10, "b": 20}


def test_a_rollout_tells_nobody_to_go_once_a_host_left_before_it_prepared() -> None:
    controls = {h: Control() for h in ("a", "b")}
    sent: dict[str, list[bytes]] = {h: [] for h in controls}
    for h, control in controls.items():
        control.attach(sent[h].append, lambda: None)
    rollout = Rollout([["a", "b"]])
    rollout.meet(controls)
    rollout.leave("a", protocol.Outcome(1))
    rollout.arrive("b", protocol.Outcome(0, values={"sha": SHA}))
    rollout.conduct()
    assert sent == {"a": [b"stop\n"], "b": [b"stop\n"]} and all(c.ended for c in controls.values())


def test_an_end_before_the_command_starts_is_applied_when_it_does() -> None:
    control, closed = Control(), []
    control.end()
    control.attach(lambda data: None, lambda: closed.append(True))
    assert closed == [True]
