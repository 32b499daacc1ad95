"""One script run on a fake host (fake.py), answering as the real script would.

It says the markers the real script says: the steps its config has, in the order
pushdeploy/remote/steps.py declares (``steps.chosen``), with the values, warnings and failures
the real one prints around them. It waits for the client's word where that one waits, fails
where its host was told to, and changes the host's state (fakehost.py: the live release, the
history, the lock) as the real one changes the server's. At each step it asks its guard
(fakeguard.py) whether the client's going away stopped it. A script killed at a step
(``kill_at``) says no more and is cleaned up as the real guard does after a SIGKILL: before the
switch nothing changed; live and unchecked, it is switched back and its release marked bad;
checked, it stays live. Its exit is protocol.KILLED, as the transport reports a killed script.
tests/integration/test_fake_matches_scripts.py runs the real scripts and these side by side and
compares what they said.

Not modelled: the hooks' own output (a failing step prints its host's ``output``), a revert to a
line of TJ's deploy, the monitor in ``status``, and an artifact's unpacking and signature.
"""

from __future__ import annotations

import queue
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pushdeploy.config.environment import Environment
from pushdeploy.errors import ConnectionError
from pushdeploy.remote import protocol, steps
from pushdeploy.sources.artifact import is_url
from pushdeploy.testing.fakeguard import DONE, LIVE, Guard
from pushdeploy.transport.streams import OnLine

if TYPE_CHECKING:
    from pushdeploy.testing.fakehost import FakeHost

WAIT = 10.0  # seconds a fake script waits for its word before it takes the silence as an end
DISK = "10485760 5242880"  # status's disk: KiB in all and free (prelude.sh disk_stats)
INODES = "655360 600000"  # and inodes
NOT_LIVE = "before going live; nothing live changed"
CHECKED = "after the release went live and passed its checks"


def source_of(env: Environment) -> str:
    """The kind of source as ``steps.chosen`` takes it: git, upload (a local artifact), download."""
    if not env.source.artifact:
        return "git"
    return "download" if is_url(env.source.artifact) else "upload"


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
        stamp: str,
        event: Callable[[str], None],
        env: Environment,
    ) -> None:
        self.host, self.kind, self.on_line, self.words = host, kind, on_line, words
        self.stamp, self.event = stamp, event  # the fleet's release stamp; its log of events
        self.env, self.source = env, source_of(env)
        # What goes live (the host's commit, or a revert's pick) and what was live before it.
        self.release = self.previous = ""
        self.sha, self.ref = host.sha, "main"
        self.guard = Guard()  # the run's phase; the client's going away

    def say(self, text: str) -> None:
        self.on_line("out", protocol.PREFIX + text)

    def chosen(self, names: Sequence[str]) -> tuple[str, ...]:
        return steps.chosen(names, self.env, self.source)

    def step(self, name: str, *, live: bool = False) -> None:
        """Say the step; end here if told to (killed, interrupted, its guard stopping it), or fail
        it (``live``: after the switch, so switch back first)."""
        if self.host.at_step is not None:
            self.host.at_step(self.kind, name)
        if self.host.drop_at.get(self.kind) == name:
            raise ConnectionError(f"{self.host.name}: the connection was lost (fake)")
        self.say(f"step {name}")
        if self.host.kill_at.get(self.kind) == name:
            if self.guard.phase == LIVE:
                self.switch_back(self.kind)
            raise Stop(protocol.KILLED)
        if self.host.interrupt_at.get(self.kind) == name:
            self.guard.interrupt(WAIT)
        if self.guard.stops():
            raise self.aborted(self.guard.why)
        if self.host.fail_at.get(self.kind) != name:
            return
        for line in self.host.output:
            self.say(f"out {line}")
        status = self.host.exits.get(self.kind)
        if live:
            self.say(f"warn {name} failed; switching back to {self.previous or 'no release'}")
            self.switch_back(self.kind)
        self.say(f"fail {name} '{name}' exited with status 1")
        if status is None:
            status = protocol.EXIT_SWITCHED_BACK if live else 1
        raise Stop(status)

    def lock(self) -> None:
        """The first step of every script that changes the server: take the lock, or end."""
        self.step("lock")
        if self.host.lock:
            self.say(f"value holder {self.host.lock}")
            self.say(f"fail lock locked by {self.host.lock}")
            raise Stop(protocol.EXIT_LOCK_HELD)

    def need_setup(self) -> None:
        if not self.host.set_up:
            self.say(f"fail setup {self.env.path} is not set up")
            raise Stop(protocol.EXIT_NOT_SET_UP)

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
            self.event(f"{self.host.name} {word}")
        return word

    def aborted(self, word: str | None) -> Stop:
        """A script stopped by its guard: "stop" (another host failed) or the input's end (after
        the checks passed, its release stays live)."""
        if self.guard.ended_in == DONE:
            self.say(f"fail interrupted stopped by the client going away {CHECKED}")
        elif word == "stop":
            self.say(f"fail stopped another host failed, so this one stopped {NOT_LIVE}")
        else:
            self.say(f"fail interrupted stopped by the client going away {NOT_LIVE}")
        return Stop(protocol.EXIT_ABORTED)

    def deploy(self, script: str) -> None:
        body = script.splitlines()
        self.lock()
        self.need_setup()
        self.previous = self.host.live
        self.say(f"value previous {self.previous}")
        for name in self.chosen(steps.PREPARE)[1:]:
            if name == "pre-deploy" and not self.previous:
                self.say(
                    "warn pre-deploy skipped: nothing is live yet, so there is no release to run it in"
                )
                continue
            if name == "release":
                self.release = f"{self.stamp}-{self.sha[:7]}"
                self.say(f"value release {self.release}")
            self.step(name)
            if name == "resolve":
                self.say(f"value ref {self.ref}")
                self.say(f"value sha {self.sha}")
                self.unchanged(body)
            elif name == "upload":
                answer = self.word()
                if answer is None or answer == "stop":  # the guard stops this wait too
                    raise self.aborted(answer)
                if answer != "uploaded":
                    self.say(f"fail upload {answer.removeprefix('upload-failed ')}")
                    raise Stop(1)
        if "await_go" in body:
            self.await_go()
        elif "migrate_release" in body:
            self.step("migrate")
            self.say("value migrated yes")
        self.go_live()
        self.step("prune")

    def await_go(self) -> None:
        """A fleet's barrier: prepared, then "migrate" (the primary host) and "go"."""
        self.say("value prepared yes")
        self.event(f"{self.host.name} prepared")
        while True:
            word = self.word()
            if word == "go":
                return
            if word != "migrate":
                raise self.aborted(word)
            self.step("migrate")
            self.say("out migrating (fake)")
            self.say("value migrated yes")

    def unchanged(self, body: list[str]) -> None:
        """What is live has this host's SHA already: say so and end (unless --force)."""
        if "FORCE=0" not in "\n".join(body) or not self.previous:
            return
        if self.host.sha_of(self.previous) != self.sha:
            return
        self.say(f"value unchanged {self.previous}")
        self.say(f"value release {self.previous}")
        if "FLEET=1" in body:
            self.say("value prepared yes")
            word = self.word()
            if word != "go":
                raise self.aborted(word)
        self.say("done")
        raise Stop(0)

    def go_live(self) -> None:
        """Switch (logged first), then the checks that switch back when they fail."""
        self.step("switch")
        self.host.log(self.sha, self.release, self.ref, self.kind, "ok")
        self.host.live, self.guard.phase = self.release, LIVE
        self.say(f"value live {self.release}")
        for name in self.chosen(steps.ACTIVATE[1:-1]):
            self.step(name, live=True)
        self.say("value checked yes")
        self.guard.phase = DONE

    def switch_back(self, action: str, mark: str = "bad") -> None:
        """Put back what was live (prelude.sh switch_back): its line, then this release's, marked
        ``mark`` (none when empty)."""
        self.host.live, self.guard.phase = self.previous, DONE
        if self.previous in self.host.releases():
            self.host.log(self.host.sha_of(self.previous), self.previous, "-", "rollback", "ok")
        if mark:
            self.host.log(self.sha, self.release, self.ref, action, mark)

    def revert(self, script: str) -> None:
        self.lock()
        self.need_setup()
        self.previous = self.host.live
        self.read_back()
        self.say("value asked yes")
        self.event(f"{self.host.name} asked")
        word = self.word()
        if word is None or word == "stop":
            raise self.aborted(word)
        if not word.startswith("to "):
            self.say("fail revert no release was picked")
            raise Stop(1)
        _, _, self.release, self.sha, self.ref = [*word.split(), "", "", "", ""][:5]
        picked = (self.release, self.sha, self.ref, self.previous)
        for key, value in zip(("release", "sha", "ref", "previous"), picked, strict=True):
            self.say(f"value {key} {value}")
        if self.release not in self.host.releases():
            self.say(f"warn release {self.release} was pruned; rebuilding it from {self.sha}")
            for name in self.chosen(steps.REBUILD):
                self.step(name)
        self.go_live()

    def rollback(self, script: str) -> None:
        """Undo this host's deploy (or revert) of ID, back to PREV: what the script's
        ``rollback_release ID PREV ACTION MARK`` line says (revert.sh)."""
        self.lock()
        line = next(x for x in script.splitlines() if x.startswith("rollback_release "))
        self.release, self.previous, action, mark = [*shlex.split(line)[1:], "", "", "", ""][:4]
        self.sha, self.ref = self.host.sha_of(self.release), "-"
        self.step("rollback")
        if self.host.live == self.previous and self.host.live != self.release:
            self.say(
                f"warn {self.release} is not live here; {self.previous or 'nothing'} is,"
                " as before: nothing to undo"
            )
            self.say("value unchanged yes")
            return
        if self.host.live != self.release:
            live = self.host.live or "nothing"
            self.say(f"fail rollback current is {live}, not {self.release}; left as it is")
            raise Stop(1)
        self.switch_back(action, mark)

    def read_back(self) -> None:
        """What is live, the releases on disk (by name) and the history (scripts.history_lines)."""
        self.say(f"value live {self.host.live}")
        self.say(f"value link releases/{self.host.live}" if self.host.live else "value link ")
        for release in sorted(set(self.host.releases())):
            self.say(f"line releases {release}")
        for line in self.host.history:
            self.say(f"line deploys {line}")

    def status(self, script: str) -> None:
        self.read_back()
        if self.host.live and self.host.sha_of(self.host.live) != "unknown":
            self.say(f"value sha {self.host.sha_of(self.host.live)}")
        if self.host.set_up:
            self.say("value setup yes")
        if self.host.lock:
            self.say(f"value lock {self.host.lock}")
            self.say("value lock_age 0")
        self.say(f"value disk {DISK}")
        self.say(f"value inodes {INODES}")

    def setup(self, script: str) -> None:
        """The checks, the lock, the directories, the mirror (fetched when it exists), the rest."""
        for name in self.chosen(steps.SETUP):
            if name == "lock":
                self.lock()
            elif name != "fetch" or self.host.set_up:
                self.step(name)
        self.host.set_up = True

    def unlock(self, script: str) -> None:
        self.step("unlock")
        if self.host.lock:
            self.say(f"value holder {self.host.lock}")
            self.host.lock = ""
            self.say("value removed yes")

    def script(self, script: str) -> None:
        self.step(self.kind)
