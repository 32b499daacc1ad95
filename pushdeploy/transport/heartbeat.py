"""Noticing a peer gone silent: the client's half of a running script's heartbeat.

A network can drop without either side closing (half-open): then nothing ever arrives, and
neither TCP nor sshd says so for many minutes. So, over the script's own channel, whatever sshd
is configured to do: every script prints a ``beat`` marker every BEAT_EVERY seconds (prelude.sh
``beats_start``), and its guard stops it (before its switch) when no line came from the client
for SILENT_AFTER seconds; the client sends it a ``beat`` line as often, and counts the
connection lost when nothing came from the script for SILENT_AFTER seconds. protocol.py holds
the numbers. Where ssh_config sets ServerAliveInterval, the client also asks sshd itself for an
answer that often (``probe``), and its silence bound is ServerAliveInterval times
(ServerAliveCountMax + 1) instead: when ``ssh`` itself gives up (one quiet interval, then
CountMax probes unanswered; ssh.SSHTransport). The script's guard keeps SILENT_AFTER: it hears
only the client's beat lines, every BEAT_EVERY seconds.

``Heartbeat`` is that client half, for one run: the beats (``beat``) and the watch (``watch``),
each in a daemon thread of its own, so that a beat stuck on a dead connection never holds up the
watch. When the watch fires it calls ``silenced`` once (which closes the connection: whatever
waits on it then wakes with an error) and ``silent`` holds, so the caller can say why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from pushdeploy.remote.protocol import BEAT, BEAT_EVERY, SILENT_AFTER

BEAT_LINE = f"{BEAT}\n".encode()


class Heartbeat:
    """The beats sent to one running script and the watch on what comes back from it.

    Lifecycle: made before the run starts; ``watch`` starts the watch (the clock starts then),
    ``beat`` the beats, ``unwatch`` ends the watch early (a command that may be quiet as long as
    it likes, once it has started), leaving the ``with`` block ends both. ``heard`` says that
    something came; ``pending`` (set by the caller) says whether something waits unread, which
    counts as heard (the caller may be busy showing what came before).
    """

    def __init__(
        self,
        silenced: Callable[[], object] = lambda: None,
        *,
        every: float = BEAT_EVERY,
        silent_after: float = SILENT_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.silenced, self.every, self.silent_after, self.clock = (
            silenced,
            every,
            silent_after,
            clock,
        )
        self.pending: Callable[[], bool] = lambda: False
        self.silent = False
        self._heard = clock()
        self._stopped = threading.Event()
        self._unwatched = threading.Event()

    def heard(self) -> None:
        self._heard = self.clock()

    def watch(self) -> None:
        """From now on, ``silent_after`` seconds without a word make the run ``silent``."""
        self.heard()
        self._start(self._watch, "pushdeploy-watch")

    def unwatch(self) -> None:
        self._unwatched.set()

    def beat(self, send: Callable[[bytes], object]) -> None:
        """Send a beat line with ``send`` every BEAT_EVERY seconds (errors are ``send``'s)."""

        def beats() -> None:
            while not self._stopped.wait(self.every):
                send(BEAT_LINE)

        self._start(beats, "pushdeploy-beat")

    def probe(self, ask: Callable[[], bool], every: float) -> None:
        """Every ``every`` seconds, ``ask`` the server for an answer (an SSH keepalive, as
        ``ssh``'s ServerAliveInterval does); an answer counts as heard. ``ask`` may block until
        the answer, or until the watch closes the connection."""

        def probes() -> None:
            while not self._stopped.wait(every):
                if ask():
                    self.heard()

        self._start(probes, "pushdeploy-probe")

    def _watch(self) -> None:
        tick = min(1.0, self.silent_after / 4)
        while not self._stopped.wait(tick) and not self._unwatched.is_set():
            quiet = self.clock() - self._heard
            if quiet >= self.silent_after and not self._pending():
                self.silent = True
                self.silenced()
                return

    def _pending(self) -> bool:
        try:
            return bool(self.pending())
        except Exception:  # the connection is going: nothing waits that counts
            return False

    def _start(self, target: Callable[[], None], name: str) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()

    def __enter__(self) -> Heartbeat:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
