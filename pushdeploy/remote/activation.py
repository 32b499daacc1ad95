"""What follows a switch: post-deploy, the restart, test and health, and how to switch back.

``go_live`` is the second half of a deploy and the whole of a revert's change (scripts.py): from
the switch of ``current`` on, every failure (or a signal) puts back what was live, by the same
restart strategy (``restart_back``), and the script exits EXIT_SWITCHED_BACK.
"""

from __future__ import annotations

import shlex

from pushdeploy.config.environment import Environment
from pushdeploy.remote import service

q = shlex.quote


def go_live(env: Environment, release: str, action: str) -> list[str]:
    """Switch to RELEASE (vars ID SHA REF PREV PREV_LINK set), log, and run what follows a switch.

    A failure in any later step (or a signal) switches back to what was live, marks the release
    bad in .deploys and exits EXIT_SWITCHED_BACK. Once every check passed, nothing is undone.
    """
    body = [
        "back() {",
        '  warn "$1 failed; switching back to ${PREV:-${PREV_LINK:-no release}}"',
        f"  switch_back {q(action)}",
        '  fail "$1" "$2" "$EXIT_SWITCHED_BACK"',
        "}",
        f'switch "{release}" {q(action)}',
    ]
    release_dir = '"$RELEASES/$ID"'
    if env.post_deploy:
        body.append(f"hook post-deploy {release_dir} {q(env.post_deploy)} back")
    body += restart(env, release_dir)
    if env.test:
        body.append(f"hook test {release_dir} {q(env.test)} back")
    if env.health:
        url = service.health_url(env.health, env.listen)
        body.append(
            f"health {q(url)} {env.health_timeout} || back health {q(url + ' did not answer in time')}"
        )
    body.append("checked")
    return body


def restart_back(env: Environment) -> str:
    """The bash function that restarts PREV after a switch back, by the same strategy."""
    if env.restart == "monitor":
        return service.restart_back(env)
    if env.restart == "touch":
        return 'restart_back() { touch_restart "$PREV" || warn "cannot touch the restart file of $PREV"; }'
    return (
        f'restart_back() {{ bg user_shell "$RELEASES/$PREV" {q(env.restart)}'
        ' || warn "restarting $PREV failed"; }'
    )


def restart(env: Environment, release_dir: str) -> list[str]:
    if env.restart == "touch":
        return ["step restart", 'touch_restart "$ID" || back restart "cannot touch $RESTART_FILE"']
    if env.restart == "monitor":
        return service.restart_steps(env)
    return [f"hook restart {release_dir} {q(env.restart)} back"]
