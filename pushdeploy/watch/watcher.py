"""The watcher's loop: look at the source each interval and deploy each change of it.

Lifecycle: the watcher looks at the source from THIS machine (looks.py: ``git ls-remote`` of
``repo`` for ``ref``, or an artifact URL's identity, download.py's SHA-256 or ETag), every
``interval`` seconds with ±10 % jitter, at once when ``--listen``'s webhooks.py hears a push of
the ref, and deploys when what it sees differs from what it last deployed. The first look always
deploys: what is live already is a no-op that says so (``skip_if_live`` in prelude.sh).

Each deploy is a callable the command (cli/watch.py) hands in: ``pushdeploy [the same options]
ENV deploy`` run in-process. Its exit status decides what follows: 0 (deployed, or live
already) resets the wait; 7 (went live, failed, switched back) holds that identity back until
the source moves on, so a broken commit does not flap production; any other failure, like a
look that failed, warns and doubles the wait up to ``watch-backoff``; 130 (interrupted) ends it.

SIGTERM and SIGINT end it cleanly (``stopped_by_signals``): while it waits or looks, at once
(exit 0); during a deploy, cli/main.py makes them a KeyboardInterrupt, the deploy stops or
finishes through its own interrupt path (session.py), and the watcher exits with the deploy's
status (130). ``interval = 0``: no polling after the first look, only webhooks.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pushdeploy.errors import ExitStatus, PushdeployError
from pushdeploy.watch import looks

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.console import Console

JITTER = 0.10  # each wait is interval ±10 %, so a fleet of watchers does not look in step


class Stopped(BaseException):
    """SIGTERM or SIGINT while no deploy ran (``status`` 0), or a deploy interrupted (130).
    Not an Exception: no ``except Exception`` on the way may swallow it."""

    def __init__(self, status: int = ExitStatus.OK) -> None:
        super().__init__(status)
        self.status = status


def next_wait(interval: int, backoff: int, failures: int) -> float | None:
    """Seconds until the next look: ``interval`` (None when 0: webhooks only), or after
    ``failures`` failures in a row twice the wait of the one before, up to ``backoff`` (but
    never less than ``interval``)."""
    if failures == 0:
        return float(interval) if interval else None
    doubled = max(interval, 1) * 2 ** min(failures, 30)
    return float(max(interval, min(doubled, backoff)))


def jittered(seconds: float, rand: float) -> float:
    """``seconds`` moved by up to JITTER either way; ``rand`` is uniform in [0, 1)."""
    return seconds * (1 + JITTER * (2 * rand - 1))


@contextlib.contextmanager
def stopped_by_signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``handler`` inside; the handlers before are restored after (main
    thread only: signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def stop(signum: int, frame: object) -> None:
    raise Stopped


class Watcher:
    """The loop: look, deploy on a change, wait (woken early by ``wake``). See the module."""

    def __init__(
        self,
        look: looks.Look,
        deploy: Callable[[], int],
        console: Console,
        env: Environment,
        wake: threading.Event,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.look, self.deploy, self.console = look, deploy, console
        self.wake, self.rand = wake, rand
        self.interval, self.backoff = env.watch.interval, env.watch.backoff
        self.last: str | None = None  # the identity last deployed (None: deploy at the first look)
        self.held: str | None = None  # one that went live, failed and was switched back
        self.failures = 0

    def run(self) -> None:
        """Forever, until Stopped."""
        while True:
            wait = self.round()
            if wait is not None:
                wait = jittered(wait, self.rand())
            self.wake.wait(wait)
            self.wake.clear()  # pushes while looking or deploying: one more look, not one each

    def round(self) -> float | None:
        """One look, and a deploy when it changed; the wait until the next."""
        try:
            seen = self.look()
        except PushdeployError as exc:
            return self.failed(f"watch: {exc.message}")
        if seen in (self.last, self.held):
            return next_wait(self.interval, self.backoff, self.failures)
        shown = looks.short(seen)
        self.console.info(f"watch: the source is at {shown}: deploying")
        status = self.deploy()
        if status == ExitStatus.INTERRUPTED:
            raise Stopped(status)
        if status == ExitStatus.REVERTED:
            self.held = seen
            self.console.warn(
                f"watch: {shown} went live, failed and was switched back;"
                " it is not deployed again until the source moves on"
            )
        elif status != ExitStatus.OK:
            return self.failed(f"watch: the deploy of {shown} failed (exit {status})")
        else:
            self.last = seen
        self.failures = 0
        wait = next_wait(self.interval, self.backoff, 0)
        self.console.info(
            f"watch: next look in {wait:g} s" if wait else "watch: waiting for a push"
        )
        return wait

    def failed(self, message: str) -> float | None:
        self.failures += 1
        wait = next_wait(self.interval, self.backoff, self.failures)
        self.console.warn(f"{message}; next try in about {wait:g} s")
        return wait
