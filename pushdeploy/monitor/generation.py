"""A generation: ``workers`` processes of one release, started together, retired together.

Lifecycle::

    starting --(every worker passed readiness)--> serving --(next generation serving)--> retiring
        \\--(a worker exited / timed out)--> failed (stopped at once; the old generation serves on)

While serving, a worker that exits is respawned in the same slot and release after an
exponential backoff (``backoff_delay``); a respawned worker rejoins the shared sockets at once
but is only probed by the heartbeat after it passes readiness again. Retiring workers got
SIGTERM and are SIGKILLed when ``grace`` runs out.

A reload generation may start ``confined`` to half the CPUs (see ``affinity``): its workers are
born confined and get the monitor's full CPU set back as soon as all are ready,
or when half of ``ready.timeout`` has passed, whichever comes first; respawns are never confined.
The generation it replaces drains on that same half (``retire(confine=True)``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from pushdeploy.monitor import affinity
from pushdeploy.monitor.readiness import ReadinessCheck
from pushdeploy.monitor.settings import Settings
from pushdeploy.monitor.worker import Worker

BACKOFF_INITIAL = 0.5  # seconds before the first respawn of a slot
BACKOFF_MAX = 30.0  # cap on the delay
BACKOFF_RESET = 10.0  # a worker that lived this long resets its slot's crash count

Spawner = Callable[[int, int, str], Worker]  # (slot, generation, release) -> Worker


def backoff_delay(crashes: int) -> float:
    """Delay before respawning after ``crashes`` consecutive early exits: 0.5, 1, 2, ... 30 s."""
    if crashes <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (crashes - 1))


class Generation:
    """The workers of one release; owns their readiness checks and respawn schedule."""

    def __init__(
        self,
        number: int,
        release: str,
        settings: Settings,
        spawner: Spawner,
        confine: bool = False,
    ) -> None:
        self.number = number
        self.release = release
        self.settings = settings
        self._spawner = spawner
        self.state = "starting"
        self.started = time.monotonic()
        self.workers: list[Worker] = []
        self.checks: dict[int, ReadinessCheck] = {}
        self.crashes = [0] * settings.workers
        self.respawn_at: dict[int, float] = {}
        self.respawns = 0
        self.failure = ""
        self.kill_at = 0.0
        # The CPUs the workers start on; None once released, or when not confined at all.
        self.confined = affinity.startup_cpus(os.sched_getaffinity(0)) if confine else None
        for slot in range(settings.workers):
            self._start(slot)

    def _start(self, slot: int) -> None:
        with affinity.spawning_on(self.confined):
            worker = self._spawner(slot, self.number, self.release)
        self.workers = [w for w in self.workers if w.slot != slot] + [worker]
        self.workers.sort(key=lambda w: w.slot)
        self.checks[slot] = ReadinessCheck(
            address=worker.health_address,
            listener=worker.health,
            http_path=self.settings.ready.http,
            timeout=self.settings.ready.timeout,
        )

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def reap(self) -> list[Worker]:
        """Poll every worker; returns those that exited since the last call."""
        exited = []
        for w in self.workers:
            if w.alive and w.poll() is not None:
                exited.append(w)
                check = self.checks.pop(w.slot, None)
                if check:
                    check.cancel()
        return exited

    def step_starting(self) -> str | None:
        """Advance readiness; returns ``"ready"``, a failure reason, or ``None`` (still waiting)."""
        for w in self.workers:
            if not w.alive:
                return f"worker {w.pid} {w.describe_exit()} before it was ready"
        for slot, check in list(self.checks.items()):
            if check.result == "ready":
                self._worker(slot).ready = True
                del self.checks[slot]
            elif check.result is not None:
                return f"worker {self._worker(slot).pid} {check.result}"
        if not self.checks or time.monotonic() - self.started >= self.settings.ready.timeout / 2:
            self.release_cpus()
        return "ready" if not self.checks else None

    def release_cpus(self) -> None:
        """Give every worker (threads and children included) the monitor's CPUs back."""
        if self.confined:
            affinity.move(self.pids, os.sched_getaffinity(0), only_from=self.confined)
            self.confined = None

    def step_serving(self, now: float, exited: list[Worker]) -> list[str]:
        """Schedule respawns for exited workers, start due ones, mark re-ready ones; log lines."""
        notes = []
        for w in exited:
            lived = now - w.started_mono
            self.crashes[w.slot] = 1 if lived >= BACKOFF_RESET else self.crashes[w.slot] + 1
            delay = backoff_delay(self.crashes[w.slot])
            self.respawn_at[w.slot] = now + delay
            notes.append(f"worker {w.pid} (slot {w.slot}) {w.describe_exit()}; "
                         f"respawn in {delay:g}s")  # fmt: skip
        for slot, when in list(self.respawn_at.items()):
            if now >= when:
                del self.respawn_at[slot]
                try:
                    self._start(slot)
                except OSError as e:
                    self.crashes[slot] += 1
                    self.respawn_at[slot] = now + backoff_delay(self.crashes[slot])
                    notes.append(f"cannot respawn slot {slot}: {e}")
                    continue
                self.respawns += 1
                notes.append(f"respawned slot {slot} as worker {self._worker(slot).pid}")
        for slot, check in list(self.checks.items()):
            if check.result is not None:
                del self.checks[slot]
                self._worker(slot).ready = check.result == "ready"
                if check.result != "ready":
                    notes.append(f"respawned worker {self._worker(slot).pid} {check.result}")
        return notes

    def retire(self, grace: float, confine: bool = False) -> None:
        """SIGTERM every worker; ``kill_overdue`` SIGKILLs them after ``grace``.

        ``confine``: drain on the start-up CPUs, leaving the others to the new serving generation.
        """
        self.state = "retiring"
        cpus = affinity.startup_cpus(os.sched_getaffinity(0)) if confine else None
        if cpus:
            affinity.move(self.pids, cpus)
        self.kill_at = time.monotonic() + grace
        self.respawn_at.clear()
        for check in self.checks.values():
            check.cancel()
        self.checks.clear()
        for w in self.workers:
            w.terminate()

    def kill_overdue(self, now: float) -> bool:
        """SIGKILL the survivors once grace is over; True when every worker has exited."""
        if now >= self.kill_at:
            for w in self.workers:
                w.kill()
        return all(not w.alive for w in self.workers)

    def _worker(self, slot: int) -> Worker:
        return next(w for w in self.workers if w.slot == slot)
