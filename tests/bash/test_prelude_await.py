"""A script waiting for the client's word (await_word) without its guard stops, never waits on."""

from __future__ import annotations

import os
import signal

from pushdeploy.remote import protocol
from tests.support.bashlib import BashHost


def test_a_wait_whose_guard_was_killed_stops_cleans_up_and_says_why(host: BashHost) -> None:
    """Only the guard passes the client's words on: with it dead, no word (nor the input's end)
    could ever come, and a fleet's client would wait for this host for ever."""
    running = host.start(
        'lock_take 0 120\nvalue guard "$GUARD"\nvalue asked yes\nawait_word\nvalue word "$WORD"'
    )
    running.wait_for("value asked")
    guard = int(next(m for m in running.markers() if " guard " in m).rsplit(" ", 1)[1])
    os.kill(guard, signal.SIGKILL)
    result = running.finish(timeout=10)
    why = "its guard died while it waited for the client's word; nothing live changed"
    assert (protocol.EXIT_ABORTED, ("stopped", why), False, "word" in result.values) == (
        result.status,
        result.failure,
        host.lock.exists(),
        False,
    )
