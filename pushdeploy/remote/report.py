"""Typed results: what a command did on each host and in all, parsed once from the markers.

A script's markers are read into a ``protocol.Outcome`` as they arrive (with the time of each
step); when the script ends, ``HostReport.of`` turns it into typed fields, and the command's
``DeployReport`` gathers its hosts. Every command that reaches hosts returns one, every failure
carries one (``PushdeployError.report``), the console draws its summary from it and ``--json``
prints ``DeployReport.to_json`` (docs/json.md is the schema). The values come typed from
readback.py (``readback.Progress``), the one reader of an Outcome's ``values``.

A host's ``result`` is one word::

    ok             the script reached its end (for a deploy: live and checked)
    unchanged      a deploy found what it would deploy live already, and changed nothing
    failed         a step failed before going live; the host is unchanged
    switched-back  went live, failed a later step, and is back on what was live before
    rolled-back    went live and passed, then was switched back because another host failed
    kept           went live and passed; another host failed, and switching it back failed
    stopped        stopped before going live (another host failed, or an interrupt); unchanged
    running        the script had not ended (an interrupt stopped the waiting)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pushdeploy.remote import protocol, readback
from pushdeploy.remote.protocol import RUNNING, Outcome

# A report's outcome for each exit status (errors.ExitStatus); any other status is "error".
OUTCOMES = {0: "ok", 4: "unreachable", 5: "locked", 6: "failed", 7: "switched-back"}
OUTCOMES |= {8: "refused", 9: "drift", 10: "split", 130: "interrupted"}
RESULTS = (
    "ok",
    "unchanged",
    "failed",
    "switched-back",
    "rolled-back",
    "kept",
    "stopped",
    "running",
)
TAIL = 15  # output lines kept per host


@dataclass(frozen=True)
class StepTime:
    """One step of a host's script and how long it took (until the next step, or the end)."""

    name: str
    seconds: float


@dataclass(frozen=True)
class HostReport:
    """What one host's script said, typed. Fields the script never said are empty strings."""

    host: str
    result: str
    status: int | None  # the script's exit status; None while it runs (interrupted)
    ref: str = ""
    sha: str = ""
    release: str = ""
    previous: str = ""
    live: str = ""  # the release it switched to, if it got that far
    steps: tuple[StepTime, ...] = ()
    seconds: float = 0.0
    failed_step: str = ""
    failure: str = ""
    warnings: tuple[str, ...] = ()
    output: tuple[str, ...] = ()  # the last TAIL lines of hook and build output

    @property
    def ok(self) -> bool:
        return self.result in {"ok", "unchanged"}

    @classmethod
    def of(cls, host: str, outcome: Outcome) -> HostReport:
        """The typed reading of ``outcome`` (its markers and times), untrusted text kept as data."""
        said, result = readback.read(readback.Progress, outcome), result_of(outcome)
        return cls(
            host=host,
            result=result,
            status=None if outcome.status == RUNNING else outcome.status,
            ref=said.ref,
            sha=said.sha,
            release=said.release,
            previous=said.previous,
            live=said.live,
            steps=step_times(outcome),
            seconds=round(max(0.0, outcome.ended - outcome.started), 3) if outcome.ended else 0.0,
            # A host stopped because another failed (or an interrupt) failed no step of its own.
            failed_step="" if result in {"stopped", "ok"} else outcome.failed_step or "",
            failure="" if result == "ok" else outcome.failure or "",
            warnings=(
                *outcome.warnings,
                *([cut_short(outcome)] if result == "ok" and not outcome.done else []),
            ),
            output=tuple(outcome.tail(TAIL)),
        )

    def rolled_back(self) -> HostReport:
        return replace(self, result="rolled-back")

    def kept(self, why: str) -> HostReport:
        """Went live, and could not be switched back when another host failed (``why``)."""
        return replace(self, result="kept", failure=why)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "result": self.result,
            "status": self.status,
            "ref": self.ref or None,
            "sha": self.sha or None,
            "release": self.release or None,
            "previous": self.previous or None,
            "seconds": self.seconds,
            "steps": [{"name": s.name, "seconds": s.seconds} for s in self.steps],
            "failed_step": self.failed_step or None,
            "failure": self.failure or None,
            "warnings": list(self.warnings),
            "output": list(self.output),
        }


# How a script can end before its end: killed, stopped by a signal, or its connection lost.
CUT_SHORT = frozenset({protocol.KILLED, protocol.EXIT_ABORTED, protocol.LOST})


def finished(outcome: Outcome) -> bool:
    """The host ended where its command meant it to: the script reached its end, or was cut
    short only after its release went live and passed every check, which nothing after (prune,
    the exit) can change: that release stays live and ``.deploys`` calls it good."""
    if outcome.ok and outcome.done:
        return True
    return outcome.status in CUT_SHORT and readback.read(readback.Progress, outcome).checked


def cut_short(outcome: Outcome) -> str:
    """The warning for a host ``finished`` although its script did not reach its end."""
    how = "its connection was lost" if outcome.status == protocol.LOST else "it was stopped"
    return (
        f"the script ended early ({how}) after the release went live and passed its checks;"
        " it stays live (old releases may not have been pruned)"
    )


def result_of(outcome: Outcome) -> str:
    if outcome.status == RUNNING:
        return "running"
    if finished(outcome):
        return "unchanged" if readback.read(readback.Progress, outcome).unchanged else "ok"
    if outcome.status == protocol.EXIT_SWITCHED_BACK:
        return "switched-back"
    if outcome.status == protocol.EXIT_ABORTED:
        return "stopped"
    return "failed"


def step_times(outcome: Outcome) -> tuple[StepTime, ...]:
    """Each step's duration: from its marker to the next step's, the last one to the end."""
    times = outcome.step_times
    end = outcome.ended or (times[-1] if times else 0.0)
    bounds = [*times[1:], end]
    return tuple(
        StepTime(name, round(max(0.0, stop - start), 3))
        for name, start, stop in zip(outcome.steps, times, bounds, strict=False)
    )


@dataclass(frozen=True)
class DeployReport:
    """What one command did: the environment, what it deployed, each host, the outcome.

    ``outcome`` is ``ok``, ``failed``, ``switched-back`` (went live somewhere, then every host
    was put back), ``interrupted`` or ``refused``; ``exit_status`` is the status pushdeploy exits
    with (errors.ExitStatus). ``error``/``hint`` are set on failures.
    """

    command: str
    environment: str
    hosts: tuple[HostReport, ...] = ()
    outcome: str = "ok"
    exit_status: int = 0
    ref: str = ""
    sha: str = ""
    release: str = ""
    seconds: float = 0.0
    log: str = ""
    error: str = ""
    hint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # a command's own data (status: drift)
    host_extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # more per host (status)

    @classmethod
    def of(
        cls, command: str, environment: str, hosts: list[HostReport], **fields: Any
    ) -> DeployReport:
        """The report of ``hosts``; ref, SHA and release are the first host's that said them."""
        said = {
            name: next((getattr(h, name) for h in hosts if getattr(h, name)), "")
            for name in ("ref", "sha", "release")
        }
        return cls(command, environment, tuple(hosts), **{**said, **fields})

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def ended(self, status: int, error: str = "", hint: str = "", log: str = "") -> DeployReport:
        """This report as the command ended: its exit status, the error printed, the log."""
        outcome = OUTCOMES.get(status, "error")
        return replace(self, exit_status=status, outcome=outcome, error=error, hint=hint, log=log)

    def renamed(self, command: str) -> DeployReport:
        return replace(self, command=command)

    def failed_first(self) -> list[HostReport]:
        """The hosts whose own failure says why (not those stopped because of another)."""
        own = [h for h in self.hosts if h.result in {"failed", "switched-back", "kept"}]
        return own or [h for h in self.hosts if not h.ok]

    def headline(self) -> str:
        """One line: ``deployed main (3f2a9c1) to 3 hosts in 2.4 s``, or how the hosts ended."""
        count = len(self.hosts)
        hosts = f"{count} host{'' if count == 1 else 's'}"
        took = f"in {self.seconds:.1f} s"
        what = f"{self.ref} ({self.sha[:7]})" if self.ref and self.sha else self.release
        if not self.ok:
            ended = [f"{n} {r}" for r in RESULTS if (n := sum(h.result == r for h in self.hosts))]
            return f"{self.command} {self.outcome} {took}: {', '.join(ended) or 'no host reached'}"
        if self.command == "deploy":
            same = sum(h.result == "unchanged" for h in self.hosts)
            if same == count:
                return (
                    f"{what} is live already on {hosts}: nothing to do (--force deploys it again)"
                )
            if same:
                return f"deployed {what} to {count - same} of {hosts} {took} (the rest had it live)"
            return f"deployed {what} to {hosts} {took}"
        if self.command == "revert":
            return f"reverted {hosts} to {what} {took}"
        if self.command == "setup":
            return f"set up {hosts} {took}"
        return f"{self.command} done on {hosts} {took}"

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "environment": self.environment,
            "outcome": self.outcome,
            "exit_status": self.exit_status,
            "ref": self.ref or None,
            "sha": self.sha or None,
            "release": self.release or None,
            "seconds": self.seconds,
            "log": self.log or None,
            "error": self.error or None,
            "hint": self.hint or None,
            "hosts": [h.to_json() | self.host_extra.get(h.host, {}) for h in self.hosts],
            **self.extra,
        }
