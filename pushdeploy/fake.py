"""A fleet in memory: a transport per host that answers pushdeploy's scripts and can fail.

The fast test tier runs every command handler in-process against it (``FakeFleet.opener`` is a
``session.Opener``). Each fake host keeps a little server state (the live release, the history,
the releases on disk) and answers each kind of script (the ``# pushdeploy KIND`` line
scripts.wrap writes first) with the markers the real one prints, waiting for the client's word
where the real script waits. A ``FakeHost`` can be told to fail at a step, to drop the
connection at a step, to refuse the connection, or to resolve the ref to a commit of its own.
It ships in the package, as Invoke's MockContext does, so that its users' tests can use it too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pushdeploy import protocol
from pushdeploy.errors import ConnectionError
from pushdeploy.streams import Control, OnLine

SHA = "3f2a9c1" + "0" * 33
PREPARE = ["lock", "fetch", "resolve", "release", "build"]
ACTIVATE = ["switch", "restart", "test", "prune"]
WAIT = 10.0  # seconds a fake script waits for its word before it takes the silence as an end


@dataclass
class FakeHost:
    """One server: its state, and how it misbehaves (per kind of script, at a step)."""

    name: str
    sha: str = SHA
    live: str = ""
    history: list[str] = field(default_factory=list)  # .deploys lines
    fail_at: dict[str, str] = field(default_factory=dict)  # kind -> step that fails
    drop_at: dict[str, str] = field(default_factory=dict)  # kind -> step where the link drops
    unreachable: bool = False
    output: list[str] = field(default_factory=lambda: ["building..."])
    ran: list[str] = field(default_factory=list)  # kinds of the scripts it was given, in order
    words: list[str] = field(default_factory=list)  # what the client told it

    def releases(self) -> list[str]:
        return [line.split("\t")[2] for line in self.history if line.count("\t") >= 6]


class FakeFleet:
    """Fake hosts by name; ``opener`` hands ``Session`` a transport for each."""

    def __init__(self, *hosts: FakeHost, stamp: str = "20261130T074102Z") -> None:
        self.hosts = {host.name: host for host in hosts}
        self.stamp = stamp
        self.lock = threading.Lock()
        self.events: list[str] = []  # "HOST WORD" and "HOST done/STATUS", in the order they came

    def event(self, text: str) -> None:
        with self.lock:
            self.events.append(text)

    def opener(
        self, env: object, host: object, warn: Callable[[str], None], policy: str
    ) -> FakeTransport:
        fake = self.hosts[getattr(host, "spec", str(host))]
        if fake.unreachable:
            raise ConnectionError(f"cannot connect to {fake.name}: connection refused")
        return FakeTransport(fake, self)


class Stop(Exception):
    """The script ends here with ``status`` (its fail marker said why)."""

    def __init__(self, status: int) -> None:
        self.status = status


class FakeTransport:
    label = "fake"

    def __init__(self, host: FakeHost, fleet: FakeFleet) -> None:
        self.host, self.fleet = host, fleet

    def run(
        self, script: str, on_line: OnLine, stdin: object = None, *, control: Control | None = None
    ) -> int:
        first = script.split("\n", 1)[0]
        kind = (
            first.removeprefix("# pushdeploy ").strip()
            if first.startswith("# pushdeploy ")
            else "script"
        )
        self.host.ran.append(kind)
        words: queue.Queue[str | None] = queue.Queue()
        if control is not None:

            def said(data: bytes) -> None:
                for word in data.decode().splitlines():
                    words.put(word)

            control.attach(said, lambda: words.put(None))
        run = Run(self.host, kind, on_line, words, self.fleet)
        try:
            getattr(run, kind.replace("-", "_"), run.script)(script)
        except Stop as stop:
            self.fleet.event(f"{self.host.name} {kind} {stop.status}")
            return stop.status
        run.say("done")
        self.fleet.event(f"{self.host.name} {kind} done")
        return 0

    def interactive(self, command: str) -> int:
        return 0

    def close(self) -> None:
        pass


class Run:
    """One fake script run: says markers, waits for words, fails where it was told to."""

    def __init__(
        self,
        host: FakeHost,
        kind: str,
        on_line: OnLine,
        words: queue.Queue[str | None],
        fleet: FakeFleet,
    ) -> None:
        self.host, self.kind, self.on_line, self.words, self.fleet = (
            host,
            kind,
            on_line,
            words,
            fleet,
        )
        self.release = self.previous = ""

    def say(self, text: str) -> None:
        self.on_line("out", protocol.PREFIX + text)

    def step(self, name: str, *, live: bool = False) -> None:
        if self.host.drop_at.get(self.kind) == name:
            raise ConnectionError(f"{self.host.name}: the connection was lost (fake)")
        self.say(f"step {name}")
        if self.host.fail_at.get(self.kind) == name:
            for line in self.host.output:
                self.say(f"out {line}")
            if live:
                self.say(f"warn {name} failed; switching back to {self.previous or 'no release'}")
                self.host.live = self.previous
                self.host.history.append(self.line(self.release, "bad"))
                self.say(f"fail {name} '{name}' exited with status 1")
                raise Stop(protocol.EXIT_SWITCHED_BACK)
            self.say(f"fail {name} '{name}' exited with status 1")
            raise Stop(1)

    def word(self) -> str | None:
        try:
            word = self.words.get(timeout=WAIT)
        except queue.Empty:
            word = None
        if word is not None:
            self.host.words.append(word)
            self.fleet.event(f"{self.host.name} {word}")
        return word

    def aborted(self) -> Stop:
        self.say("fail interrupted stopped by the client going away before going live")
        return Stop(protocol.EXIT_ABORTED)

    def line(self, release: str, result: str) -> str:
        return "\t".join(
            [self.host.sha, "2026-11-30T07:41:02Z", release, "main", "fake", self.kind, result]
        )

    def deploy(self, script: str) -> None:
        self.previous = self.host.live
        self.say(f"value previous {self.previous}")
        for name in PREPARE:
            self.step(name)
            if name == "resolve":
                self.release = f"{self.fleet.stamp}-{self.host.sha[:7]}"
                for key, value in (
                    ("ref", "main"),
                    ("sha", self.host.sha),
                    ("release", self.release),
                ):
                    self.say(f"value {key} {value}")
        if "await_go" in script.split("\n", 3)[-1]:
            self.say("value prepared yes")
            while True:
                word = self.word()
                if word == "migrate":
                    self.step("migrate")
                    self.say("out migrating (fake)")
                    self.say("value migrated yes")
                elif word == "go":
                    break
                else:
                    raise self.aborted()
        elif "migrate_release" in script:
            self.step("migrate")
            self.say("value migrated yes")
        self.go_live()

    def go_live(self) -> None:
        self.step("switch")
        self.host.history.append(self.line(self.release, "ok"))
        self.host.live = self.release
        self.say(f"value live {self.release}")
        for name in ACTIVATE[1:3]:
            self.step(name, live=True)
        self.say("value checked yes")
        self.step("prune")

    def revert(self, script: str) -> None:
        self.step("lock")
        self.previous = self.host.live
        self.status(script)
        self.say("value asked yes")
        word = self.word() or ""
        if not word.startswith("to "):
            raise self.aborted()
        self.release = word.split()[2]
        self.say(f"value release {self.release}")
        self.go_live()

    def rollback(self, script: str) -> None:
        self.step("rollback")
        back = next(
            (
                line
                for line in reversed(self.host.history)
                if line.endswith("\tok") and line.split("\t")[2] != self.host.live
            ),
            "",
        )
        self.host.live = back.split("\t")[2] if back else ""
        self.host.history.append(self.line(self.host.live, "ok"))

    def status(self, script: str) -> None:
        self.say(f"value live {self.host.live}")
        self.say(f"value link releases/{self.host.live}" if self.host.live else "value link ")
        self.say("value setup yes")
        for release in dict.fromkeys(self.host.releases()):
            self.say(f"line releases {release}")
        for line in self.host.history:
            self.say(f"line deploys {line}")

    def script(self, script: str) -> None:
        self.step(self.kind)
