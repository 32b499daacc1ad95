"""The monitor's main loop: owns the sockets, the generations, reloads, respawns and the status.

Lifecycle of ``Supervisor.run``: take the state-dir lock, bind every ``listen`` endpoint, start
generation 1 from ``current``'s target and wait for it to be ready (if it never is, stop and exit
1). Then loop, single-threaded, waking on signals (via ``signal.set_wakeup_fd``) or every 0.1 s:

* reap workers; respawn crashed ones of the serving generation with exponential backoff;
* SIGHUP, a changed restart file (stat'ed through ``current`` every ``poll_interval``) or a
  heartbeat verdict start a reload: a new generation on the *same* sockets, following ``current``
  afresh. When every new worker is ready the old generation gets SIGTERM (SIGKILL after
  ``grace``); if one exits or times out first, the new generation is stopped, the old one keeps
  serving, and the failure is recorded in the status file for ``reload`` / the deploy to read.
  Reload requests that arrive during a reload are coalesced into one more reload after it;
* SIGTERM / SIGINT: SIGTERM every worker, wait up to ``grace``, SIGKILL the rest, exit 0.

The listening sockets are never closed before the monitor exits, so no connection is refused
during a reload; the only waits are the kernel's accept queue while workers change hands.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from pushdeploy.monitor import sockets, state
from pushdeploy.monitor.generation import Generation
from pushdeploy.monitor.heartbeat import HeartbeatMonitor
from pushdeploy.monitor.reloads import Reloads, RestartFile
from pushdeploy.monitor.settings import Settings
from pushdeploy.monitor.sockets import Endpoint
from pushdeploy.monitor.worker import Worker, spawn

TICK = 0.1
APP_LOG = "app.log"

ReadyCallback = Callable[[bool, str], None]


class AlreadyRunning(Exception):
    """Another monitor holds the lock on this state dir."""


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} pushdeploy-monitor[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Runs one app under ``settings`` until told to stop; see the module doc for the loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.listeners: list[Any] = []
        self.bound: list[Endpoint] = []
        self.serving: Generation | None = None
        self.pending: Generation | None = None
        self.retiring: list[Generation] = []
        self.generation = 0
        self.reloads = Reloads()
        self.reload_wanted = ""
        self.stop_wanted = False
        self.restart_file = RestartFile(settings.restart_path)
        self.state = "starting"
        self.started = time.time()
        self.heartbeat = (
            HeartbeatMonitor(settings.heartbeat, time.monotonic()) if settings.heartbeat else None
        )
        self._last_written: dict[str, Any] = {}
        self._lock = state.Lock(settings.state_dir)
        self._wake_r = self._wake_w = -1

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, on_ready: ReadyCallback | None = None) -> int:
        if not self._lock.acquire():
            raise AlreadyRunning(f"a monitor already runs for {self.settings.state_dir}")
        try:
            return self._run(on_ready or (lambda ok, msg: None))
        finally:
            self._shutdown()
            self._lock.release()

    def _run(self, on_ready: ReadyCallback) -> int:
        os.makedirs(self.settings.logs_dir, exist_ok=True)
        for endpoint in self.settings.listen:
            try:
                self.listeners.append(sockets.bind(endpoint))
                self.bound.append(endpoint)
            except OSError as e:
                reason = f"cannot listen on {endpoint.text}: {e.strerror or e}"
                log(reason)
                self.reloads.failed_to_listen(reason)
                self.state = "failed"
                self._write_status()
                on_ready(False, reason)
                return 1
        self._install_signals()
        log(f"listening on {', '.join(e.text for e in self.settings.listen)}")
        next_poll = time.monotonic() + self.settings.poll_interval
        self._start_reload("start")
        first = True
        while not self.stop_wanted:
            self._wait(TICK)
            now = time.monotonic()
            if self.stop_wanted:
                break
            self._step_generations(now)
            if first and self.pending is None:
                first = False
                ok = self.serving is not None
                self.state = "running" if ok else "failed"
                self._write_status()
                on_ready(ok, self.reloads.current.get("reason") or "ready")
                if not ok:
                    return 1
                sockets.sd_notify("READY=1")
            if now >= next_poll:
                next_poll = now + self.settings.poll_interval
                if self.restart_file.touched():
                    self.reload_wanted = self.reload_wanted or "restart-file"
            self._step_heartbeat(now)
            if self.reload_wanted and self.pending is None and self.serving is not None:
                trigger, self.reload_wanted = self.reload_wanted, ""
                self._start_reload(trigger)
            self._write_status()
        if first:
            on_ready(False, "stopped before the first generation was ready")
        return 0

    def _shutdown(self) -> None:
        """Drain and stop every worker (SIGTERM, then SIGKILL after grace), close the sockets."""
        self.state = "stopping"
        sockets.sd_notify("STOPPING=1")
        gens = [g for g in (self.serving, self.pending, *self.retiring) if g is not None]
        for g in gens:
            if g.state != "retiring":
                g.retire(self.settings.grace)
        with contextlib.suppress(OSError):
            self._write_status()
        deadline = time.monotonic() + self.settings.grace + 5
        while gens and time.monotonic() < deadline:
            now = time.monotonic()
            for g in gens:
                g.reap()
            gens = [g for g in gens if not g.kill_overdue(now)]
            if gens:
                self._wait(TICK)
        for listener in self.listeners:
            listener.close()
        for endpoint in self.bound:  # not a socket file that another server owns
            if endpoint.is_unix:
                with contextlib.suppress(OSError):
                    os.unlink(endpoint.path)
        self.serving = self.pending = None
        self.retiring = []
        self.state = "stopped" if self.state != "failed" else self.state
        with contextlib.suppress(OSError):
            self._write_status()
        log("stopped")

    # -- signals ---------------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(self._wake_w)

        def on_stop(signum: int, frame: object) -> None:
            self.stop_wanted = True

        def on_hup(signum: int, frame: object) -> None:
            self.reload_wanted = self.reload_wanted or "sighup"

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def _wait(self, timeout: float) -> None:
        if self._wake_r < 0:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)

    # -- generations -----------------------------------------------------------------------

    def _spawn(self, slot: int, generation: int, release: str) -> Worker:
        env = dict(os.environ)
        env.update(self.settings.env)
        return spawn(
            app=self.settings.app,
            release=release,
            slot=slot,
            generation=generation,
            listeners=self.listeners,
            env=env,
            log_path=os.path.join(self.settings.logs_dir, APP_LOG),
        )

    def _start_reload(self, trigger: str) -> None:
        self.restart_file.served()
        release = os.path.realpath(self.settings.current)
        requests = state.take_reload_requests(self.settings.state_dir)
        seq = self.reloads.begin(trigger, requests, release)["seq"]
        log(f"reload {seq} ({trigger}): starting {release}")
        if not os.path.isdir(release):
            self._finish_reload(False, f"{self.settings.current} does not lead to a directory")
            return
        self.generation += 1
        # Only a reload confines its start-up: the first generation has nobody to make room for.
        confine = self.serving is not None and self.settings.confine_reloads
        try:
            self.pending = Generation(self.generation, release, self.settings, self._spawn, confine)
        except OSError as e:
            self._finish_reload(False, f"cannot start the app: {e}")

    def _finish_reload(self, ok: bool, reason: str) -> None:
        self.reloads.finish(ok, reason)
        log(f"reload {self.reloads.seq}: {'ok' if ok else 'FAILED: ' + reason}")

    def _step_generations(self, now: float) -> None:
        if self.serving is not None:
            exited = self.serving.reap()
            for note in self.serving.step_serving(now, exited):
                log(note)
        pending = self.pending
        if pending is not None:
            pending.reap()
            verdict = pending.step_starting()
            if verdict == "ready":
                if self.serving is not None:
                    self.serving.retire(self.settings.grace, self.settings.confine_reloads)
                    self.retiring.append(self.serving)
                pending.state = "serving"
                self.serving, self.pending = pending, None
                if self.heartbeat:
                    self.heartbeat.failures.clear()
                self._finish_reload(True, "")
            elif verdict is not None:
                pending.retire(self.settings.grace)
                self.retiring.append(pending)
                self.pending = None
                self._finish_reload(False, verdict)
        for g in self.retiring:
            g.reap()
        self.retiring = [g for g in self.retiring if not g.kill_overdue(now)]

    def _step_heartbeat(self, now: float) -> None:
        if self.heartbeat is None or self.serving is None:
            return
        verdict = self.heartbeat.tick(
            now,
            self.serving.workers,
            generation_started=self.serving.started,
            reload_running=self.pending is not None,
        )
        if verdict.reason:
            log(verdict.reason)
        if verdict.reload:
            self.reload_wanted = self.reload_wanted or "heartbeat"

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        serving = self.serving
        return {
            "pid": os.getpid(),
            "state": self.state,
            "started": round(self.started, 3),
            "generation": serving.number if serving else 0,
            "release": serving.release if serving else None,
            "workers": [w.as_status() for w in serving.workers] if serving else [],
            "starting": [w.as_status() for w in self.pending.workers] if self.pending else [],
            "retiring": [w.as_status() for g in self.retiring for w in g.workers if w.alive],
            "respawns": serving.respawns if serving else 0,
            "listen": [e.text for e in self.settings.listen],
            **self.reloads.as_status(),
        }

    def _write_status(self) -> None:
        data = self.status()
        if data != self._last_written:
            self._last_written = data
            state.write_json_atomic(
                os.path.join(self.settings.state_dir, state.STATUS),
                {**data, "updated": round(time.time(), 3)},
            )
