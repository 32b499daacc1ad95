"""The deploy lock on a host: who claims it, and what a script's lock failure means.

The lock itself is an atomic ``mkdir path/.pushdeploy/lock`` done by the scripts (prelude.sh) with
an ``owner`` file (local user@host, pid, start time, command) and a ``token`` only this run knows.
The owner file is touched every 20 s while a script works; a lock whose owner file is older than
``STALE_AFTER`` seconds is taken over with a warning. ``--wait`` polls for up to that many seconds.
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

STALE_AFTER = 120


@dataclass(frozen=True)
class Claim:
    token: str
    who: str
    owner: str


def claim(command: str, now: datetime | None = None) -> Claim:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    who = f"{user}@{os.uname().nodename}"
    started = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner = f"{who} (pid {os.getpid()}, since {started}, running: {command})"
    return Claim(uuid.uuid4().hex, who, owner)
