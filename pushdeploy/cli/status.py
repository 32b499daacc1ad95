"""``pushdeploy ENV status``: each host's live release, lock, monitor and disk; drift flagged.

One read-only script per host (remote/status.py: no lock taken, no user env) reports with
markers read into a ``HostStatus``; ``findings`` (drift.py) compares the hosts, and
``run_status`` prints a table (or ``--json``) and exits 9 (``errors.Drift``) when there is drift:
hosts on different releases, a live release missing from ``.deploys`` or from disk, ``current``
pointing at no release, a held lock, a host not set up, a full disk, a monitor (``app`` set)
not serving the live release. A host that cannot be reached is an error of its own (exit 4).
With ``rollout`` (a pull fleet), a second table shows every server's record in etcd and its
place in the turns (turns.py); servers there on different releases, or whose last deploy was not
ok, are drift too, and etcd out of reach is exit 4 as well.

Only what a host says is wrong counts as drift, never what it left unsaid. The console escapes
what it prints.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pushdeploy.cli.drift import findings, size
from pushdeploy.engine import deploy
from pushdeploy.errors import Drift, ExitStatus
from pushdeploy.remote.report import DeployReport
from pushdeploy.remote.status import HostStatus, parse, script
from pushdeploy.watch import turns

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation

COLUMNS = ["host", "release", "sha", "lock", "monitor", "free"]


def row(s: HostStatus) -> list[str]:
    release = s.release or ("not set up" if not s.set_up else "nothing live")
    monitor = s.monitor.summary() if s.monitor else "-"
    return [s.host, release, s.sha[:7] or "-", s.lock or "-", monitor, size(s.free_kib)]


def host_json(s: HostStatus) -> dict[str, Any]:
    entry, m = s.entry, s.monitor
    return {
        "host": s.host,
        "set_up": s.set_up,
        "release": s.release or None,
        "link": s.link or None,
        "sha": s.sha or None,
        "ref": (entry.ref or None) if entry else None,
        "deployed_at": (entry.time or None) if entry else None,
        "deployed_by": (entry.who or None) if entry else None,
        "in_history": entry is not None,
        "lock": s.lock or None,
        "lock_age": s.lock_age,
        "free_kib": s.free_kib,
        "free_inodes": s.free_inodes,
        "monitor": None if m is None else {k: v if v != "" else None for k, v in vars(m).items()},
    }


def run_status(inv: Invocation) -> int | DeployReport:
    """Read every host, print the table (or the JSON report), then the drift: exit 9 when there
    is any. With --json the report's hosts carry what each said, and ``drift`` the problems."""
    session = inv.session("status")
    try:
        outcomes = session.everywhere(script(inv.env, session.source))
        if inv.args.dry_run:
            return ExitStatus.OK
        deploy.check_all(outcomes)
    finally:
        session.close()
    statuses = [parse(label, outcome) for label, outcome in outcomes.items()]
    rollout = inv.env.rollout.etcd  # a pull fleet: every server's record in etcd (turns.py)
    fleet = turns.fleet(rollout, inv.env.rollout.batch) if rollout else []
    for problem in (f"{s.host}: {problem}" for s in statuses for problem in s.problems):
        inv.console.warn(problem)
    found = findings(statuses) + turns.findings(fleet)
    extra: dict[str, Any] = {"drift": [message for message, _ in found]}
    report = dataclasses.replace(
        deploy.reported(session, "status", outcomes),
        extra=extra | ({"fleet": [turns.member_json(m) for m in fleet]} if rollout else {}),
        host_extra={s.host: host_json(s) for s in statuses},
    )
    if not inv.args.json:
        inv.console.table(COLUMNS, [row(s) for s in statuses])
        if rollout:
            inv.console.result(f"fleet in {rollout}:" if fleet else f"fleet: none in {rollout} yet")
            if fleet:
                inv.console.table(turns.COLUMNS, [turns.row(m) for m in fleet])
        for message, _ in found:
            inv.console.warn(message)
    if not found:
        if inv.args.json:
            inv.console.finish(report)
        return report
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    error = Drift(f"drift: {found[0][0]}{more}", "; ".join(dict.fromkeys(h for _, h in found)))
    if inv.args.json:  # the report is the output; without it, the table was
        error.report = report
    raise error
