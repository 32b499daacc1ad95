"""The client's half of a script's heartbeat: beats sent at their pace, silence noticed once.

The watch's clock is the test's (``Clock``): silence is whatever the test says it is, so no
scheduling delay can fake one; the watch still looks in real time, every SILENT / 4 seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pushdeploy.transport.heartbeat import BEAT_LINE, Heartbeat

SILENT = 0.2  # seconds of the test's clock; the watch looks every 0.05 s of real time


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def within(check: Callable[[], bool], limit: float = 2.0) -> bool:
    """Poll ``check`` every 10 ms for up to ``limit`` seconds; did it hold?"""
    deadline = time.monotonic() + limit
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_silence_closes_the_connection_once_and_says_so() -> None:
    clock, calls = Clock(), []
    with Heartbeat(lambda: calls.append(clock.now), silent_after=SILENT, clock=clock) as heartbeat:
        heartbeat.watch()
        clock.now = SILENT - 0.01
        time.sleep(4 * SILENT / 4)  # four looks: not yet
        assert calls == []
        clock.now = SILENT
        assert within(lambda: bool(calls))
        time.sleep(SILENT)  # it fired once and rests
    assert (heartbeat.silent, calls) == (True, [SILENT])


def test_what_comes_or_waits_unread_keeps_the_watch_quiet() -> None:
    closed, clock = threading.Event(), Clock()
    with Heartbeat(closed.set, silent_after=SILENT, clock=clock) as heartbeat:
        heartbeat.watch()
        for _ in range(10):  # a word every SILENT / 2
            clock.now += SILENT / 2
            heartbeat.heard()
            time.sleep(0.01)
        heartbeat.pending = lambda: True  # then nothing comes, but something waits unread
        clock.now += 10 * SILENT
        time.sleep(2 * SILENT)  # eight looks
    assert (closed.is_set(), heartbeat.silent) == (False, False)


def test_unwatch_ends_the_watch_and_the_beats_go_on_at_their_pace() -> None:
    """``unwatch``: exec's command once it runs; the beats stop with the block."""
    closed, clock, sent = threading.Event(), Clock(), []
    with Heartbeat(closed.set, every=0.02, silent_after=SILENT, clock=clock) as heartbeat:
        heartbeat.watch()
        heartbeat.beat(sent.append)
        heartbeat.unwatch()
        clock.now += 10 * SILENT
        assert within(lambda: len(sent) >= 3)
    time.sleep(0.05)  # a beat on its way as the block ended
    count = len(sent)
    time.sleep(0.1)
    assert (closed.is_set(), set(sent), len(sent)) == (False, {BEAT_LINE}, count)


def test_each_answered_probe_counts_as_heard() -> None:
    """``probe`` (ServerAliveInterval): an answer keeps the watch quiet; no answer does not."""
    closed, clock, answer = threading.Event(), Clock(), [True]

    def ask() -> bool:
        clock.now += SILENT / 2  # each probe takes half the bound, answered or not
        return answer[0]

    with Heartbeat(closed.set, silent_after=SILENT, clock=clock) as heartbeat:
        heartbeat.watch()
        heartbeat.probe(ask, 0.01)
        time.sleep(2 * SILENT)
        assert not closed.is_set()
        answer[0] = False
        assert within(closed.is_set)
    assert heartbeat.silent
