"""The heartbeat: periodic per-worker HTTP checks, and the guard that turns failures into a reload.

Every ``interval`` seconds each *ready* worker of the serving generation gets ``GET path`` on its
health channel (in a thread, bounded by ``timeout``). A worker that fails ``failures`` beats in a
row asks for a reload -- unless the serving generation started less than ``suppress`` seconds ago
or a reload is already running. That guard is what stops one slow start from causing a reload
storm: a fresh generation always gets ``suppress`` seconds before its heartbeat can count.
Workers that are still starting (a respawn not yet ready) are not probed at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from pushdeploy.monitor.readiness import http_probe
from pushdeploy.monitor.settings import Heartbeat
from pushdeploy.monitor.worker import Worker


@dataclass(frozen=True)
class Verdict:
    """What the heartbeat concluded after a beat: reload (and why), or nothing."""

    reload: bool
    reason: str = ""


def decide(
    failures: dict[int, tuple[int, str]],
    *,
    threshold: int,
    now: float,
    generation_started: float,
    suppress: float,
    reload_running: bool,
) -> Verdict:
    """Pure decision: ``failures`` maps pid -> (consecutive failures, last error)."""
    failing = sorted((pid, err) for pid, (count, err) in failures.items() if count >= threshold)
    if not failing:
        return Verdict(False)
    if reload_running:
        return Verdict(False, "reload already running")
    if now - generation_started < suppress:
        return Verdict(False, f"suppressed: generation younger than {suppress:g}s")
    pid, error = failing[0]
    return Verdict(True, f"heartbeat failed for worker {pid}: {error}")


class _Beat:
    """One probe of one worker, running in a daemon thread."""

    def __init__(self, worker: Worker, path: str, timeout: float) -> None:
        self.pid = worker.pid
        self.error: str | None = None
        self.done = threading.Event()
        address = worker.health_address
        self._thread = threading.Thread(
            target=self._run, args=(address, path, timeout), name="heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self, address: tuple[str, int], path: str, timeout: float) -> None:
        try:
            self.error = http_probe(address, path, timeout)
        finally:
            self.done.set()


class HeartbeatMonitor:
    """Schedules beats and keeps each worker's run of consecutive failures."""

    def __init__(self, settings: Heartbeat, now: float) -> None:
        self.settings = settings
        self.next_due = now + settings.interval
        self.beats: list[_Beat] = []
        self.failures: dict[int, tuple[int, str]] = {}

    def tick(
        self,
        now: float,
        workers: Iterable[Worker],
        *,
        generation_started: float,
        reload_running: bool,
    ) -> Verdict:
        """Start a beat when due; when the running beat has finished, count it and decide."""
        if self.beats:
            if not all(b.done.is_set() for b in self.beats):
                return Verdict(False)
            for beat in self.beats:
                if beat.error is None:
                    self.failures.pop(beat.pid, None)
                else:
                    count = self.failures.get(beat.pid, (0, ""))[0] + 1
                    self.failures[beat.pid] = (count, beat.error)
            self.beats = []
            verdict = decide(
                self.failures,
                threshold=self.settings.failures,
                now=now,
                generation_started=generation_started,
                suppress=self.settings.suppress,
                reload_running=reload_running,
            )
            if verdict.reload:
                self.failures.clear()
            return verdict
        if now >= self.next_due:
            self.next_due = now + self.settings.interval
            live = [w for w in workers if w.alive and w.ready]
            alive_pids = {w.pid for w in live}
            self.failures = {p: f for p, f in self.failures.items() if p in alive_pids}
            self.beats = [_Beat(w, self.settings.path, self.settings.timeout) for w in live]
        return Verdict(False)
