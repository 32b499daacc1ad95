"""A script SIGKILLed at any instant of holding the lock: its guard drops the lock at once.

A SIGKILL runs no trap, so the guard (a helper of the script's own) cleans up for it; the lock
must never be held at an instant the guard does not watch, or it stays for the whole stale
period and the next deploy meets exit 5.
"""

from __future__ import annotations

import time

from tests.support.bashlib import BashHost

DEADLINE = 10.0  # seconds: the guard looks every second


def gone_within(host: BashHost, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while host.lock.exists() and time.monotonic() < end:
        time.sleep(0.05)
    return not host.lock.exists()


def test_a_script_killed_the_instant_the_lock_became_its_own_leaves_no_lock(
    host: BashHost,
) -> None:
    """Killed right after the rename that takes the lock, before anything else ran."""
    running = host.start(
        'mv() { command mv "$@" && if [ "${*: -1}" = "$L" ]; then kill -KILL "$MAIN"; fi; }\n'
        "lock_take 0 120\n"
        "value reached yes"
    )
    result = running.finish()
    assert (result.status, "reached" in result.values) == (-9, False)
    assert gone_within(host, DEADLINE)


def test_a_script_killed_while_it_drops_its_lock_at_its_end_leaves_no_lock(
    host: BashHost,
) -> None:
    """Killed in its EXIT trap, after its work and before the lock was dropped."""
    running = host.start(
        'lock_drop() { if [ "$BASHPID" = "$MAIN" ]; then kill -KILL "$MAIN"; fi\n'
        '  if lock_mine && mv -T -- "$L" "$L.gone.$$"; then rm -rf -- "$L.gone.$$"; fi; }\n'
        "lock_take 0 120\n"
        "value reached yes"
    )
    result = running.finish()
    assert (result.status, result.values.get("reached")) == (-9, "yes")
    assert gone_within(host, DEADLINE)


def test_a_script_whose_client_left_while_it_waited_for_the_lock_stops_waiting(
    host: BashHost,
) -> None:
    """Nobody is left to deploy for: it stops at once instead of taking the lock later."""
    host.hold_lock("their-token", "alice@desk pid 7 deploy", age=5)
    running = host.start("lock_take 30 120\nvalue reached yes")
    running.close_input()
    started = time.monotonic()
    result = running.finish()
    waited = time.monotonic() - started
    assert ("reached" in result.values, waited < 5) == (False, True)
