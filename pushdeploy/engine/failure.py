"""What a failed script run stands for: the error, exit status and hint of a host's outcome.

``failure`` reads one host's outcome; ``first_failure`` picks whose failure speaks for a command
that failed on several hosts (a host's own, not one that only stopped because another failed).
"""

from __future__ import annotations

import difflib

from pushdeploy.engine.rollout import Rollout
from pushdeploy.errors import (
    ConnectionError,
    DeployFailed,
    DeployReverted,
    LockHeld,
    PushdeployError,
    Refused,
)
from pushdeploy.remote import protocol, readback
from pushdeploy.remote.protocol import LOST, Outcome


def foreign(label: str, outcome: Outcome) -> ConnectionError | None:
    """The error for a run in which pushdeploy's script never ran (None if it did): it ended
    without one marker, its commands refused by a restricted login shell (rbash's "restricted"),
    or replaced by the server's own (sshd's ForceCommand, authorized_keys' command=: status 0,
    which pushdeploy's script never ends with before its ``done``)."""
    if readback.spoke(outcome) or outcome.status < 0:
        return None
    if any(line.endswith(": restricted") for line in outcome.output):
        return ConnectionError(
            f"{label}: the account has a restricted login shell (rbash), which refused to run"
            " pushdeploy's script",
            "give the deploy user a normal login shell (chsh -s /bin/bash USER): sshd runs"
            " every command through it",
        )
    if outcome.status == 0:
        return ConnectionError(
            f"{label}: the server ran its own command, not pushdeploy's script: ForceCommand"
            " in its sshd_config, or a command= on this key in authorized_keys",
            "deploy with a key (or user) that has no forced command; 'ssh HOST true' shows"
            " what the server runs instead",
        )
    return None


def failure(label: str, outcome: Outcome) -> PushdeployError:
    """The error a failed script run stands for."""
    what = outcome.failure or f"the script ended with status {outcome.status}"
    step = outcome.failed_step or "script"
    said = readback.read(readback.Progress, outcome)
    error: PushdeployError
    not_ours = foreign(label, outcome)
    if not_ours is not None:
        error = not_ours
    elif outcome.status == protocol.EXIT_LOCK_HELD:
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
        lost = outcome.lost  # the transport's own hint says what the server does on its own
        hint = lost.hint if isinstance(lost, PushdeployError) and lost.hint else None
        error = ConnectionError(what if what.startswith(f"{label}: ") else f"{label}: {what}", hint)
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


def first_failure(broken: dict[str, Outcome], rollout: Rollout | None) -> PushdeployError:
    """The failure that says why: the first host's own (not one stopped because another
    failed), else why the conductor stopped them all (a refused pick keeps its own status)."""
    own = [(label, o) for label, o in broken.items() if o.status != protocol.EXIT_ABORTED]
    if own:
        return failure(*own[0])
    if rollout is not None and rollout.error is not None:
        if type(rollout.error) is not PushdeployError:
            return rollout.error
        return DeployFailed(rollout.error.message, rollout.error.hint or None)
    return failure(*next(iter(broken.items())))
