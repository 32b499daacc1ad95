"""The guard and signal traps of prelude.sh: client gone, fleet stop, script killed or signalled."""

from __future__ import annotations

import errno
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from pushdeploy import sources
from pushdeploy.remote import protocol, scripts
from pushdeploy.remote.activation import go_live
from pushdeploy.transport.local import LocalTransport
from pushdeploy.transport.streams import Control
from tests.support.bashlib import RUN, BashHost, Running, entry, release_id, sha

EOF_ON_3 = re.compile(r"-u 3 .* 1$")  # a traced read of the client's input: status 1, its end
GUARD_IDLE = re.compile(r"^-r -t 1 -u (?!3 )\d+ _ \d+$")  # the guard's wait once input ended

BUILDING = (
    "lock_take 0 120\n"
    "read_live\n"
    f"ID={release_id(2)} SHA={sha(2)} REF=main\n"
    'printf "%s\\n" "$ID" >"$L/$LOCK_BUILDING"; mkdir -p -- "$RELEASES/$ID"\n'
)
"""Bash: the lock taken and release 2 half-built, as build_release leaves them."""

QUIET_BUILD = BUILDING + 'hook build "$RELEASES/$ID" "sleep 60"'
"""Bash: a build that prints nothing for a minute (stopped long before)."""


def gone(pid: int) -> bool:
    """Has process ``pid`` ended (a zombie nobody reaps counts as ended)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def two_releases(host: BashHost) -> None:
    host.release(1, live=True)
    host.record(1)
    host.release(2)


def test_the_end_of_the_input_before_the_switch_stops_the_build_and_cleans_up(
    host: BashHost,
) -> None:
    host.release(1, live=True)
    running = host.start(QUIET_BUILD)
    running.wait_for("step build")
    running.close_input()
    result = running.finish(timeout=5)
    stopped = "stopped by the client going away before going live; nothing live changed"
    assert (protocol.EXIT_ABORTED, ("interrupted", stopped)) == (result.status, result.failure)
    assert ([release_id(1)], f"releases/{release_id(1)}", False) == (
        os.listdir(host.releases),
        host.link(host.current),
        host.lock.exists(),
    )


def test_a_stop_from_the_fleet_before_the_switch_stops_the_build_saying_why(
    host: BashHost,
) -> None:
    host.release(1, live=True)
    running = host.start(QUIET_BUILD)
    running.wait_for("step build")
    running.say("stop")
    result = running.finish(timeout=5)
    why = "another host failed, so this one stopped before going live; nothing live changed"
    assert (protocol.EXIT_ABORTED, ("stopped", why), [release_id(1)], False) == (
        result.status,
        result.failure,
        os.listdir(host.releases),
        host.lock.exists(),
    )


def test_a_word_from_the_client_reaches_await_word(host: BashHost) -> None:
    running = host.start('lock_take 0 120\nvalue asked yes\nawait_word\nvalue word "$WORD"')
    running.wait_for("value asked")
    running.say("to 0 some release")
    assert running.finish().values == {"asked": "yes", "word": "to 0 some release"}


def test_after_the_switch_the_end_of_the_input_changes_nothing(host: BashHost) -> None:
    """The guard's reads are traced to app.reads; the script waits on the FIFO app.go, which
    the test opens once the guard has read the end of the input and left the script alone."""
    two_releases(host)
    reads, go = host.base / "app.reads", host.base / "app.go"
    os.mkfifo(go)
    running = host.start(
        'read() { builtin read "$@"; local status=$?; echo "$* $status" >>"$P.reads"; return "$status"; }\n'
        "lock_take 0 120\nread_live\n"
        f"ID={release_id(2)} SHA={sha(2)} REF=main\n"
        'switch "$ID" deploy\n'
        'read -r _ <"$P.go"\n'
        "checked"
    )
    running.wait_for("value live")
    running.close_input()

    def decided() -> bool:
        """The guard read the end of its input, then went on to its idle wait (a one-second read
        on another fd): it has made up its mind about the end, and left the script alone."""
        lines = reads.read_text().splitlines() if reads.exists() else []
        ends = [i for i, read in enumerate(lines) if EOF_ON_3.search(read)]
        return bool(ends) and any(GUARD_IDLE.search(read) for read in lines[ends[0] + 1 :])

    running.wait_until("the guard reads the end of its input and decides", decided)
    assert (
        running.process.poll(),
        (host.lock / protocol.LOCK_CLIENT_GONE).exists(),
    ) == (None, False)
    writer = -1

    def opened() -> bool:
        nonlocal writer
        try:
            writer = os.open(go, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: the script has not opened it yet
            if error.errno != errno.ENXIO:
                raise
            return False
        return True

    running.wait_until("the script waits on app.go", opened)
    os.write(writer, b"go\n")
    os.close(writer)
    result = running.finish()
    assert (0, "yes", f"releases/{release_id(2)}", [entry(1), entry(2)]) == (
        result.status,
        result.values["checked"],
        host.link(host.current),
        host.history(),
    )


def killed(host: BashHost, body: str) -> Running:
    """Start ``body``, wait for its `value ready`, SIGKILL its shell, and wake the guard (a
    line on its input) so that it looks at once instead of after its one-second read."""
    running = host.start(body + '\nsleep 60 & value ready "$!"\nwait_for $!')
    running.wait_for("value ready")
    running.kill()
    running.say("wake up")
    return running


def test_when_the_script_is_killed_before_the_switch_the_guard_cleans_up_for_it(
    host: BashHost,
) -> None:
    host.release(1, live=True)
    running = killed(host, BUILDING)
    running.wait_until("the lock is dropped", lambda: not host.lock.exists())
    child = int(running.markers()[-1].rsplit(" ", 1)[1])
    running.wait_until("the script's child is stopped", lambda: gone(child))
    assert ([release_id(1)], f"releases/{release_id(1)}") == (
        os.listdir(host.releases),
        host.link(host.current),
    )


def test_when_the_script_is_killed_after_the_switch_the_guard_switches_back(
    host: BashHost,
) -> None:
    two_releases(host)
    running = killed(host, BUILDING + 'switch "$ID" deploy')
    running.wait_until("the lock is dropped", lambda: not host.lock.exists())
    assert (f"releases/{release_id(1)}", sorted([release_id(1), release_id(2)])) == (
        host.link(host.current),
        sorted(os.listdir(host.releases)),
    )
    assert [
        entry(1),
        entry(2),
        entry(1, "-", "rollback"),
        entry(2, outcome="bad"),
    ] == host.history()


def test_a_sigterm_before_the_switch_stops_and_cleans_up(host: BashHost) -> None:
    host.release(1, live=True)
    running = host.start(QUIET_BUILD)
    running.wait_for("step build")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=5)
    why = "stopped by SIGTERM before going live; nothing live changed"
    assert (protocol.EXIT_ABORTED, ("interrupted", why), [release_id(1)], False) == (
        result.status,
        result.failure,
        os.listdir(host.releases),
        host.lock.exists(),
    )


def test_a_sigterm_after_the_switch_switches_back_and_marks_the_release_bad(
    host: BashHost,
) -> None:
    """Through a deploy's real activation (activation.go_live), in its post-deploy hook."""
    two_releases(host)
    settings = {"post_deploy": "sleep 60"}
    activation = "\n".join(go_live(host.environment(**settings), "$ID", "deploy"))
    running = host.start(BUILDING + activation, **settings)
    running.wait_for("step post-deploy")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=5)
    assert (
        result.status,
        result.failure,
    ) == (
        protocol.EXIT_SWITCHED_BACK,
        ("interrupted", "stopped by SIGTERM after going live"),
    )
    assert (f"releases/{release_id(1)}", False) == (host.link(host.current), host.lock.exists())
    assert [
        entry(1),
        entry(2),
        entry(1, "-", "rollback"),
        entry(2, outcome="bad"),
    ] == host.history()


def quiet_client(monkeypatch: pytest.MonkeyPatch, seconds: int = 2) -> None:
    """The contract's SILENT_AFTER (what the header says) shortened to ``seconds``."""
    monkeypatch.setitem(protocol.CONTRACT, "SILENT_AFTER", seconds)


def test_a_client_silent_too_long_before_the_switch_is_gone_and_the_build_cleaned_up(
    host: BashHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-open connection: the input neither ends nor says anything (no beat) any more."""
    quiet_client(monkeypatch)
    host.release(1, live=True)
    running = host.start(QUIET_BUILD)
    running.wait_for("step build")
    result = running.finish(timeout=6)
    stopped = "stopped by the client going away before going live; nothing live changed"
    assert (protocol.EXIT_ABORTED, ("interrupted", stopped)) == (result.status, result.failure)
    assert ([release_id(1)], False) == (os.listdir(host.releases), host.lock.exists())


def test_beats_from_the_client_keep_a_quiet_build_going(
    host: BashHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_client(monkeypatch)
    host.release(1, live=True)
    running = host.start(BUILDING + 'hook build "$RELEASES/$ID" "sleep 4"')
    running.wait_for("step build")
    deadline = time.monotonic() + 10
    while running.process.poll() is None and time.monotonic() < deadline:
        running.say(protocol.BEAT)
        time.sleep(0.5)  # the client's pace, shortened: it beats every BEAT_EVERY seconds
    result = running.finish()
    assert (result.status, result.failure) == (0, (None, None))


def test_after_the_switch_a_silent_client_changes_nothing_and_a_later_stop_is_heard(
    host: BashHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Silent for longer than SILENT_AFTER after the switch: the checks go on; then another
    host fails and "stop" comes: the release is switched back."""
    quiet_client(monkeypatch, 1)
    two_releases(host)
    running = host.start(BUILDING + 'switch "$ID" deploy\nsleep 3\nvalue waiting yes\nsleep 60')
    running.wait_for("value waiting")
    running.say("stop")
    result = running.finish(timeout=5)
    assert (result.status, host.link(host.current)) == (
        protocol.EXIT_SWITCHED_BACK,
        f"releases/{release_id(1)}",
    )


def test_a_beat_never_reaches_await_word(host: BashHost) -> None:
    running = host.start('lock_take 0 120\nvalue asked yes\nawait_word\nvalue word "$WORD"')
    running.wait_for("value asked")
    running.say(protocol.BEAT)
    running.say(protocol.BEAT)
    running.say("to 0 some release")
    assert running.finish().values == {"asked": "yes", "word": "to 0 some release"}


def test_the_script_beats_through_a_quiet_step_and_its_beats_end_with_it(
    host: BashHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every BEAT_EVERY seconds, from its start; nothing of its group is left after its end."""
    monkeypatch.setitem(protocol.CONTRACT, "BEAT_EVERY", 1)
    running = host.start("value started yes\nsleep 3.5")
    result = running.finish()
    beats = running.out_path.read_text().splitlines().count(protocol.PREFIX + protocol.BEAT)
    try:
        os.killpg(running.pid, 0)
        left = True
    except ProcessLookupError:
        left = False
    assert (result.status, beats >= 3, left) == (0, True, False)


def test_a_local_script_killed_outright_still_ends_and_its_guard_cleans_up(host: BashHost) -> None:
    """``host = local``: the transport reaps the script as it dies, as sshd does, so its guard
    sees it gone (its beats hold its output open until then)."""
    host.release(1, live=True)
    env = host.environment()
    script = scripts.wrap(env, RUN, [BUILDING + "kill -KILL $$"], user=True, source=sources.of(env))
    ended: list[int] = []
    control = Control()
    runner = threading.Thread(
        target=lambda: ended.append(LocalTransport().run(script, lambda *_: None, control=control)),
        daemon=True,
    )
    runner.start()
    runner.join(10)
    control.end()
    deadline = time.monotonic() + 5  # the guard cleans up as the beats end: poll for it
    while host.lock.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (ended, os.listdir(host.releases), host.lock.exists()) == (
        [protocol.KILLED],
        [release_id(1)],
        False,
    )
