"""The lock of prelude.sh: taken whole, refused while held, refreshed, taken over when stale."""

from __future__ import annotations

import os
import re
import time

import pytest

from pushdeploy.remote import protocol, scripts
from tests.support.bashlib import OWNER, TOKEN, BashHost, release_id

THEIRS = "their-token"
ALICE = "alice@desk pid 7 deploy"
STALE_WARNING = re.compile(r"took over a stale lock \(not refreshed for (\d+)s\) held by (.*)")


def listing(folder: str) -> str:
    """Bash that prints a value FOLDER: the names in "$FOLDER", comma-separated."""
    return f'value {folder} "$(ls -A -- "${folder}" | paste -sd, -)"'


def test_a_free_lock_is_taken_whole_with_this_runs_owner_and_token(host: BashHost) -> None:
    result = host.run(
        f"lock_take 0 120\n{listing('L')}\n{listing('STATE')}\n"
        + 'value owner "$(lock_owner)"\nvalue token "$(cat -- "$L/$LOCK_TOKEN")"'
    )
    expected = {"L": "log,owner,token", "STATE": "lock", "owner": OWNER, "token": TOKEN}
    assert (0, expected) == (result.status, result.values)


def test_the_lock_is_released_when_the_script_ends(host: BashHost) -> None:
    result = host.run("lock_take 0 120")
    assert (result.status, os.listdir(host.state)) == (0, [])


def test_a_lock_held_by_another_live_run_is_refused_naming_its_holder(host: BashHost) -> None:
    host.hold_lock(THEIRS, ALICE, age=60)
    result = host.run("lock_take 0 120\nvalue reached yes")
    assert (protocol.EXIT_LOCK_HELD, ("lock", f"locked by {ALICE}"), {"holder": ALICE}) == (
        result.status,
        result.failure,
        result.values,
    )
    token = (host.lock / protocol.LOCK_TOKEN).read_text(encoding="utf-8")
    assert (["lock"], f"{THEIRS}\n") == (os.listdir(host.state), token)


@pytest.mark.parametrize(
    ("age", "stale_after", "taken_over"),
    [(600, 120, True), (60, 120, False), (5, 0, True)],
)
def test_a_lock_not_refreshed_for_longer_than_stale_after_is_taken_over(
    host: BashHost, age: int, stale_after: int, taken_over: bool
) -> None:
    host.hold_lock(THEIRS, ALICE, age=age)
    result = host.run(f'lock_take 0 {stale_after}\nvalue token "$(cat -- "$L/$LOCK_TOKEN")"')
    warned = [m.groups() for w in result.outcome.warnings if (m := STALE_WARNING.fullmatch(w))]
    if taken_over:
        assert (
            result.status,
            result.values["token"],
            [w[1] for w in warned],
        ) == (0, TOKEN, [ALICE])
        assert age <= int(warned[0][0]) <= age + 5
    else:
        assert (result.status, warned) == (protocol.EXIT_LOCK_HELD, [])


def test_taking_over_a_stale_lock_removes_what_its_holder_half_built_but_never_the_live_release(
    host: BashHost,
) -> None:
    live = host.release(1, live=True)
    half_built = host.release(2)
    host.hold_lock(THEIRS, ALICE, age=600)
    (host.lock / protocol.LOCK_BUILDING).write_text(f"{half_built}\n", encoding="utf-8")
    result = host.run("lock_take 0 120")
    assert (0, [live]) == (result.status, sorted(os.listdir(host.releases)))
    assert "removed the release the stale lock's holder had half-built" in result.outcome.warnings


def test_a_stale_lock_naming_the_live_release_as_half_built_leaves_it(host: BashHost) -> None:
    live = host.release(1, live=True)
    host.hold_lock(THEIRS, ALICE, age=600)
    (host.lock / protocol.LOCK_BUILDING).write_text(f"{live}\n", encoding="utf-8")
    result = host.run("lock_take 0 120")
    assert (0, [live], 1) == (
        result.status,
        os.listdir(host.releases),
        len(result.outcome.warnings),
    )


def test_the_guard_refreshes_the_lock_once_twenty_seconds_have_passed(host: BashHost) -> None:
    """The guard's clock is SECONDS: made a plain variable that each read moves on by 30 s, so
    every turn of the guard's loop is "20 s later"; two words make it turn twice."""
    running = host.start(
        "unset SECONDS; SECONDS=0\n"
        'read() { builtin read "$@"; local status=$?; SECONDS=$((SECONDS + 30)); return "$status"; }\n'
        "lock_take 0 120\n"
        "touch -d '1 hour ago' -- \"$L/$LOCK_OWNER\"\n"
        'value before "$(stat -c %Y -- "$L/$LOCK_OWNER")"\n'
        "await_word; await_word\n"  # the second word comes after the first turn's refresh
        'value after "$(stat -c %Y -- "$L/$LOCK_OWNER")"'
    )
    running.wait_for("value before", timeout=5)
    running.say("one")
    running.say("two")
    result = running.finish()
    now = time.time()
    before, after = int(result.values["before"]), int(result.values["after"])
    assert (result.status, before < now - 3000, after > now - 60) == (0, True, True)


@pytest.mark.parametrize(
    ("held_token", "run"),
    [(THEIRS, scripts.Run(TOKEN, OWNER, "", "")), ("", scripts.READ_ONLY)],
    ids=["another run's", "a read-only script's empty token"],
)
def test_release_leaves_a_lock_that_is_not_ours(
    host: BashHost, held_token: str, run: scripts.Run
) -> None:
    host.hold_lock(held_token, ALICE)
    result = host.run("lock_drop", run=run)
    token = (host.lock / protocol.LOCK_TOKEN).read_text(encoding="utf-8")
    assert (0, f"{held_token}\n") == (result.status, token)


def test_release_removes_our_own_lock(host: BashHost) -> None:
    host.hold_lock(TOKEN, OWNER)
    result = host.run(f"lock_drop\n{listing('STATE')}")
    assert (result.status, result.values) == (0, {"STATE": ""})


def test_a_release_id_in_the_lock_is_only_a_record(host: BashHost) -> None:
    """drop_building removes nothing for a record that names no release (a hostile one)."""
    host.release(1)
    host.hold_lock(TOKEN, OWNER)
    (host.lock / protocol.LOCK_BUILDING).write_text("../releases\n", encoding="utf-8")
    result = host.run('drop_building "$L" || value dropped no')
    assert ({"dropped": "no"}, [release_id(1)]) == (result.values, os.listdir(host.releases))
