"""Orchestration across hosts: open connections, run each phase everywhere, decide what follows.

A deploy is two phases per host in one script: ``prepare`` (lock, fetch, build; nothing live
changes), then ``activate`` (switch, restart, check). With several hosts the scripts wait between
the two for their word (rollout.py): a host that fails to prepare makes every other host stop and
remove its prepared release; the migration runs once; hosts go live batch by batch; a host that
fails after going live switches itself back, and the hosts that went live before or with it are
rolled back too, so all hosts keep serving one release. Every command returns a DeployReport,
and every failure carries one (``error.report``).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence

from pushdeploy.config.environment import Environment
from pushdeploy.engine.rollout import Rollout, batches, pick
from pushdeploy.engine.session import Alongside, Session
from pushdeploy.errors import (
    ConnectionError,
    DeployFailed,
    DeployReverted,
    LockHeld,
    PushdeployError,
    Refused,
    Split,
)
from pushdeploy.remote import history, protocol, readback, scripts
from pushdeploy.remote.protocol import LOST, Outcome
from pushdeploy.remote.report import DeployReport, HostReport, finished
from pushdeploy.remote.source import Source


def failure(label: str, outcome: Outcome) -> PushdeployError:
    """The error a failed script run stands for."""
    what = outcome.failure or f"the script ended with status {outcome.status}"
    step = outcome.failed_step or "script"
    said = readback.read(readback.Progress, outcome)
    error: PushdeployError
    if outcome.status == protocol.EXIT_LOCK_HELD:
        error = LockHeld(f"{label}: {what}")
    elif outcome.status == protocol.EXIT_NOT_SET_UP:
        error = DeployFailed(f"{label}: {what}", "run 'pushdeploy ENV setup' first")
    elif outcome.status == protocol.EXIT_DISK_FULL:
        back = "; it had gone live and was switched back" if said.live else ""
        error = DeployFailed(
            f"{label}: {step} failed: {what}{back}",
            "free space on the server (old releases, logs), then run the command again;"
            " nothing half-done was left behind",
        )
    elif outcome.status == protocol.EXIT_NO_REF:
        known = outcome.lines.get("refs", [])
        error = Refused(f"{label}: {what}", near_refs(said.ref, known))
    elif outcome.status == protocol.EXIT_REFUSED:
        error = Refused(
            f"{label}: {what}",
            "verify = signed: sign it with a key in allowed-signers"
            if step == "verify"
            else "nothing was unpacked and nothing live changed; rebuild the artifact",
        )
    elif outcome.status == LOST and not outcome.steps and isinstance(outcome.lost, PushdeployError):
        error = outcome.lost  # never connected: the transport's own error, hint and all
        if not error.message.startswith(f"{label}: "):
            error.message = f"{label}: {error.message}"
    elif outcome.status == LOST:
        error = ConnectionError(what if what.startswith(f"{label}: ") else f"{label}: {what}")
    elif outcome.status == protocol.EXIT_SWITCHED_BACK:
        error = DeployReverted(f"{label}: {step} failed after going live ({what}); switched back")
    elif outcome.status == protocol.KILLED:
        at = outcome.steps[-1] if outcome.steps else "its start"
        killed = f"{label}: the script on the server was killed at step {at}"
        if said.live and not said.checked:
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
        if not finished(outcome):
            raise failure(label, outcome)


def reported(
    session: Session,
    command: str,
    outcomes: dict[str, Outcome],
    rolled_back: Sequence[str] = (),
    kept: dict[str, str] | None = None,
) -> DeployReport:
    """The command's report: each host's, the ones rolled back (or ``kept``: could not be, and
    why) marked so, the time it took."""
    kept = kept or {}
    hosts = [HostReport.of(label, o) for label, o in outcomes.items()]
    hosts = [
        h.kept(kept[h.host]) if h.host in kept else h.rolled_back() if h.host in rolled_back else h
        for h in hosts
    ]
    seconds = round(session.clock() - session.started, 3)
    return DeployReport.of(command, session.env.name, hosts, seconds=seconds)


def checked(
    session: Session,
    command: str,
    outcomes: dict[str, Outcome],
    error: PushdeployError | None = None,
) -> DeployReport:
    """The command's report when every host ended well; else the first failure (``error``, or a
    host's own), raised with the report attached."""
    report = reported(session, command, outcomes)
    try:
        if error is not None:
            raise error
        check_all(outcomes)
    except PushdeployError as exc:
        exc.report = report
        raise
    return report


def primary(env: Environment) -> str:
    """The host that runs ``migrate``: ``primary`` (a spec or a name), or the first."""
    return next(
        (h.spec for h in env.hosts if env.hooks.primary in {h.spec, h.name}), env.hosts[0].spec
    )


def deploy(session: Session, ref: str | None) -> DeployReport:
    """Deploy ``ref`` on every host, one script each. Alone, a host goes straight on; a fleet
    waits until every host has prepared, migrates once, then goes live batch by batch
    (rollout.py), and a failure anywhere puts every host that went live back. A local artifact
    travels to each host beside its script (``uploads``)."""
    env = session.env
    source = session.source
    labels = [h.spec for h in env.hosts]
    along = uploads(source, env.path)
    if len(labels) == 1:
        script = scripts.deploy(env, session.run, ref, source=source)
        return checked(session, "deploy", session.everywhere(script, along))
    rollout = Rollout(
        batches(labels, env.rollout.batch),
        migrate_on=primary(env) if env.hooks.migrate else None,
        pause=env.rollout.batch_pause,
        on_batch=lambda n, hosts: session.console.info(f"batch {n}: {', '.join(hosts)}"),
    )
    script = scripts.deploy(env, session.run, ref, fleet=True, source=source)
    outcomes = session.phase({label: script for label in labels}, rollout, alongside=along)
    return settled(session, "deploy", outcomes, rollout)


def settled(
    session: Session, command: str, outcomes: dict[str, Outcome], rollout: Rollout
) -> DeployReport:
    """A fleet's deploy or revert after its phase: its report when every host finished; else
    every host that went live is put back (``roll_back``), and the first host's own failure is
    raised (exit 7 when every host is back on what it had; 10 when one could not be put back)."""
    broken = {label: o for label, o in outcomes.items() if not finished(o)}
    if not broken:
        return reported(session, command, outcomes)
    rolled, kept = roll_back(session, command, outcomes, rollout)
    report = reported(session, command, outcomes, rolled, kept)
    for host in report.hosts:
        if host.result in {"rolled-back", "kept"}:  # its line said ok: now it says where it is
            session.console.host_done(host)
    error = first_failure(broken, rollout)
    if kept:
        where = "; ".join(
            f"{label} could not be switched back: {why}" for label, why in kept.items()
        )
        error = Split(f"{error.message}; {where}")
    elif rolled and not isinstance(error, DeployReverted):
        error = DeployReverted(error.message + "; the hosts that went live were rolled back")
    error.report = report
    raise error


def roll_back(
    session: Session, command: str, outcomes: dict[str, Outcome], rollout: Rollout
) -> tuple[list[str], dict[str, str]]:
    """Put back each host that went live while the fleet failed (or may have: its connection
    was lost after its word), each in a script of its own that takes the lock again; return
    the hosts put back, and those that could not be with why (a newer release is live there,
    or it cannot be reached)."""
    said = {label: readback.read(readback.Progress, o) for label, o in outcomes.items()}
    live = [
        label
        for label, o in outcomes.items()
        if (finished(o) and said[label].live)
        or (o.status == LOST and label in rollout.sent and said[label].release)
    ]
    if not live:
        return [], {}
    env = session.env
    session.console.warn(f"rolling back {', '.join(live)} so every host serves one release")
    undo = dataclasses.replace(session.run, wait=max(session.run.wait, ROLLBACK_WAIT))
    undo_scripts = {
        label: scripts.rollback(
            env, undo, said[label].release, said[label].previous, session.source, command
        )
        for label in live
    }
    undone = session.phase(undo_scripts, quiet=True)
    kept = {
        label: o.failure or failure(label, o).message.removeprefix(f"{label}: ")
        for label, o in undone.items()
        if not finished(o)
    }
    return [label for label in live if label not in kept], kept


def uploads(source: Source, root: str) -> Alongside | None:
    """The upload of the source's payload to each host, if it has one (sources/upload.py)."""
    payload = source.payload
    if payload is None:
        return None
    return lambda label, transport, control: payload.start(label, transport, control, root)


ROLLBACK_WAIT = 60  # seconds a rollback waits for the lock a lost connection's script holds


def first_failure(broken: dict[str, Outcome], rollout: Rollout) -> PushdeployError:
    """The failure that says why: the first host's own (not one stopped because another
    failed), else why the conductor stopped them all (a refused pick keeps its own status)."""
    own = [(label, o) for label, o in broken.items() if o.status != protocol.EXIT_ABORTED]
    if own:
        return failure(*own[0])
    if rollout.error is not None:
        if type(rollout.error) is not PushdeployError:
            return rollout.error
        return DeployFailed(rollout.error.message, rollout.error.hint or None)
    return failure(*next(iter(broken.items())))


def read_status(session: Session) -> dict[str, Outcome]:
    outcomes = session.everywhere(scripts.status(session.env, session.source))
    check_all(outcomes)
    return outcomes


@dataclasses.dataclass(frozen=True)
class HostHistory:
    """What one host said of itself: the live release, its valid history, the releases on disk."""

    live: str
    entries: list[history.Entry]
    on_disk: list[str]
    tj_live: bool = False  # current -> TJ's path/source: a server adopted from TJ's deploy


def host_history(label: str, outcome: Outcome, warn: Callable[[str], None]) -> HostHistory:
    """A host's status read as untrusted data: malformed history lines are warned about and
    left out, a live "release" that is not a release ID counts as none."""
    problems: list[str] = []
    entries = history.parse(outcome.lines.get("deploys", []), problems)
    for problem in problems:
        warn(f"{label}: {problem}")
    said = readback.read(readback.Live, outcome)
    link = said.link.rstrip("/")
    tj_live = not said.live and (link == "source" or link.endswith("/source"))
    return HostHistory(said.live, entries, outcome.lines.get("releases", []), tj_live)


def read_histories(session: Session) -> dict[str, HostHistory]:
    return {
        label: host_history(label, outcome, session.console.warn)
        for label, outcome in read_status(session).items()
    }


def revert(session: Session, steps: int) -> DeployReport:
    """Go back ``steps`` good deploys on every host, as each host's own history says, in one
    session per host: the script reads the history with the lock held and waits for the pick.
    If any host has nowhere to go, or the hosts' histories pick different commits (a fleet left
    split earlier), no host changes: a revert ends with the fleet on one commit, or refuses."""

    def decide(arrived: dict[str, Outcome]) -> dict[str, str]:
        targets = {}
        for label, outcome in arrived.items():
            host = host_history(label, outcome, session.console.warn)
            try:
                targets[label] = history.revert_target(host.entries, host.live, steps, host.tj_live)
            except Refused as exc:
                raise Refused(f"{label}: {exc.message}", exc.hint) from None
        if len({target.sha for target in targets.values()}) > 1:
            said = ", ".join(f"{label} {t.sha[:7]}" for label, t in targets.items())
            raise Refused(
                f"the hosts' histories go back to different commits ({said}); nothing was changed",
                "deploy one ref to every host (pushdeploy ENV REF), or revert each with -H HOST",
            )
        return {label: pick(target) for label, target in targets.items()}

    labels = [h.spec for h in session.env.hosts]
    rollout = Rollout([labels], decide=decide)
    script = scripts.revert(session.env, session.run, session.source)
    outcomes = session.phase({label: script for label in labels}, rollout)
    return settled(session, "revert", outcomes, rollout)
