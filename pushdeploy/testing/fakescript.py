"""One script run on a fake host (fake.py), answering as the real script would.

It says the markers the real script says, waits for the client's word where that one waits, and
fails where its host was told to.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

from pushdeploy.errors import ConnectionError
from pushdeploy.remote import protocol
from pushdeploy.transport.streams import OnLine

if TYPE_CHECKING:
    from pushdeploy.testing.fake import FakeFleet, FakeHost

PREPARE = ["lock", "fetch", "resolve", "release", "build"]
ACTIVATE = ["switch", "restart", "test", "prune"]
WAIT = 10.0  # seconds a fake script waits for its word before it takes the silence as an end


class Stop(Exception):
    """The script ends here with ``status`` (its fail marker said why)."""

    def __init__(self, status: int) -> None:
        self.status = status


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
                self.unchanged(body)
                if "artifact_await_upload" in body:
                    self.step("upload")
                    answer = self.word() or ""
                    if answer != "uploaded":
                        self.say(f"fail upload {answer.removeprefix('upload-failed ')}")
                        raise Stop(1)
        body = script.splitlines()
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

    def unchanged(self, body: list[str]) -> None:
        """What is live has this host's SHA already: say so and end (unless --force)."""
        live = [line for line in self.host.history if f"\t{self.host.live}\t" in line]
        if "FORCE=0" not in "\n".join(body) or not live or not live[-1].startswith(self.host.sha):
            return
        self.say(f"value unchanged {self.host.live}")
        self.say(f"value release {self.host.live}")
        if "FLEET=1" in body:
            self.say("value prepared yes")
            if self.word() != "go":
                raise self.aborted()
        self.say("done")
        raise Stop(0)

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
