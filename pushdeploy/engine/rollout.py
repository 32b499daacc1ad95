"""How a fleet's prepared scripts go live: all prepared, one migration, then batch by batch.

Each host's deploy script prepares (lock, fetch, build; nothing live changes), says ``prepared``
and waits, its lock held, for the client's word (prelude.sh ``await_go``). ``Rollout.conduct``
runs in the main thread while the hosts' threads report to it (``arrive``, ``leave``):

1. wait until every host has prepared; if one ends first (it failed), stop;
2. ``decide`` what each host is told (a deploy: "go", if every host resolved the same commit;
   a revert: the release each host's own history picks) or why not;
3. with a migration, tell the primary host "migrate" and wait for ``migrated`` (or its failure);
4. batch by batch (``batch`` in deploy.conf; one batch of all hosts by default): tell its hosts
   to go live, wait until each has passed restart, test and health, pause, go on.

When anything fails, the hosts not yet told to go have their input ended: each stops and removes
what it prepared (the guard in prelude.sh). Hosts that went live are rolled back by deploy.py,
so the fleet ends on one release. A revert uses the same conduct with one batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from pushdeploy.config.values import BatchSize
from pushdeploy.errors import PushdeployError
from pushdeploy.remote import readback
from pushdeploy.remote.history import Entry
from pushdeploy.remote.protocol import Outcome
from pushdeploy.remote.report import finished
from pushdeploy.transport.streams import Control

Decide = Callable[[dict[str, Outcome]], dict[str, str]]


def batches(labels: Sequence[str], size: BatchSize | None) -> list[list[str]]:
    """The hosts in the order of the config, cut into batches of ``size`` (all at once: None)."""
    step = size.size(len(labels)) if size else len(labels)
    return [list(labels[i : i + step]) for i in range(0, len(labels), max(1, step))]


def go_everywhere(arrived: dict[str, Outcome]) -> dict[str, str]:
    """A deploy's decision: every host goes, if they all resolved the ref to one commit."""
    shas = {label: readback.read(readback.Deploy, o).sha for label, o in arrived.items()}
    if len(set(shas.values())) > 1:
        said = ", ".join(
            f"{label} {('?' if sha is None else sha)[:7]}" for label, sha in shas.items()
        )
        raise PushdeployError(f"the hosts resolved the ref to different commits ({said})")
    return {label: "go" for label in arrived}


def pick(target: Entry) -> str:
    """The word that tells a waiting revert script where to go (scripts.revert reads it)."""
    return f"to {int(target.tj)} {target.release or '-'} {target.sha} {target.ref or '-'}"


def picked(word: str) -> str:
    """The release a revert's word (``pick``) sent it to, or "" (a TJ line's: none yet)."""
    parts = word.split()
    return parts[2] if len(parts) > 2 and parts[0] == "to" and parts[2] != "-" else ""


class Rollout:
    """The conductor of one fleet phase (see the module docstring for the order of things)."""

    def __init__(
        self,
        batches: list[list[str]],
        *,
        decide: Decide = go_everywhere,
        migrate_on: str | None = None,
        pause: float = 0.0,
        on_batch: Callable[[int, list[str]], None] | None = None,
    ) -> None:
        self.batches, self.decide, self.migrate_on = batches, decide, migrate_on
        self.pause, self.on_batch = pause, on_batch
        self.changed = threading.Condition()
        self.controls: dict[str, Control] = {}
        self.arrived: dict[str, Outcome] = {}
        self.left: dict[str, Outcome] = {}
        self.sent: set[str] = set()  # told to go live: their scripts finish on their own
        self.words: dict[str, str] = {}  # what each of them was told ("go", a revert's pick)
        self.stopped = False
        self.error: PushdeployError | None = None  # why it stopped when no host's failure says

    def meet(self, controls: dict[str, Control]) -> None:
        self.controls = controls

    def arrive(self, label: str, outcome: Outcome) -> None:
        with self.changed:
            self.arrived[label] = outcome
            self.changed.notify_all()

    def notify(self) -> None:
        """Something was said (``migrated``): look again."""
        with self.changed:
            self.changed.notify_all()

    def leave(self, label: str, outcome: Outcome) -> None:
        with self.changed:
            self.left[label] = outcome
            self.changed.notify_all()

    def conduct(self) -> None:
        """Run the rollout to its end; returns when no more words will be sent."""
        hosts = [label for batch in self.batches for label in batch]
        self._until(lambda: len(self.arrived) == len(hosts) or bool(self._early()))
        if self._early():
            return self._stop()
        try:
            words = self.decide({label: self.arrived[label] for label in hosts})  # config order
        except PushdeployError as exc:
            self.error = exc
            return self._stop()
        if self.migrate_on:
            primary = self.migrate_on
            self.controls[primary].send(b"migrate\n")
            self._until(lambda: self._migrated(primary) or primary in self.left)
            if primary in self.left:
                return self._stop()
        for number, batch in enumerate(self.batches):
            if number and self.pause:
                deadline = time.monotonic() + self.pause

                def paused(end: float = deadline) -> bool:
                    return time.monotonic() >= end or bool(self._early())

                self._until(paused)
                if self._early():
                    return self._stop()
            if self.on_batch and len(self.batches) > 1:
                self.on_batch(number + 1, batch)
            for label in batch:
                self.sent.add(label)
                self.words[label] = words[label]
                self.controls[label].send(words[label].encode() + b"\n")

            def ended(hosts: list[str] = batch) -> bool:
                return all(label in self.left for label in hosts)

            self._until(ended)
            if not all(finished(self.left[label]) for label in batch):
                return self._stop()

    def _migrated(self, label: str) -> bool:
        return readback.read(readback.Deploy, self.arrived[label]).migrated

    def _early(self) -> list[str]:
        """Hosts whose script ended while it should be waiting for its word."""
        return [label for label in self.left if label not in self.sent]

    def _until(self, ready: Callable[[], bool]) -> None:
        # Short waits, so that Ctrl-C reaches the main thread (phase() handles it).
        with self.changed:
            while not ready():
                self.changed.wait(0.2)

    def _stop(self) -> None:
        """Stop every host not told to go ("stop", then the end of its input): each stops at
        once, says another host failed, and cleans up."""
        with self.changed:
            self.stopped = True
        for label, control in self.controls.items():
            if label not in self.sent:
                control.send(b"stop\n")  # why, first: the guard says "another host failed"
                control.end()
