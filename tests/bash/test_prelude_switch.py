"""The switch of prelude.sh: current renamed to a release and back, .deploys kept true."""

from __future__ import annotations

import shlex

from pushdeploy.remote import protocol
from tests.support.bashlib import BashHost, entry, release_id, sha


def going_live(n: int, *then: str) -> str:
    """Bash: take the lock, read what is live, switch to release n (ref main), then ``then``."""
    start = ["lock_take 0 120", "read_live", f"ID={release_id(n)} SHA={sha(n)} REF=main"]
    return "\n".join([*start, 'switch "$ID" deploy', *then])


def test_switch_renames_a_link_made_beforehand_over_current_once_the_history_has_the_line(
    host: BashHost,
) -> None:
    """``mv`` is watched: at the rename, .current.new already points at the release and
    .deploys already ends with its line; after it, current is that very link (same inode)."""
    host.release(1, live=True)
    host.record(1)
    host.release(2)
    size = host.deploys.stat().st_size
    watch_mv = (
        'mv() { if [ "$*" = "-T -- $NEXT_CURRENT $CURRENT" ]; then\n'
        '  value next "$(readlink -- "$NEXT_CURRENT") $(stat -c %i -- "$NEXT_CURRENT")"\n'
        '  value logged "$(tail -n 1 -- "$DEPLOYS" | cut -f 3,7 --output-delimiter=" ")"\n'
        'fi; command mv "$@"; }'
    )
    result = host.run(
        watch_mv
        + "\n"
        + going_live(
            2,
            'value current "$(readlink -- "$CURRENT") $(stat -c %i -- "$CURRENT")"',
            'value back "$(readlink -- "$BACK_CURRENT")"',
            'value switching "$(paste -sd, -- "$L/$LOCK_SWITCHING")"',
        )
    )
    new, old = release_id(2), release_id(1)
    inode = result.values["next"].split()[1]
    assert {
        "next": f"releases/{new} {inode}",
        "logged": f"{new} ok",
        "live": new,
        "current": f"releases/{new} {inode}",
        "back": f"releases/{old}",
        "switching": f"{new},{sha(2)},main,{old},deploy,{size},bad",
    } == result.values
    assert (0, ["switch"], [entry(1), entry(2)]) == (
        result.status,
        result.outcome.steps,
        host.history(),
    )


def test_checked_drops_the_way_back_and_the_switching_record(host: BashHost) -> None:
    host.release(1, live=True)
    host.release(2)
    result = host.run(
        going_live(
            2,
            "checked",
            'value root "$(ls -A -- "$P" | paste -sd, -)"',
            'value lock "$(ls -A -- "$L" | paste -sd, -)"',
        )
    )
    assert {
        "live": release_id(2),
        "checked": "yes",
        "root": ".deploys,.pushdeploy,current,releases",
        "lock": f"{protocol.LOCK_LOG},{protocol.LOCK_OWNER},{protocol.LOCK_TOKEN}",
    } == result.values


def test_switch_back_puts_the_previous_release_back_restarts_it_and_marks_the_new_one_bad(
    host: BashHost,
) -> None:
    old = host.release(1, live=True)
    host.record(1)
    host.release(2)
    result = host.run(going_live(2, "switch_back deploy"))
    restart_file = host.releases / old / "tmp" / "restart.txt"
    assert (0, f"releases/{old}", True) == (
        result.status,
        host.link(host.current),
        restart_file.exists(),
    )
    assert [
        entry(1),
        entry(2),
        entry(1, "-", "rollback"),
        entry(2, outcome="bad"),
    ] == host.history()
    assert (host.link(host.root / ".current.back"), host.lock.exists()) == ("", False)


def test_switching_back_from_a_first_deploy_leaves_no_current(host: BashHost) -> None:
    host.release(2)
    result = host.run(going_live(2, "switch_back deploy"))
    assert (0, False, [entry(2), entry(2, outcome="bad")]) == (
        result.status,
        host.current.is_symlink(),
        host.history(),
    )


def test_a_current_that_is_no_release_is_put_back_as_it_was(host: BashHost) -> None:
    host.release(2)
    host.current.symlink_to("/etc")
    result = host.run(going_live(2, 'value prev "$PREV"', "switch_back deploy"))
    assert (0, "/etc", "", [entry(2), entry(2, outcome="bad")]) == (
        result.status,
        host.link(host.current),
        result.values["prev"],
        host.history(),
    )
    assert "current points at /etc, not at a release" in result.outcome.warnings


def test_live_release_names_only_a_release(host: BashHost) -> None:
    """What current points at is data: a link whose last part is no release ID is nothing live."""
    targets = [
        "releases/../../etc",
        f"releases/{release_id(1)}/../../x",
        "/etc",
        f"releases/{release_id(1)}",
    ]
    body = "\n".join(
        f'ln -sfn -- {shlex.quote(target)} "$CURRENT"; value t{i} "$(live_release || echo none)"'
        for i, target in enumerate(targets)
    )
    result = host.run(body)
    assert {"t0": "none", "t1": "none", "t2": "none", "t3": release_id(1)} == result.values
