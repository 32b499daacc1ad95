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
from collections.abc import Callable, Sequence

from pushdeploy.config.environment import Environment
from pushdeploy.engine.failure import failure, first_failure
from pushdeploy.engine.rollout import Rollout, batches, pick, picked
from pushdeploy.engine.session import Alongside, Session
from pushdeploy.errors import (
    DeployReverted,
    PushdeployError,
    Refused,
    Split,
)
from pushdeploy.remote import history, readback, scripts
from pushdeploy.remote.protocol import LOST, Outcome
from pushdeploy.remote.report import CUT_SHORT, DeployReport, HostReport, finished
from pushdeploy.remote.source import Source


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
        return settled(session, "deploy", session.everywhere(script, along), None)
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
    session: Session, command: str, outcomes: dict[str, Outcome], rollout: Rollout | None
) -> DeployReport:
    """A deploy's or revert's end (``rollout``: a fleet's conductor): its report when every host
    finished; else every host that went live is put back (``roll_back``), and the first host's
    own failure is raised (exit 7 when every host is back on what it had; 10 when one could not
    be put back)."""
    broken = {label: o for label, o in outcomes.items() if not finished(o)}
    if not broken:
        return reported(session, command, outcomes)
    rolled, kept = roll_back(session, command, outcomes, rollout)
    passed = [label for label in rolled if label not in broken]  # the others keep their result
    report = reported(session, command, outcomes, passed, kept)
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
    session: Session, command: str, outcomes: dict[str, Outcome], rollout: Rollout | None
) -> tuple[list[str], dict[str, str]]:
    """Put back each host that went live while the command failed, each in a script of its own
    that takes the lock again: a host that passed while another failed; one whose script was
    killed or stopped after its switch and before it said its checks passed (its guard or trap
    switches it back, unless the end came between the two: the rollback makes sure, and does
    nothing when it is back already); in a fleet, one whose connection was lost after its word.
    Return the hosts put back, and those that could not be with why (a newer release is live
    there, or it cannot be reached)."""
    said = {label: readback.read(readback.Progress, o) for label, o in outcomes.items()}
    sent = rollout.sent if rollout is not None else set()
    words = rollout.words if rollout is not None else {}
    # What each went to, and from: as it said, or (a revert whose connection was lost before it
    # said so) the release its word named, from the one live when it read its history.
    release = {label: said[label].release or picked(words.get(label, "")) for label in outcomes}
    previous = {
        label: said[label].previous or (said[label].live if not said[label].release else "")
        for label in outcomes
    }
    live = [
        label
        for label, o in outcomes.items()
        if (finished(o) and said[label].live)
        or (o.status in CUT_SHORT_HERE and "switch" in o.steps and said[label].release)
        or (o.status == LOST and label in sent and release[label])
    ]
    if not live:
        return [], {}
    env = session.env
    session.console.warn(f"rolling back {', '.join(live)} so every host serves one release")
    undo = dataclasses.replace(session.run, wait=max(session.run.wait, ROLLBACK_WAIT))
    undo_scripts = {
        label: scripts.rollback(env, undo, release[label], previous[label], session.source, command)
        for label in live
    }
    undone = session.phase(undo_scripts, quiet=True)
    kept = {
        label: o.failure or failure(label, o).message.removeprefix(f"{label}: ")
        for label, o in undone.items()
        if not finished(o)
    }
    back = [  # not those back already: their own trap or guard had switched back, or never went
        label
        for label, o in undone.items()
        if label not in kept and not readback.read(readback.Progress, o).unchanged
    ]
    return back, kept


def uploads(source: Source, root: str) -> Alongside | None:
    """The upload of the source's payload to each host, if it has one (sources/upload.py)."""
    payload = source.payload
    if payload is None:
        return None
    return lambda label, transport, control: payload.start(label, transport, control, root)


ROLLBACK_WAIT = 60  # seconds a rollback waits for the lock a lost connection's script holds
CUT_SHORT_HERE = CUT_SHORT - {LOST}  # cut short on the server itself (killed, stopped)


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
