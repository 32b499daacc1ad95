"""A switch back cut short (prelude.sh switch_back) is finished: by the guard after a SIGKILL, by
the trap after a SIGTERM, and a run of it again changes nothing it did already."""

from __future__ import annotations

import signal

from pushdeploy import sources
from pushdeploy.remote import protocol, scripts
from pushdeploy.remote.scripts import REVERT
from tests.support.bashlib import RUN, BashHost, Running, entry, release_id, sha

LIVE_2 = (
    "lock_take 0 120\n"
    "read_live\n"
    f"ID={release_id(2)} SHA={sha(2)} REF=main\n"
    'printf "%s\\n" "$ID" >"$L/$LOCK_BUILDING"; mkdir -p -- "$RELEASES/$ID"\n'
    'switch "$ID" deploy\n'
)
"""Bash: release 2 switched live over release 1, its checks not done."""

# The restart of the previous release hangs the first time (the moment to cut the switch back
# short, with current already back on release 1 and nothing logged yet), not when run again.
HANGING_RESTART = (
    "restart_once() {\n"
    '  if [ ! -e "$P/restarted" ]; then : >"$P/restarted"; sleep 60 & value ready "$!"; wait_for $!; fi\n'
    '  : >"$P/restarted-again"\n'
    "}\n"
    "RESTART_BACK=(restart_once)\n"
)

BACK_AND_BAD = [entry(1), entry(2), entry(1, "-", "rollback"), entry(2, outcome="bad")]


def switching_back(host: BashHost) -> Running:
    """Release 2 live and failing: its switch back started and hanging in the restart."""
    host.release(1, live=True)
    host.record(1)
    host.release(2)
    running = host.start(HANGING_RESTART + LIVE_2 + "back test \"'test' exited with status 1\"")
    running.wait_for("value ready")
    return running


def test_a_sigkill_during_the_switch_back_leaves_the_guard_to_finish_it_and_mark_the_release_bad(
    host: BashHost,
) -> None:
    running = switching_back(host)
    running.kill()
    running.say("wake up")  # the guard looks at once
    running.wait_until("the lock is dropped", lambda: not host.lock.exists())
    assert (f"releases/{release_id(1)}", BACK_AND_BAD, True) == (
        host.link(host.current),
        host.history(),
        (host.root / "restarted-again").exists(),
    )


def test_a_sigterm_during_the_switch_back_finishes_it_and_says_switched_back(
    host: BashHost,
) -> None:
    running = switching_back(host)
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=10)
    assert (protocol.EXIT_SWITCHED_BACK, f"releases/{release_id(1)}", BACK_AND_BAD, False) == (
        result.status,
        host.link(host.current),
        host.history(),
        host.lock.exists(),
    )


def test_a_switch_back_run_again_after_it_ended_changes_nothing(host: BashHost) -> None:
    host.release(1, live=True)
    host.record(1)
    host.release(2)
    result = host.run(LIVE_2 + 'switch_back deploy\nswitch_back deploy\nvalue end "$PHASE"')
    assert (0, f"releases/{release_id(1)}", BACK_AND_BAD, "done") == (
        result.status,
        host.link(host.current),
        host.history(),
        result.values["end"],
    )


def test_a_switch_back_cut_between_its_two_lines_writes_only_the_missing_one(
    host: BashHost,
) -> None:
    """Killed after it logged release 1 live again and before the bad mark: run again, it adds
    the mark alone."""
    host.release(1, live=True)
    host.record(1)
    host.release(2)
    cut = 'log "$(cat "$RELEASES/$PREV/REVISION")" "$PREV" - rollback ok\n'
    result = host.run(LIVE_2 + 'mv -T -- "$BACK_CURRENT" "$CURRENT"\n' + cut + "switch_back deploy")
    assert (0, f"releases/{release_id(1)}", BACK_AND_BAD) == (
        result.status,
        host.link(host.current),
        host.history(),
    )


def test_a_rollback_of_a_revert_marks_nothing_bad(host: BashHost) -> None:
    """The fleet went back because another host failed: the revert's pick was a good release."""
    host.release(1)
    host.record(1)
    host.release(2, live=True)
    host.record(2)
    env = host.environment()
    body = f"lock_take 0 120\nrollback_release {release_id(2)} {release_id(1)} revert ''"
    text = scripts.wrap(
        env, RUN, [body], user=True, kind="bash tier", source=sources.of(env), libraries=[REVERT]
    )
    result = host.launch(text).finish()
    assert (0, f"releases/{release_id(1)}", [entry(1), entry(2), entry(1, "-", "rollback")]) == (
        result.status,
        host.link(host.current),
        host.history(),
    )
