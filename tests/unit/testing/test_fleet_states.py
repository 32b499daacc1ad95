"""Random sequences of deploys, reverts, faults and interrupts on the fake fleet keep the promises.

A Hypothesis state machine (issue 18) runs the command line in-process (tests/support/fakefleet.py)
against a fresh fake fleet of one to three hosts per example: deploys of a new commit each (all
at once, or with ``--batch 1``), ``revert`` and ``revert 2``, each with faults drawn per host:
a failing build (before going live) or test (after), a connection dropped at a step, a host that
cannot be reached, a lock held by someone else (given up after the command), the script killed at
a step (its guard cleans up), the client interrupted at a step (Ctrl-C; at most one per command),
and a failing, dropped or killed rollback. After each command ``invariants.violations`` must find
nothing, and neither may ``unexpected``, which knows what the engine must do from a model of each
host's history (``Model``): a command without faults exits 0 (8: a revert the histories cannot
make on one commit), exit 10 names each host not back where it was, and 130 only comes from an
interrupt, each host then being where its line says. The fake's scripts are held to the real
ones by tests/integration/test_fake_matches_scripts.py.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from pushdeploy.errors import ExitStatus
from pushdeploy.testing.fake import FakeFleet
from pushdeploy.testing.fakehost import FakeHost
from pushdeploy.testing.invariants import of_fake, violations
from tests.support.cli import Result
from tests.support.fakefleet import FLEET, OLD, OLDER, fleet, host, run

OWNER = "ann@laptop (pid 7, since 2026-11-30T07:00:00Z, running: deploy main)"
FIRST = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)  # the first new commit's release time
# Steps the fake says with fakefleet's config (a build and a test), per kind of script.
STEPS = {
    "deploy": (
        "lock",
        "pre-deploy",
        "fetch",
        "resolve",
        "release",
        "build",
        "switch",
        "restart",
        "test",
        "prune",
    ),
    "revert": ("lock", "switch", "restart", "test"),
    "rollback": ("lock", "rollback"),
}
ENDS = frozenset(s.value for s in ExitStatus) - {ExitStatus.ERROR, ExitStatus.DRIFT}
DETAIL = re.compile(r"^\s*│ (\S+): (.*)$", re.MULTILINE)  # where an interrupt left a host


@dataclass(frozen=True)
class Fault:
    """How a host misbehaves during one command: ``what``, in scripts of ``kind``, at ``step``."""

    what: str  # fail, drop, kill, interrupt; unreachable, lock (of the whole command)
    kind: str = ""
    step: str = ""

    def __repr__(self) -> str:
        return " ".join(filter(None, (self.what, self.kind, self.step)))

    def apply(self, host: FakeHost) -> None:
        if self.what == "unreachable":
            host.unreachable = True
        elif self.what == "lock":
            host.lock = OWNER
        else:
            getattr(host, f"{self.what}_at")[self.kind] = self.step


def faults(command: str) -> list[Fault]:
    """What may go wrong on a host during ``command`` (deploy, revert), its rollback included."""
    found = [Fault("unreachable"), Fault("lock")]
    failing = {"deploy": ("build", "test"), "revert": ("test",), "rollback": ("rollback",)}
    for kind in (command, "rollback"):
        found += [Fault("fail", kind, step) for step in failing[kind]]
        found += [Fault(what, kind, step) for what in ("drop", "kill") for step in STEPS[kind]]
    return found + [Fault("interrupt", command, step) for step in STEPS[command]]


def behave(host: FakeHost) -> None:
    """No fault any more (the lock's holder has given it up)."""
    for told in (host.fail_at, host.drop_at, host.kill_at, host.interrupt_at):
        told.clear()
    host.unreachable, host.lock = False, ""


def where_said(detail: str, before: str, asked: str) -> set[str]:
    """What a host may serve after an interrupt, by its line (session.left_at)."""
    if "left unchanged" in detail or "then was switched back" in detail:
        return {before}
    if "is live and passed its checks" in detail:
        return {detail.split()[0]}
    if "went live; the server finishes its checks" in detail:
        return {detail.split()[0], before}
    return {before, asked}


@dataclass
class Model:
    """What each host has deployed (its ``deploy ok`` lines, in order: what ``revert`` counts)."""

    deployed: dict[str, list[str]] = field(default_factory=dict)

    def learn(self, name: str, lines: list[str]) -> None:
        for line in lines:
            fields = line.split("\t")
            if fields[5:7] == ["deploy", "ok"]:
                self.deployed[name].append(fields[2])

    def revert_target(self, host: FakeHost, steps: int) -> str:
        """The release ``revert STEPS`` goes to (README "Revert"), or "" when it cannot."""
        bad = {line.split("\t")[2] for line in host.history if line.endswith("\tbad")}
        done = self.deployed[host.name]
        if host.live not in done:
            return ""
        before = done[: len(done) - done[::-1].index(host.live) - 1]
        earlier = [r for r in before if r not in bad and r != host.live]
        return earlier[-steps] if steps <= len(earlier) else ""


class FleetStates(RuleBasedStateMachine):
    """A fake fleet, the commands run on it and the faults met, the promises checked after each."""

    def __init__(self, base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.base, self.monkeypatch = base, monkeypatch
        self.fake = FakeFleet()
        self.model = Model()
        self.commits = 0

    @initialize(size=st.sampled_from((2, 3, 1)), fresh=st.booleans())
    def a_fleet(self, size: int, fresh: bool) -> None:
        """``size`` hosts, live on OLD (OLDER before it), or ``fresh``: set up, nothing live."""
        names = FLEET[:size]
        hosts = [FakeHost(name) if fresh else host(name) for name in names]
        self.fake = fleet(self.base, self.monkeypatch, *hosts)
        self.model = Model({name: [] if fresh else [OLDER, OLD] for name in names})

    @rule(data=st.data(), batch=st.booleans())
    def deploy(self, data: st.DataObject, batch: bool) -> None:
        """A new commit, deployed to every host (one host at a time: ``batch``)."""
        self.commits += 1
        sha = hashlib.sha1(str(self.commits).encode()).hexdigest()
        stamp = FIRST + datetime.timedelta(minutes=self.commits)
        self.fake.stamp = stamp.strftime("%Y%m%dT%H%M%SZ")
        for fake in self.fake.hosts.values():
            fake.sha = sha
        asked = dict.fromkeys(self.fake.hosts, f"{self.fake.stamp}-{sha[:7]}")
        argv = ["app", *(["--batch", "1"] if batch else [])]
        self.command(data, "deploy", argv, asked, refused=False)

    @rule(data=st.data(), steps=st.sampled_from((1, 2)))
    def revert(self, data: st.DataObject, steps: int) -> None:
        """``revert`` (``revert 2``): each host back as its own history says; refused when one
        cannot go back so far, or when they would go to different commits."""
        hosts = self.fake.hosts
        asked = {name: self.model.revert_target(h, steps) for name, h in hosts.items()}
        commits = {hosts[name].sha_of(release) for name, release in asked.items()}
        argv = ["app", "revert", *([str(steps)] if steps > 1 else [])]
        self.command(data, "revert", argv, asked, not all(asked.values()) or len(commits) > 1)

    def command(
        self, data: st.DataObject, kind: str, argv: list[str], asked: dict[str, str], refused: bool
    ) -> None:
        """Run it with faults drawn per host; check every promise and what the model knows."""
        hosts = self.fake.hosts
        drawn: dict[str, Fault] = {}
        for name in hosts:
            if not data.draw(st.booleans(), label=f"{name} misbehaves"):
                continue
            interrupted = any(f.what == "interrupt" for f in drawn.values())  # one Ctrl-C
            choices = [f for f in faults(kind) if not (interrupted and f.what == "interrupt")]
            drawn[name] = data.draw(st.sampled_from(choices), label=f"{name}'s fault")
        before = {name: h.live for name, h in hosts.items()}
        known = {name: len(h.history) for name, h in hosts.items()}
        for name, fault in drawn.items():
            fault.apply(hosts[name])
        result = run(self.base, *argv)
        for fake in hosts.values():
            behave(fake)
        found = [
            str(v)
            for v in violations(
                before, {n: of_fake(h) for n, h in hosts.items()}, result.status, asked=asked
            )
        ]
        found += self.unexpected(result, drawn, before, asked, refused)
        assert not found, self.explain(argv, drawn, result, found)
        for name, fake in hosts.items():
            self.model.learn(name, fake.history[known[name] :])

    def unexpected(
        self,
        result: Result,
        drawn: dict[str, Fault],
        before: dict[str, str],
        asked: dict[str, str],
        refused: bool,
    ) -> list[str]:
        """What the model knows without the engine, broken."""
        status, lives = result.status, {n: h.live for n, h in self.fake.hosts.items()}
        if status not in ENDS:
            return [f"exit {status} is not one a deploy or revert ends with"]
        if not drawn and status != (ExitStatus.REFUSED if refused else ExitStatus.OK):
            return [f"exit {status} with no fault"]
        if status == ExitStatus.SPLIT:  # the message names each host not back where it was
            error = "\n".join(result.error_lines)
            return [
                f"{name}: serves {lives[name]}, not {before[name] or 'nothing'}, and goes unnamed"
                for name in lives
                if lives[name] != before[name] and f"{name} could not be switched back" not in error
            ]
        if status != ExitStatus.INTERRUPTED:
            return []
        if not any(f.what == "interrupt" for f in drawn.values()):
            return ["exit 130 with no interrupt"]
        said = dict(DETAIL.findall(result.stderr))
        return [
            f"{name}: serves {lives[name] or 'nothing'}; its line says {said.get(name)!r}"
            for name in lives
            if lives[name] not in where_said(said.get(name, ""), before[name], asked[name])
        ]

    def explain(
        self, argv: list[str], drawn: dict[str, Fault], result: Result, found: list[str]
    ) -> str:
        hosts = "\n".join(
            f"  {n}: live {h.live or '-'}; {h.history}" for n, h in self.fake.hosts.items()
        )
        return (
            f"pushdeploy {' '.join(argv)} with {drawn or 'no fault'} exited {result.status}:\n"
            + "\n".join(found)
            + f"\n{hosts}\n{result.stderr}"
        )


def test_every_sequence_of_commands_and_faults_keeps_every_promise(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_state_machine_as_test(
        lambda: FleetStates(base, monkeypatch),
        settings=settings(
            max_examples=40,
            stateful_step_count=10,
            derandomize=True,  # the same sequences on every run: a failure is found again
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_a_host_stopped_after_its_checks_is_said_to_be_live(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a host prunes: its guard stops it, its checked release stays live, and the
    line that says where the interrupt left it says so."""
    fake = fleet(base, monkeypatch, host("web1", interrupt_at={"deploy": "prune"}))
    result = run(base, "app")
    assert (result.status, dict(DETAIL.findall(result.stderr))) == (
        130,
        {"web1": f"{fake.hosts['web1'].live} is live and passed its checks"},
    )
