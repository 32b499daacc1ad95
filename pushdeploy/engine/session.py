"""One invocation against one environment: connections, scripts run on every host, interrupts.

``Session`` opens a transport per host (on first use, ``parallel`` hosts at a time) and runs one
script per host at once (``phase``), following each script's markers live, timing each step and
telling the console as each host ends. A fleet's scripts can wait for their word from a
``Rollout`` (rollout.py): all prepare, then go live batch by batch.

Lifecycle of an interrupt (Ctrl-C, or SIGTERM made one by cli.py): every running script is asked
to stop (the end of its input: see the guard in prelude.sh); the phase waits for the hosts' own
word, a second Ctrl-C stops waiting; ``Interrupted`` then says where each host was left.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pushdeploy.config.environment import Environment
from pushdeploy.config.hosts import Host
from pushdeploy.console import Console
from pushdeploy.engine.parallel import Parallel, Slot
from pushdeploy.engine.rollout import Rollout
from pushdeploy.errors import ConnectionError, Interrupted
from pushdeploy.remote import lock, protocol, readback, release, scripts
from pushdeploy.remote.protocol import LOST, RUNNING, Outcome
from pushdeploy.remote.report import DeployReport, HostReport, finished
from pushdeploy.remote.source import Source
from pushdeploy.transport.streams import Control

if TYPE_CHECKING:  # the transport imports Paramiko: only load it when a host is contacted
    from pushdeploy.transport.seam import Transport

Opener = Callable[[Environment, Host, Callable[[str], None], str], "Transport"]


class Companion(Protocol):
    """Work beside a host's script on its connection (an artifact's upload: sources/upload.py):
    it sees the script's markers, and ``finish`` ends it once the script has ended."""

    def observe(self, marker: protocol.Marker) -> None: ...

    def finish(self) -> None: ...


Alongside = Callable[[str, "Transport", Control], Companion]


class Session:
    """One invocation against one environment: the hosts' transports, the lock claim, the console.

    A host's transport is opened when its first script starts (``parallel`` hosts at a time
    connect and run, see ``phase``) and kept for the invocation's later scripts; ``close`` closes
    them. A transport whose connection was lost is dropped, so a later script reconnects.
    """

    def __init__(
        self,
        env: Environment,
        console: Console,
        *,
        source: Source,
        command: str,
        dry_run: bool = False,
        wait: int = 0,
        force: bool = False,
        opener: Opener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env, self.console, self.dry_run = env, console, dry_run
        self.source = source  # where releases come from (sources.of: the command line picks it)
        self.opener, self.clock = opener, clock
        self.started = clock()
        claim = lock.claim(command)
        self.run = scripts.Run(
            claim.token,
            claim.owner,
            claim.who,
            release.stamp(release.now()),
            wait,
            lock.STALE_AFTER,
            force,
        )
        self._transports: dict[str, Transport] = {}
        self._opening = threading.Lock()
        self.slots = threading.BoundedSemaphore(env.rollout.parallel)
        self.hosts = {h.spec: h for h in env.hosts}

    def transport(self, label: str) -> Transport:
        """The host's transport, opened now if it is not yet (safe from the hosts' threads)."""
        from pushdeploy.transport import open_transport
        from pushdeploy.transport.local import RecordingTransport

        with self._opening:
            found = self._transports.get(label)
        if found is not None:
            return found
        if self.dry_run:
            opened: Transport = RecordingTransport(label, self._print_script)
        else:
            opener = self.opener or open_transport
            opened = opener(self.env, self.hosts[label], self.console.warn, self.env.ssh.host_key)
        with self._opening:
            return self._transports.setdefault(label, opened)

    def transports(self) -> dict[str, Transport]:
        """Every host's transport (opened ``parallel`` at a time), in the order of the config."""
        Parallel(dict(self.hosts), self.env.rollout.parallel).run(
            lambda host: self.transport(host.spec)
        )
        return {label: self._transports[label] for label in self.hosts}

    def _print_script(self, host: str, script: str) -> None:
        self.console.raw(f"# ---- {host} ----\n{script}")

    def phase(
        self,
        scripts_by_host: dict[str, str],
        rollout: Rollout | None = None,
        *,
        quiet: bool = False,
        alongside: Alongside | None = None,
    ) -> dict[str, Outcome]:
        """Run each host's script, ``parallel`` hosts at a time; follow their markers live.

        ``quiet``: the console is shown neither the steps nor each host's end (a rollback, after
        the deploy's own end was shown). With a ``rollout``, a script that says ``prepared`` (or
        ``asked``) waits there for its word (rollout.py) and gives its slot to the next host. A host whose connection fails or
        drops ends with status LOST and the error's message (deploy.py decides what follows).
        Ctrl-C (or SIGTERM) asks every script to stop (the end of its input): before its switch it
        stops and cleans up, after it the server finishes the checks or switches back on its own.
        The phase then waits for the hosts' own word; a second Ctrl-C stops waiting. Either way
        ``Interrupted`` says where each host was left. ``alongside`` starts a companion of each
        host's script on the same connection (an upload), ended when the script ends.
        """
        outcomes = {label: Outcome(RUNNING) for label in scripts_by_host}
        controls = {label: Control() for label in scripts_by_host}

        def run_one(label: str) -> Outcome:
            outcome = outcomes[label]
            slot = Slot(self.slots)
            companion: Companion | None = None

            def on_line(stream: str, line: str) -> None:
                marker = (
                    protocol.parse(line) if stream == "out" else protocol.Marker("output", "", line)
                )
                if marker.kind == protocol.BEAT:  # the script is there: the transport's business
                    return
                outcome.add(marker, self.clock())
                if companion is not None:
                    companion.observe(marker)
                said = f"{marker.key} {marker.text}" if marker.key else marker.text
                self.console.record(label, marker.kind, said)
                if not quiet:
                    self.show(label, marker, outcome)
                if rollout and marker.kind == "value":
                    if readback.waits(marker):
                        slot.release()
                        rollout.arrive(label, outcome)
                    else:
                        rollout.notify()

            slot.acquire()
            outcome.started = self.clock()
            try:
                transport = self.transport(label)
                if alongside is not None:
                    companion = alongside(label, transport, controls[label])
                status = transport.run(scripts_by_host[label], on_line, control=controls[label])
                outcome.status = status
            except ConnectionError as exc:  # could not connect, or the connection dropped
                outcome.status, outcome.failed_step = LOST, "connection"
                outcome.failure, outcome.lost = exc.message, exc
                self.drop(label)
            finally:
                if companion is not None:
                    companion.finish()
                slot.release()
                outcome.ended = self.clock()
                if self.dry_run:
                    outcome.done = True
                if rollout:
                    rollout.leave(label, outcome)
                if outcome.status != RUNNING and not quiet:
                    self.console.host_done(HostReport.of(label, outcome))
            return outcome

        if rollout:
            rollout.meet(controls)
        work = Parallel({label: label for label in scripts_by_host}, limit=len(scripts_by_host))
        try:
            work.start(run_one)
            if rollout:
                rollout.conduct()
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
        hosts = [HostReport.of(label, o) for label, o in outcomes.items()]
        error.report = DeployReport.of("", self.env.name, hosts, outcome="interrupted")
        raise error

    def show(self, label: str, marker: protocol.Marker, outcome: Outcome) -> None:
        """What the console shows of a marker as it arrives (a migration's output in full)."""
        if marker.kind == "step":
            self.console.step(label, marker.text)
        elif marker.kind == "warn":
            self.console.warn(f"{label}: {marker.text}")
        elif marker.kind == "output" and outcome.steps[-1:] == ["migrate"]:
            self.console.info(f"{label} migrate │ {marker.text}")
        elif marker.kind == "output":
            self.console.remote_output(label, marker.text)

    def everywhere(self, script: str, alongside: Alongside | None = None) -> dict[str, Outcome]:
        return self.phase({h.spec: script for h in self.env.hosts}, alongside=alongside)

    def drop(self, label: str) -> None:
        """Forget a host's transport (its connection is gone): the next script reconnects."""
        with self._opening:
            transport = self._transports.pop(label, None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def close(self) -> None:
        for transport in list(self._transports.values()):
            transport.close()


def left_at(outcome: Outcome) -> str:
    """Where an interrupted script left its host, as truthfully as its markers tell."""
    said = readback.read(readback.Progress, outcome)
    live = said.live
    if outcome.status == RUNNING:
        if live and said.checked:
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
    if finished(outcome):  # cut short after its checks passed: nothing after them changes that
        return f"{live} is live and passed its checks"
    if outcome.status == LOST:
        return f"{outcome.failure}; the server goes on (or stops) on its own"
    if outcome.status == protocol.EXIT_SWITCHED_BACK:
        return f"{live} went live, then was switched back: {outcome.failure}"
    if outcome.status == protocol.EXIT_ABORTED:
        return "stopped before going live and left unchanged (the half-built release is removed)"
    return outcome.failure or f"the script ended with status {outcome.status}"
