"""Telling ``notify``'s targets around a command: a deploy's start, then how it ended.

The start goes out in the background and never delays the deploy; the end (``deployed``,
``reverted``, or ``failed`` with the failure's report) is told once the command is over, within
notify.GIVE_UP seconds whatever the targets do. A dry run tells nobody. A deploy that found
everything live already is told too: its report says so (``unchanged`` hosts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pushdeploy.errors import PushdeployError
from pushdeploy.remote.report import DeployReport

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation


def announced(
    inv: Invocation, done: str, ref: str | None, work: Callable[[], DeployReport]
) -> DeployReport:
    """``work``, with ``notify``'s targets told (notify/announce.py): a deploy's start (in the background,
    never delaying it), then ``done`` with the report, or ``failed`` with the failure's report."""
    if inv.args.dry_run or not inv.env.notify.targets:
        return work()
    from pushdeploy.notify import announce as notify

    env, warn, started = inv.env, inv.console.warn, time.time()
    start = None
    if done == "deployed":
        start = threading.Thread(
            target=notify.announce,
            args=(env, "started", None),
            kwargs={"warn": warn, "ref": ref, "started": started},
            daemon=True,
        )
        start.start()
    try:
        report = work()
    except PushdeployError as exc:
        if start is not None:
            start.join(notify.GIVE_UP)
        if exc.report is not None:
            ended = exc.report.ended(int(exc.status), exc.message, exc.hint or "")
            notify.announce(env, "failed", ended, warn=warn, ref=ref, started=started)
        raise
    if start is not None:
        start.join(notify.GIVE_UP)
    notify.announce(env, done, report, warn=warn, ref=ref, started=started)
    return report
