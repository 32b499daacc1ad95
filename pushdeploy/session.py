"""One invocation against one environment: connections, scripts run on every host, interrupts.

``Session`` opens a transport per host (in parallel, on first use) and runs one script per host
at once (``phase``), following each script's markers live. A fleet's scripts can meet at a
``Barrier``: each host prepares, says so and waits; when all have, they all go on together.

Lifecycle of an interrupt (Ctrl-C, or SIGTERM made one by cli.py): every running script is asked
to stop (the end of its input: see the guard in prelude.sh); the phase waits for the hosts' own
word, a second Ctrl-C stops waiting; ``Interrupted`` then says where each host was left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pushdeploy import lock, protocol, scripts
from pushdeploy.config import Environment
from pushdeploy.console import Console
from pushdeploy.errors import Interrupted
from pushdeploy.hosts import Host
from pushdeploy.protocol import Outcome
from pushdeploy.release import now
from pushdeploy.streams import Control

if TYPE_CHECKING:  # the transport module imports Fabric: only load it when a host is contacted
    from pushdeploy.transport import Transport

Opener = Callable[[Environment, Host, Callable[[str], None], str], "Transport"]
RUNNING = -2  # an Outcome's status while its script has not ended


class Session:
    """One invocation against one environment: the hosts' transports, the lock claim, the console.

    Transports are opened on first use, all hosts in parallel, and closed by ``close``.
    """

    def __init__(
        self,
        env: Environment,
        console: Console,
        *,
        command: str,
        dry_run: bool = False,
        wait: int = 0,
        opener: Opener | None = None,
    ) -> None:
        self.env, self.console, self.dry_run = env, console, dry_run
        self.opener = opener
        claim = lock.claim(command)
        self.run = scripts.Run(
            claim.token,
            claim.owner,
            claim.who,
            now().strftime("%Y%m%dT%H%M%SZ"),
            wait,
            lock.STALE_AFTER,
        )
        self._transports: dict[str, Transport] = {}

    def transports(self) -> dict[str, Transport]:
        from pushdeploy.local import RecordingTransport
        from pushdeploy.transport import open_transport

        opener = self.opener or open_transport
        if not self._transports:
            if self.dry_run:
                self._transports = {
                    h.spec: RecordingTransport(h.spec, self._print_script) for h in self.env.hosts
                }
            else:
                opened = Parallel({h.spec: h for h in self.env.hosts}).run(
                    lambda host: opener(self.env, host, self.console.warn, self.env.host_key)
                )
                self._transports = opened
        return self._transports

    def _print_script(self, host: str, script: str) -> None:
        self.console.raw(f"# ---- {host} ----\n{script}")

    def phase(
        self, scripts_by_host: dict[str, str], barrier: Barrier | None = None
    ) -> dict[str, Outcome]:
        """Run each host's script, all hosts at once; follow their markers live.

        With a ``barrier``, each script's ``prepared`` marker is its arrival there.
        Ctrl-C (or SIGTERM) asks every script to stop (the end of its input): before its switch it
        stops and cleans up, after it the server finishes the checks or switches back on its own.
        The phase then waits for the hosts' own word; a second Ctrl-C stops waiting. Either way
        ``Interrupted`` says where each host was left.
        """
        transports = self.transports()
        outcomes = {label: Outcome(RUNNING) for label in scripts_by_host}
        controls = {label: Control() for label in scripts_by_host}

        def run_one(label: str) -> Outcome:
            outcome = outcomes[label]

            def on_line(stream: str, line: str) -> None:
                marker = (
                    protocol.parse(line) if stream == "out" else protocol.Marker("output", "", line)
                )
                outcome.add(marker)
                if marker.kind == "step":
                    self.console.step(label, marker.text)
                elif marker.kind == "warn":
                    self.console.warn(f"{label}: {marker.text}")
                elif marker.kind == "output":
                    self.console.remote_output(label, marker.text)
                elif barrier and marker.kind == "value" and marker.key == "prepared":
                    barrier.arrive(label, outcome)

            try:
                script = scripts_by_host[label]
                outcome.status = transports[label].run(script, on_line, control=controls[label])
            finally:
                if barrier:
                    barrier.leave(label)
            if self.dry_run:
                outcome.done = True
            return outcome

        if barrier:
            barrier.meet(controls)
        work = Parallel({label: label for label in scripts_by_host})
        try:
            work.start(run_one)
            return work.join()
        except KeyboardInterrupt:
            self.console.warn(
                "interrupted: asking the servers to stop (Ctrl-C again to stop waiting)"
            )
            for control in controls.values():
                control.end()
        try:
            work.join(errors=False)
        except KeyboardInterrupt:
            self.close()
        error = Interrupted("interrupted")
        error.details = [f"{label}: {left_at(o)}" for label, o in outcomes.items()]
        raise error

    def everywhere(self, script: str) -> dict[str, Outcome]:
        return self.phase({h.spec: script for h in self.env.hosts})

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()


class Parallel:
    """One daemon thread per item (at most ``limit`` at work), results in the items' order.

    Daemon threads, so that a second Ctrl-C can leave a host that does not answer behind.
    ``join`` is interruptible (it waits on an Event, never on ``Thread.join``, which Python 3.11
    marks done when interrupted); call it again to go on waiting.
    """

    def __init__(self, items: dict[str, Any], limit: int = 32) -> None:
        self.items, self.slots = items, threading.Semaphore(limit)
        self.results: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.finished: dict[str, threading.Event] = {key: threading.Event() for key in items}

    def start(self, work: Callable[[Any], Any]) -> None:
        def runner(key: str, item: Any) -> None:
            try:
                with self.slots:
                    self.results[key] = work(item)
            except BaseException as exc:  # handed to the caller by join
                self.errors[key] = exc
            finally:
                self.finished[key].set()

        threads = {
            key: threading.Thread(target=runner, args=(key, item), name=key, daemon=True)
            for key, item in self.items.items()
        }
        try:
            for thread in threads.values():
                thread.start()
        finally:  # interrupted half-way: nobody is to wait for what never started
            for key, thread in threads.items():
                if thread.ident is None:
                    self.finished[key].set()

    def join(self, *, errors: bool = True) -> dict[str, Any]:
        for event in self.finished.values():
            while not event.wait(0.5):
                pass
        if errors:
            for key in self.items:
                if key in self.errors:
                    raise self.errors[key]
        return {key: self.results[key] for key in self.items if key in self.results}

    def run(self, work: Callable[[Any], Any]) -> dict[str, Any]:
        self.start(work)
        return self.join()


class Barrier:
    """Where a fleet's scripts meet: every host prepares, says ``prepared`` and waits (holding its
    lock, its release built). When all have arrived, and resolved the same commit, each is told
    to go on ("go" on its input); when one ends before arriving (it failed), or they disagree,
    the others' input is ended instead, so they stop and remove what they prepared.
    ``reason`` then says why, when no host's own failure does.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.controls: dict[str, Control] = {}
        self.arrived: dict[str, Outcome] = {}
        self.decided = False
        self.reason = ""

    def meet(self, controls: dict[str, Control]) -> None:
        self.controls = controls

    def arrive(self, label: str, outcome: Outcome) -> None:
        with self.lock:
            self.arrived[label] = outcome
            if self.decided or len(self.arrived) < len(self.controls):
                return
            self.decided = True
            shas = {o.values.get("sha") for o in self.arrived.values()}
            if len(shas) > 1:
                self.reason = "the hosts resolved the ref to different commits"
                self._stop()
            else:
                for control in self.controls.values():
                    control.send(b"go\n")

    def leave(self, label: str) -> None:
        """A host's script ended: if before the barrier opened, no host may go live."""
        with self.lock:
            if not self.decided:
                self.decided = True
                self._stop()

    def _stop(self) -> None:
        for control in self.controls.values():
            control.end()


def left_at(outcome: Outcome) -> str:
    """Where an interrupted script left its host, as truthfully as its markers tell."""
    live = outcome.values.get("live")
    if outcome.status == RUNNING:
        if live and "checked" in outcome.values:
            return f"{live} is live and passed its checks"
        if live:
            return (
                f"{live} went live; the server finishes its checks on its own and switches back"
                " if they fail"
            )
        step = outcome.steps[-1] if outcome.steps else "connecting"
        return (
            f"stopped waiting at step {step}; the server stops there on its own and is left"
            " unchanged (the half-built release is removed)"
        )
    if outcome.ok and outcome.done:
        return f"{live} is live and passed its checks" if live else "finished before the interrupt"
    if outcome.status == protocol.EXIT_SWITCHED_BACK:
        return f"{live} went live, then was switched back: {outcome.failure}"
    if outcome.status == protocol.EXIT_ABORTED:
        return "stopped before going live and left unchanged (the half-built release is removed)"
    return outcome.failure or f"the script ended with status {outcome.status}"
