"""The steps the scripts say (``step NAME`` markers, protocol.py), in the order they say them.

Declared once, here: the console, the reports and ``--json`` name steps by these words, and the
fake fleet (pushdeploy/testing/fakescript.py) says them in this order, for the same config.
Each tuple is a script's steps in order when everything is configured; ``chosen`` keeps those a
given config says. What only the server knows decides the rest at run time: ``pre-deploy`` is a
warning when nothing is live yet, setup's ``fetch`` comes only when the mirror exists, a revert
rebuilds (``REBUILD``) only a pruned release, and a step that fails ends the script there.

The builders (scripts.py, activation.py, the .sh libraries) write the steps themselves;
tests/unit/remote/test_steps.py holds them to this list (every step they can say is declared
here, every step chosen for a config is in its script), and
tests/integration/test_fake_matches_scripts.py runs the real scripts for the order.
"""

from __future__ import annotations

from collections.abc import Sequence

from pushdeploy.config import keys
from pushdeploy.config.environment import Environment

# A deploy's first phase: nothing live changes; a failure removes the half-built release.
# git fetches, then resolves (and verifies the commit); an artifact resolves, then arrives by
# upload (a local file) or download (a URL, then its signature is verified).
PREPARE = (
    "lock",
    "pre-deploy",
    "fetch",
    "resolve",
    "upload",
    "download",
    "verify",
    "release",
    "shared",
    "build",
)
# Between the phases, once: alone, after the build; in a fleet, on the primary host when told.
MIGRATE = ("migrate",)
# The second phase: from the switch on, a failure switches back (exit 7).
ACTIVATE = ("switch", "post-deploy", "restart", "test", "health", "prune")
# What a revert says before its switch when the release it goes back to was pruned.
REBUILD = ("fetch", "release", "shared", "build")
# A revert: the lock, the history read back, the pick (the rebuild), then ACTIVATE but prune.
REVERT = ("lock", *REBUILD, *ACTIVATE[:-1])
# What a fleet's host that went live runs when another host failed.
ROLLBACK = ("lock", "rollback")
SETUP = ("check", "pre-setup", "lock", "directories", "mirror", "fetch", "monitor", "post-setup")
UNLOCK = ("unlock",)
# Scripts of one step, named after their kind.
SINGLE = ("doctor", "systemd")
ALL = frozenset((*PREPARE, *MIGRATE, *ACTIVATE, *REVERT, *ROLLBACK, *SETUP, *UNLOCK, *SINGLE))

# A step said only when its deploy.conf key has a value (keys.value_of).
BY_KEY = {
    "pre-deploy": "pre-deploy",
    "shared": "shared",
    "build": "build",
    "migrate": "migrate",
    "post-deploy": "post-deploy",
    "test": "test",
    "health": "health",
    "pre-setup": "pre-setup",
    "monitor": "app",
    "post-setup": "post-setup",
}
# A step said only for these kinds of source: "git", "upload" (a local artifact, sent by the
# client) or "download" (an artifact URL, fetched by the server).
BY_SOURCE = {
    "fetch": ("git",),
    "mirror": ("git",),
    "upload": ("upload",),
    "download": ("download",),
    "verify": ("git", "download"),  # a local artifact is verified on the client
}


def chosen(names: Sequence[str], env: Environment, source: str) -> tuple[str, ...]:
    """Those of ``names`` a script for ``env`` and ``source`` says, in their order: a step of a
    key only when the key has a value, a source's only for that source, verify only with
    ``verify = signed``."""
    return tuple(name for name in names if says(name, env, source))


def says(name: str, env: Environment, source: str) -> bool:
    if name in BY_KEY and not keys.value_of(env, BY_KEY[name]):
        return False
    if name in BY_SOURCE and source not in BY_SOURCE[name]:
        return False
    return name != "verify" or env.source.verify == "signed"
