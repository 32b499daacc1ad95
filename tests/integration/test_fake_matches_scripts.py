"""The fake fleet says what the real scripts say: the same markers in the same order, the same ends.

Each scenario is played twice through the command line (tests/support/cli.py), from the same
deploy.conf: once on the real scripts (bash on this machine, real git: ``host = local``), once on
the fake fleet (pushdeploy/testing/fake.py) told to misbehave the same way. A transport wrapper
(``Listening``) keeps, per host, each script's kind, exit status and marker lines; after
``normalised`` both records and the command's exit statuses must be equal.

Scenarios: a success (setup, two deploys, a revert, status), a failing build (exit 6), a test
failing after the switch (exit 7, switched back), a lock held by someone else (exit 5; status then
finds drift, exit 9), a fleet of two going live one slice at a time whose second slice fails
its test (exit 7: the first host is rolled back), and Ctrl-C during the build (the server stops,
nothing live changed) or during the test (the server finishes on its own), both exit 130.

``local`` must be an environment's only host (config/hosts.py), so the fleet's hosts ``web1`` and
``web2`` reach bash on this machine through ``Homed``: a LocalTransport whose scripts begin by
setting HOME to a directory of that host's, with ``path = ~/deploy``, so each has its own deploy
root, as each sshd server of tests/support/fleet.py has its own HOME. A hook fails on a host
when its deploy root holds ``failing-build`` or ``failing-test`` (hooks run in the release, two
levels below the root); the fake is told the same with ``fail_at``. A Ctrl-C comes at a step
(``ctrl_c`` when the real script says it; ``interrupt_at`` for the fake) while the real hook
lasts: ``slow-build`` until its guard stops it, ``slow-test`` until the client has ended its
input (``client-gone``, made then).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pushdeploy import transport
from pushdeploy.remote import protocol
from pushdeploy.remote.layout import Layout
from pushdeploy.testing.fake import FakeFleet
from pushdeploy.testing.fakeguard import ctrl_c
from pushdeploy.testing.fakehost import FakeHost
from pushdeploy.transport.local import LocalTransport
from pushdeploy.transport.streams import OnLine
from tests.integration.conftest import Project

HOOKS = {
    "build": "test ! -e ../../failing-build || { echo building...; exit 1; }\n"
    "test ! -e ../../slow-build || sleep 10",
    "test": "test ! -e ../../failing-test || { echo testing...; exit 1; }\n"
    "test ! -e ../../slow-test || for _ in $(seq 100); do"
    " test ! -e ../../client-gone || exit 0; sleep 0.1; done",
}
OWNER = "ann@laptop (pid 7, since 2026-11-30T07:00:00Z, running: deploy main)"
RELEASE = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{7}(?:\.\d+)?\b")
SHA = re.compile(r"\b[0-9a-f]{40}\b")
VARYING = ("value disk ", "value inodes ", "value lock_age ")


@dataclass
class Script:
    """What one script said: its kind (``# pushdeploy KIND``), exit status and marker lines."""

    kind: str
    status: int
    said: list[str] = field(default_factory=list)


class Listening:
    """A transport that passes everything through and keeps what each script said; ``at_step``
    hears each step as the script says it, ``on_end`` when the client has ended its input."""

    def __init__(
        self,
        inner: Any,
        heard: list[Script],
        at_step: Callable[[str], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.inner, self.heard, self.at_step, self.on_end = inner, heard, at_step, on_end

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, script: str, on_line: OnLine, stdin: Any = None, *, control: Any = None) -> int:
        said = Script(script.split("\n", 1)[0].removeprefix("# pushdeploy "), protocol.RUNNING)

        def hear(stream: str, line: str) -> None:
            beat = line == protocol.PREFIX + protocol.BEAT  # at any moment: not the fake's to say
            if stream == "out" and line.startswith(protocol.PREFIX) and not beat:
                said.said.append(line.removeprefix(protocol.PREFIX))
                if self.at_step and said.said[-1].startswith("step "):
                    self.at_step(said.said[-1].removeprefix("step "))
            on_line(stream, line)

        if control is not None and self.on_end is not None:
            control = Ending(control, self.on_end)
        said.status = self.inner.run(script, hear, stdin, control=control)
        self.heard.append(said)
        return said.status


class Ending:
    """A script's Control, but for the close it is handed: ``then`` follows it."""

    def __init__(self, control: Any, then: Callable[[], None]) -> None:
        self.control, self.then = control, then

    def __getattr__(self, name: str) -> Any:
        return getattr(self.control, name)

    def attach(self, write: Callable[[bytes], object], close: Callable[[], object]) -> None:
        def closed() -> None:
            close()
            self.then()

        self.control.attach(write, closed)


class Homed(LocalTransport):
    """Bash on this machine as a host of its own: HOME (and so ``~/deploy``) is ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run(self, script: str, on_line: OnLine, stdin: Any = None, *, control: Any = None) -> int:
        first, rest = script.split("\n", 1)  # the first line stays: it names the kind
        homed = f"{first}\nexport HOME={shlex.quote(str(self.home))}\n{rest}"
        return super().run(homed, on_line, stdin, control=control)


class Side:
    """One playing of a scenario: the same deploy.conf, a transport per host that listens."""

    def __init__(self, base: Path, hosts: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
        fleet = hosts != ("local",)
        self.project = Project(base, f"host = {' '.join(hosts)}")
        self.project.configure(**HOOKS, **({"path": "~/deploy", "batch": "1"} if fleet else {}))
        self.heard: dict[str, list[Script]] = {host: [] for host in hosts}
        monkeypatch.setattr("pushdeploy.transport.open_transport", self.opener)

    def opener(self, env: Any, host: Any, warn: Any, policy: str) -> Listening:
        raise NotImplementedError

    def run(self, *argv: str) -> int:
        return self.project.run("app", *argv).status

    def commit(self) -> None:
        """A new commit for the next deploy."""

    def fail(self, host: str, step: str) -> None:
        """The next deploys' ``step`` (build or test) fails on ``host``."""

    def hold_lock(self, host: str) -> None:
        """Someone else (OWNER) holds the lock of ``host``."""

    def interrupt(self, host: str, step: str) -> None:
        """The next command is interrupted (Ctrl-C) during ``step`` (build, test) on ``host``."""


class Real(Side):
    def __init__(self, base: Path, hosts: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = transport.open_transport
        super().__init__(base, hosts, monkeypatch)
        self.homes = {host: base / f"home of {host}" for host in hosts}
        self.interrupting: tuple[str, str] | None = None  # (host, step): Ctrl-C there

    def opener(self, env: Any, host: Any, warn: Any, policy: str) -> Listening:
        name = host.spec
        if host.local:
            inner = self.real(env, host, warn, policy)
        else:
            self.homes[name].mkdir(exist_ok=True)
            inner = Homed(self.homes[name])

        def at_step(step: str) -> None:
            if self.interrupting == (name, step):
                self.interrupting = None
                ctrl_c()

        def on_end() -> None:
            (self.root(name) / "client-gone").touch()

        return Listening(inner, self.heard[name], at_step, on_end)

    def root(self, host: str) -> Path:
        return self.project.root if host == "local" else self.homes[host] / "deploy"

    def commit(self) -> None:
        self.project.origin.commit({"VERSION": f"{self.project.origin.sha('HEAD')}\n"})

    def fail(self, host: str, step: str) -> None:
        (self.root(host) / f"failing-{step}").touch()

    def hold_lock(self, host: str) -> None:
        lock = Path(Layout(str(self.root(host))).lock)
        lock.mkdir()
        (lock / protocol.LOCK_OWNER).write_text(f"{OWNER}\n")
        (lock / protocol.LOCK_TOKEN).write_text("not this run's\n")

    def interrupt(self, host: str, step: str) -> None:
        (self.root(host) / f"slow-{step}").touch()
        self.interrupting = (host, step)


class Fake(Side):
    def __init__(self, base: Path, hosts: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
        self.fleet = FakeFleet(*(FakeHost(host, set_up=False) for host in hosts))
        super().__init__(base, hosts, monkeypatch)

    def opener(self, env: Any, host: Any, warn: Any, policy: str) -> Listening:
        return Listening(self.fleet.opener(env, host, warn, policy), self.heard[host.spec])

    def commit(self) -> None:
        for host in self.fleet.hosts.values():
            host.sha = hashlib.sha1(host.sha.encode()).hexdigest()

    def fail(self, host: str, step: str) -> None:
        self.fleet.hosts[host].fail_at["deploy"] = step
        self.fleet.hosts[host].output = ["building..." if step == "build" else "testing..."]

    def hold_lock(self, host: str) -> None:
        self.fleet.hosts[host].lock = OWNER

    def interrupt(self, host: str, step: str) -> None:
        self.fleet.hosts[host].interrupt_at["deploy"] = step


def succeeding(side: Side) -> list[int]:
    setup, first = side.run("setup"), side.run()
    side.commit()
    return [setup, first, side.run(), side.run("revert"), side.run("status")]


def failing_build(side: Side) -> list[int]:
    setup = side.run("setup")
    side.fail("local", "build")
    return [setup, side.run(), side.run("status")]


def failing_test(side: Side, host: str = "local") -> list[int]:
    setup, first = side.run("setup"), side.run()
    side.commit()
    side.fail(host, "test")
    return [setup, first, side.run(), side.run("status")]


def locked(side: Side) -> list[int]:
    setup, first = side.run("setup"), side.run()
    side.hold_lock("local")
    return [setup, first, side.run(), side.run("status")]


def second_slice_failing(side: Side) -> list[int]:
    return failing_test(side, "web2")


def interrupted_during(step: str) -> Callable[[Side], list[int]]:
    def interrupted(side: Side) -> list[int]:
        setup, first = side.run("setup"), side.run()
        side.commit()
        side.interrupt("local", step)
        return [setup, first, side.run(), side.run("status")]

    return interrupted


SCENARIOS = [
    pytest.param(succeeding, ("local",), [0, 0, 0, 0, 0], id="success"),
    pytest.param(failing_build, ("local",), [0, 6, 0], id="failing-build"),
    pytest.param(failing_test, ("local",), [0, 0, 7, 0], id="failing-test-switched-back"),
    pytest.param(locked, ("local",), [0, 0, 5, 9], id="lock-held-by-someone-else"),
    pytest.param(second_slice_failing, ("web1", "web2"), [0, 0, 7, 0], id="fleet-second-slice"),
    pytest.param(interrupted_during("build"), ("local",), [0, 0, 130, 0], id="ctrl-c-in-build"),
    pytest.param(interrupted_during("test"), ("local",), [0, 0, 130, 0], id="ctrl-c-in-test"),
]


def normalised(said: list[Script]) -> list[tuple[str, int, list[str]]]:
    """What one host's scripts said, with what legitimately differs between a real server and a
    fake one made the same, and nothing else (steps, value keys, warnings, failures, hook output,
    the order and the exit statuses stay as they were said):

    * release IDs and full SHAs become R1, R2, ... and S1, S2, ... in the order they first come:
      the real ones follow the clock and this run's commits, the fake's are fixed;
    * a ``line deploys`` (a line of .deploys) has its time and user@host made TIME and WHO;
    * ``disk``, ``inodes`` and ``lock_age`` lose their values (this machine's disk; the clock);
    * the ``line releases`` of one read-back are sorted, renamed (a server lists them by name).
    """
    names: dict[str, str] = {}

    def rename(found: re.Match[str]) -> str:
        kind = "R" if RELEASE.fullmatch(found.group(0)) else "S"
        count = sum(name.startswith(kind) for name in names.values())
        return names.setdefault(found.group(0), f"{kind}{count + 1}")

    scripts = []
    for script in said:
        lines = []
        for line in script.said:
            if line.startswith(VARYING):
                line = " ".join(line.split()[:2])
            elif line.startswith("line deploys "):
                fields = line.removeprefix("line deploys ").split("\t")
                fields[1], fields[4] = "TIME", "WHO"
                line = "line deploys " + " ".join(fields)
            lines.append(SHA.sub(rename, RELEASE.sub(rename, line)))
        listed = sorted(line for line in lines if line.startswith("line releases "))
        lines = [listed.pop(0) if line.startswith("line releases ") else line for line in lines]
        scripts.append((script.kind, script.status, lines))
    return scripts


def transcript(heard: dict[str, list[Script]]) -> list[str]:
    """Each host's scripts, normalised: a line per marker (``HOST KIND: MARKER``), then its exit."""
    return [
        f"{host} {kind}: {line}"
        for host, said in heard.items()
        for kind, status, lines in normalised(said)
        for line in [*lines, f"exit {status}"]
    ]


@pytest.mark.parametrize(("play", "hosts", "statuses"), SCENARIOS)
def test_the_fake_says_what_the_real_scripts_say(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    play: Callable[[Side], list[int]],
    hosts: tuple[str, ...],
    statuses: list[int],
) -> None:
    real = Real(tmp_path / "real", hosts, monkeypatch)
    assert statuses == play(real)
    fake = Fake(tmp_path / "fake", hosts, monkeypatch)
    assert statuses == play(fake)
    assert transcript(real.heard) == transcript(fake.heard)
