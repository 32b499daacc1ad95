"""A session's threads: one per host, at most ``parallel`` of them at work at once.

``Parallel`` runs one daemon thread per item and hands back results (or the first error) in the
items' order; ``Slot`` is one host's hold on the session's ``parallel`` slots (session.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Slot:
    """One of the session's ``parallel`` slots, held by a host from its connection until its
    script waits at the rollout (or ends); released once, whichever comes first."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self.slots, self.held, self.lock = slots, False, threading.Lock()

    def acquire(self) -> None:
        # Short waits: a Ctrl-C must still reach the main thread (these are daemon threads).
        while not self.slots.acquire(timeout=0.5):
            pass
        self.held = True

    def release(self) -> None:
        with self.lock:
            if self.held:
                self.held = False
                self.slots.release()


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
