"""What follows a switch: post-deploy, the restart, test and health, and how to switch back.

``go_live`` is the second half of a deploy and the whole of a revert's change (scripts.py): from
the switch of ``current`` on, every failure (or a signal) puts back what was live (prelude.sh
``back``: the switch back restarts it by the same restart strategy, restart.py) and the script
exits EXIT_SWITCHED_BACK. Each step is a call of a prelude.sh or restart.sh function.
"""

from __future__ import annotations

import shlex

from pushdeploy.config.environment import Environment
from pushdeploy.remote import restart, service

q = shlex.quote


def go_live(env: Environment, release: str, action: str) -> list[str]:
    """Switch to RELEASE (vars ID SHA REF PREV PREV_LINK set), log, and run what follows a switch.

    A failure in any later step (or a signal) switches back to what was live, marks the release
    bad in .deploys and exits EXIT_SWITCHED_BACK. Once every check passed, nothing is undone.
    """
    release_dir = '"$RELEASES/$ID"'
    body = [f'switch "{release}" {q(action)}']
    if env.hooks.post_deploy:
        body.append(f"hook post-deploy {release_dir} {q(env.hooks.post_deploy)} back")
    body += restart.of(env).go_live_steps()
    if env.hooks.test:
        body.append(f"hook test {release_dir} {q(env.hooks.test)} back")
    if env.restart.health:
        url = service.health_url(env.restart.health, env.monitor.listen)
        body.append(f"check_health {q(url)} {env.restart.health_timeout}")
    body.append("checked")
    return body
