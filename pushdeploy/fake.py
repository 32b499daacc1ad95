"""A fleet in memory: a transport per host that answers pushdeploy's scripts and can fail.

The fast test tier runs every command handler in-process against it (``FakeFleet.opener`` is a
``session.Opener``). Each fake host keeps a little server state (the live release, the history,
the releases on disk) and answers each kind of script (the ``# pushdeploy KIND`` line
scripts.wrap writes first) with the markers the real one prints, waiting for the client's word
where the real script waits. A ``FakeHost`` can be told to fail at a step, to drop the
connection at a step, to refuse the connection, or to resolve the ref to a commit of its own;
to hold a lock left behind, to say more (``replies``, ``stderr``) or to end with a status of its
own (``exits``), per kind. A script without that first line (exec's and monitor's command line,
the console's preparation) is of kind ``command``: it prints its ``replies`` as plain output and
exits with ``exits["command"]`` (0 by default). It ships in the package, as Invoke's MockContext
does, so that its users' tests can use it too.
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
COMMAND = "command"  # the kind of a script without a "# pushdeploy KIND" line


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
    lock: str = ""  # the holder of a lock left on it: a deploy or revert meets it at "lock"
    replies: dict[str, list[str]] = field(default_factory=dict)  # kind -> said at its end
    stderr: dict[str, list[str]] = field(default_factory=dict)  # kind -> lines on stderr
    exits: dict[str, int] = field(default_factory=dict)  # kind -> its exit (not 0, or 1 at fail_at)
    at_step: Callable[[str, str], None] | None = None  # called with (kind, step) at each step
    scripts: list[str] = field(default_factory=list)  # the text of each script it was given
    received: list[bytes] = field(default_factory=list)  # the input piped to each command

    def releases(self) -> list[str]:
        return [line.split("\t")[2] for line in self.history if line.count("\t") >= 6]


class FakeFleet:
    """Fake hosts by name; ``opener`` hands ``Session`` a transport for each."""

    def __init__(self, *hosts: FakeHost, stamp: str = "20261130T074102Z") -> None:
        self.hosts = {host.name: host for host in hosts}
        self.stamp = stamp
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        # "HOST prepared" (or "asked": it waits for its word), "HOST WORD", "HOST KIND done" or
        # "HOST KIND STATUS" (its end), in the order they came
        self.events: list[str] = []

    def event(self, text: str) -> None:
        with self.changed:
            self.events.append(text)
            self.changed.notify_all()

    def wait_for(self, *events: str) -> bool:
        """Wait (up to WAIT) until each of ``events`` has come: a fake host's ``at_step`` can
        hold its script until others got somewhere, to make an order of arrival certain."""
        with self.changed:
            return self.changed.wait_for(lambda: set(events) <= set(self.events), WAIT)

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
        wrapped = first.startswith("# pushdeploy ")
        kind = first.removeprefix("# pushdeploy ").strip() if wrapped else COMMAND
        self.host.ran.append(kind)
        self.host.scripts.append(script)
        if not wrapped:
            return self.command(on_line, stdin)
        words: queue.Queue[str | None] = queue.Queue()
        if control is not None:

            def said(data: bytes) -> None:
                for word in data.decode().splitlines():
                    words.put(word)

            control.attach(said, lambda: words.put(None))
        run = Run(self.host, kind, on_line, words, self.fleet)
        try:
            getattr(run, kind.replace("-", "_"), run.script)(script)
            run.end()
        except Stop as stop:
            self.fleet.event(f"{self.host.name} {kind} {stop.status}")
            return stop.status
        run.say("done")
        self.fleet.event(f"{self.host.name} {kind} done")
        return 0

    def command(self, on_line: OnLine, stdin: object) -> int:
        """A command line, not a wrapped script: plain output, the status it was given."""
        if COMMAND in self.host.drop_at:  # a command has no steps: any value drops it
            raise ConnectionError(f"{self.host.name}: the connection was lost (fake)")
        read = getattr(stdin, "read", None)
        self.host.received.append(read() if read is not None else b"")
        for line in self.host.replies.get(COMMAND, []):
            on_line("out", line)
        for line in self.host.stderr.get(COMMAND, []):
            on_line("err", line)
        status = self.host.exits.get(COMMAND, 0)
        self.fleet.event(f"{self.host.name} {COMMAND} {status}")
        return status

    def interactive(self, command: str) -> int:
        self.host.ran.append("interactive")
        self.host.scripts.append(command)
        return self.host.exits.get("interactive", 0)

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
        if self.host.at_step is not None:
            self.host.at_step(self.kind, name)
        if self.host.drop_at.get(self.kind) == name:
            raise ConnectionError(f"{self.host.name}: the connection was lost (fake)")
        self.say(f"step {name}")
        if name == "lock" and self.host.lock:
            self.say(f"fail lock locked by {self.host.lock}")
            raise Stop(protocol.EXIT_LOCK_HELD)
        if self.host.fail_at.get(self.kind) == name:
            for line in self.host.output:
                self.say(f"out {line}")
            status = self.host.exits.get(self.kind)
            if live:
                self.say(f"warn {name} failed; switching back to {self.previous or 'no release'}")
                self.host.live = self.previous
                self.host.history.append(self.line(self.release, "bad"))
                self.say(f"fail {name} '{name}' exited with status 1")
                raise Stop(protocol.EXIT_SWITCHED_BACK if status is None else status)
            self.say(f"fail {name} '{name}' exited with status 1")
            raise Stop(1 if status is None else status)

    def end(self) -> None:
        """What every script says last: its ``replies`` and ``stderr``, then its exit (if told)."""
        for line in self.host.replies.get(self.kind, []):
            self.say(line)
        for line in self.host.stderr.get(self.kind, []):
            self.on_line("err", line)
        if self.kind in self.host.exits:
            raise Stop(self.host.exits[self.kind])

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
        body = script.splitlines()  # the body's own lines (prelude.sh only defines them)
        if "await_go" in body:
            self.say("value prepared yes")
            self.fleet.event(f"{self.host.name} prepared")
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
        elif "migrate_release" in body:
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
        self.fleet.event(f"{self.host.name} asked")
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
        if self.host.lock:
            self.say(f"value lock {self.host.lock}")
        for release in dict.fromkeys(self.host.releases()):
            self.say(f"line releases {release}")
        for line in self.host.history:
            self.say(f"line deploys {line}")

    def unlock(self, script: str) -> None:
        self.step("unlock")
        if self.host.lock:
            self.say(f"value holder {self.host.lock}")
            self.host.lock = ""
            self.say("value removed yes")

    def script(self, script: str) -> None:
        self.step(self.kind)
