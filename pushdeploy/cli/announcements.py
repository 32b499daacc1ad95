"""Telling ``notify``'s targets around a command: a deploy's start, then how it ended.

The start goes out in the background and never delays the deploy; the end (``deployed``,
``reverted``, or ``failed`` with the failure's report) goes out the moment the command is over,
never waiting for the start, and the two together are done, or given up, within notify.GIVE_UP
seconds of that moment whatever the targets do (notify/announce.py says how). A dry run tells
nobody. A deploy that found everything live already is told too: its report says so
(``unchanged`` hosts).
"""

from __future__ import annotations

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
        start = notify.send(env, "started", None, ref=ref, started=started)
    try:
        report = work()
    except PushdeployError as exc:
        if exc.report is not None:
            ended = exc.report.ended(int(exc.status), exc.message, exc.hint or "")
            notify.send(env, "failed", ended, ref=ref, started=started, after=start).wait(warn)
        elif start is not None:  # no end to tell: the start alone, within its own deadline
            start.wait(warn)
        raise
    notify.send(env, done, report, ref=ref, started=started, after=start).wait(warn)
    return report
