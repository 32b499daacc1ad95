"""Orchestration across hosts: open connections, run each phase everywhere, decide what follows.

A deploy is two phases per host in one script: ``prepare`` (lock, fetch, build; nothing live
changes), then ``activate`` (switch, restart, check). With several hosts the scripts meet at a
barrier between the two (session.Barrier): a host that fails to prepare makes every other host
stop and remove its prepared release; a host that fails after going live switches itself back,
and the hosts that went live with it are rolled back too, so all hosts keep serving one release.
"""

from __future__ import annotations

import dataclasses
import difflib

from pushdeploy import history, protocol, scripts
from pushdeploy.errors import DeployFailed, DeployReverted, LockHeld, PushdeployError, Refused
from pushdeploy.protocol import Outcome
from pushdeploy.session import Barrier, Session


def failure(label: str, outcome: Outcome) -> PushdeployError:
    """The error a failed script run stands for."""
    what = outcome.failure or f"the script ended with status {outcome.status}"
    step = outcome.failed_step or "script"
    error: PushdeployError
    if outcome.status == protocol.EXIT_LOCK_HELD:
        error = LockHeld(f"{label}: {what}")
    elif outcome.status == protocol.EXIT_NOT_SET_UP:
        error = DeployFailed(f"{label}: {what}", "run 'pushdeploy ENV setup' first")
    elif outcome.status == protocol.EXIT_DISK_FULL:
        back = "; it had gone live and was switched back" if outcome.values.get("live") else ""
        error = DeployFailed(
            f"{label}: {step} failed: {what}{back}",
            "free space on the server (old releases, logs), then run the command again;"
            " nothing half-done was left behind",
        )
    elif outcome.status == protocol.EXIT_NO_REF:
        known = outcome.lines.get("refs", [])
        error = Refused(f"{label}: {what}", near_refs(outcome.values.get("ref", ""), known))
    elif outcome.status == protocol.EXIT_SWITCHED_BACK:
        error = DeployReverted(f"{label}: {step} failed after going live ({what}); switched back")
    elif outcome.status == protocol.KILLED:
        at = outcome.steps[-1] if outcome.steps else "its start"
        killed = f"{label}: the script on the server was killed at step {at}"
        if outcome.values.get("live") and "checked" not in outcome.values:
            error = DeployReverted(
                f"{killed} after going live; its guard has it switched back to the previous"
                " release within a second"
            )
        else:
            error = DeployFailed(
                f"{killed}; its guard stops what it started, removes the half-built release"
                " and drops the lock: the host is left unchanged"
            )
    else:
        error = DeployFailed(f"{label}: {step} failed: {what}")
    error.details = outcome.tail()
    return error


def near_refs(ref: str, known: list[str]) -> str:
    """A "did you mean" among the repository's branches and tags (names read from the server,
    shown as data), or what to check."""
    close = difflib.get_close_matches(ref.removeprefix("origin/"), known, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"'{name}'" for name in close) + "?"
    return "check the name: 'git ls-remote' on the repo lists its branches and tags"


def check_all(outcomes: dict[str, Outcome]) -> None:
    for label, outcome in outcomes.items():
        if not (outcome.ok and outcome.done):
            raise failure(label, outcome)


def deploy(session: Session, ref: str | None) -> dict[str, Outcome]:
    """Deploy ``ref`` on every host: one script each, meeting at a barrier between the phases
    when there are several (nothing goes live anywhere until every host has prepared)."""
    env = session.env
    if len(env.hosts) == 1:
        outcomes = session.everywhere(scripts.deploy(env, session.run, ref))
        check_all(outcomes)
        return outcomes
    barrier = Barrier()
    script = scripts.deploy(env, session.run, ref, fleet=True)
    outcomes = session.phase({h.spec: script for h in env.hosts}, barrier)
    broken = {label: o for label, o in outcomes.items() if not (o.ok and o.done)}
    if not broken:
        return outcomes
    live = [label for label, o in outcomes.items() if label not in broken and o.values.get("live")]
    if live:
        session.console.warn(f"rolling back {', '.join(live)} so every host serves one release")
        session.phase(
            {
                label: scripts.rollback(
                    env,
                    session.run,
                    outcomes[label].values["live"],
                    outcomes[label].values["previous"],
                )
                for label in live
            }
        )
    # The first host's own failure says why; hosts stopped at the barrier only followed it.
    stopped = protocol.EXIT_ABORTED
    label, outcome = next(
        ((label, o) for label, o in broken.items() if o.status != stopped),
        ("all hosts", Outcome(1, failure=barrier.reason))
        if barrier.reason
        else next(iter(broken.items())),
    )
    error = failure(label, outcome)
    if live and not isinstance(error, DeployReverted):
        error = DeployReverted(error.message + "; the other hosts were rolled back")
    raise error


def read_status(session: Session) -> dict[str, Outcome]:
    outcomes = session.everywhere(scripts.status(session.env))
    check_all(outcomes)
    return outcomes


@dataclasses.dataclass(frozen=True)
class HostHistory:
    """What one host said of itself: the live release, its valid history, the releases on disk."""

    live: str
    entries: list[history.Entry]
    on_disk: list[str]
    tj_live: bool = False  # current -> TJ's path/source: a server adopted from TJ's deploy


def read_histories(session: Session) -> dict[str, HostHistory]:
    """Every host's status, read as untrusted data: malformed history lines are warned about
    and left out, a live "release" that is not a release ID counts as none."""
    found = {}
    for label, outcome in read_status(session).items():
        problems: list[str] = []
        entries = history.parse(outcome.lines.get("deploys", []), problems)
        for problem in problems:
            session.console.warn(f"{label}: {problem}")
        live = history.live_release(outcome.values.get("live", ""))
        link = outcome.values.get("link", "").rstrip("/")
        tj_live = not live and (link == "source" or link.endswith("/source"))
        found[label] = HostHistory(live, entries, outcome.lines.get("releases", []), tj_live)
    return found


def revert(session: Session, steps: int) -> dict[str, history.Entry]:
    """Go back ``steps`` good deploys on every host, as each host's own history says."""
    statuses = read_histories(session)
    targets: dict[str, history.Entry] = {}
    for label, host in statuses.items():
        try:
            targets[label] = history.revert_target(host.entries, host.live, steps, host.tj_live)
        except Refused as exc:
            raise Refused(f"{label}: {exc.message}", exc.hint) from None
    reverted = session.phase(
        {
            label: scripts.revert(session.env, session.run, target, statuses[label].live)
            for label, target in targets.items()
        }
    )
    check_all(reverted)
    return targets
