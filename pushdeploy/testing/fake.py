"""A fleet in memory: a transport per host that answers pushdeploy's scripts and can fail.

The fast test tier runs every command handler in-process against it (``FakeFleet.opener`` is a
``session.Opener``). Each fake host keeps a little server state (the live release, the history,
the releases on disk) and answers each kind of script (the ``# pushdeploy KIND`` line
scripts.wrap writes first) with the markers the real one prints, waiting for the client's word
where the real script waits; the steps it says are those its environment (given to ``opener``)
has, in the order of pushdeploy/remote/steps.py (fakescript.py); the end of its input stops it
as the real guard would (fakeguard.py). A ``FakeHost`` can be told to fail at a step, to drop the
connection at a step, to have its script killed at a step, to interrupt the client (Ctrl-C) at a
step, to refuse the connection, or to resolve the ref to a commit of its own; to hold a lock left
behind, to say more (``replies``, ``stderr``) or to end with a status of its
own (``exits``), per kind. A script without that first line (exec's and monitor's command line,
the console's preparation) is of kind ``command``: it prints its ``replies`` as plain output and
exits with ``exits["command"]`` (0 by default). It ships in the package, as Invoke's MockContext
does, so that its users' tests can use it too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from pushdeploy.config.environment import Environment
from pushdeploy.errors import ConnectionError
from pushdeploy.remote.protocol import BEAT
from pushdeploy.testing.fakehost import FakeHost
from pushdeploy.testing.fakescript import WAIT, Run, Stop
from pushdeploy.transport.seam import Sent
from pushdeploy.transport.streams import Control, OnLine

COMMAND = "command"  # the kind of a script without a "# pushdeploy KIND" line


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
        self, env: Environment, host: object, warn: Callable[[str], None], policy: str
    ) -> FakeTransport:
        fake = self.hosts[getattr(host, "spec", str(host))]
        if fake.unreachable:
            raise ConnectionError(f"cannot connect to {fake.name}: connection refused")
        return FakeTransport(fake, self, env)


class FakeTransport:
    label = "fake"

    def __init__(self, host: FakeHost, fleet: FakeFleet, env: Environment) -> None:
        self.host, self.fleet, self.env = host, fleet, env  # env: which steps its scripts say

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
        run = Run(self.host, kind, on_line, words, self.fleet.stamp, self.fleet.event, self.env)
        if control is not None:

            def said(data: bytes) -> None:
                for word in data.decode().splitlines():
                    if word == BEAT:  # the client is there: what a real guard only notes
                        continue
                    run.guard.heard(word)
                    words.put(word)

            def ended() -> None:
                run.guard.end()
                words.put(None)

            control.attach(said, ended)
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

    def send(self, command: str, source: Any, size: int, *, cancel: object = None) -> Sent:
        """An upload (an artifact): kept in ``received``; ``exits["upload"]`` fails it."""
        data = source.read(size)
        self.host.received.append(data)
        status = self.host.exits.get("upload", 0)
        self.fleet.event(f"{self.host.name} upload {status}")
        return Sent(status, "no space left (fake)" if status else "", len(data))

    def interactive(self, command: str) -> int:
        self.host.ran.append("interactive")
        self.host.scripts.append(command)
        return self.host.exits.get("interactive", 0)

    def close(self) -> None:
        pass
