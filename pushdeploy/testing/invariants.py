"""The promises a deploy keeps at every instant, as one list, and the one check of them tests share.

``PROMISES`` is the list; README's "Interrupts and lost connections" lists the same texts (a test
holds them equal). ``violations`` checks them after a command ended, however it ended (its exit
status, or the signal that killed the client), on every host, from ``HostState``: what a host's
disk and processes showed (tests/support/invariants.py reads a real deploy root; ``of_fake`` reads
a fake host). The soak (bench/soak.py), the state-machine test of the fake fleet and the
integration tests of faults all check through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pushdeploy.errors import ExitStatus
from pushdeploy.remote import history
from pushdeploy.testing.fakehost import FakeHost


@dataclass(frozen=True)
class Promise:
    name: str
    text: str


PROMISES = (
    Promise(
        "live-is-good",
        "`current` is nothing, or a complete release whose last line in `.deploys` says it went"
        " live `ok`.",
    ),
    Promise("never-bad", "a release marked `bad` in `.deploys` is never live."),
    Promise(
        "history-whole",
        "`.deploys` holds only whole, well-formed lines: a write cut short is taken back.",
    ),
    Promise("no-half-built", "no half-built release is left in `releases/`."),
    Promise("no-lock", "no lock is left once the command has ended (or its guard has)."),
    Promise("no-leftovers", "no process of the deploy is left running on the server."),
    Promise(
        "exit-tells",
        "the exit status tells what happened: 0, every host live on what it was asked for; 4, 5,"
        " 6, 7 and 8, every host back on (or still on) what it served before, but for a lone"
        " host whose connection was lost after its switch, which finishes on its own as the"
        " message says; 10, the hosts differ and the message names them; 130, each host is"
        " where the message says; never 1.",
    ),
    Promise(
        "one-release",
        "a fleet that exits 0 serves one release (one commit or artifact) on every host.",
    ),
)
NAMES = frozenset(p.name for p in PROMISES)

UNCHANGED = frozenset(
    {
        ExitStatus.CONNECTION,
        ExitStatus.LOCKED,
        ExitStatus.FAILED,
        ExitStatus.REVERTED,
        ExitStatus.REFUSED,
    }
)


@dataclass(frozen=True)
class HostState:
    """One host after a command: what ``current`` names, the releases and whether each is
    complete, ``.deploys`` as text, the lock, and the processes of the deploy still running."""

    live: str
    releases: Mapping[str, bool]  # release ID -> complete
    deploys: str
    locked: bool
    leftovers: Sequence[str] = field(default_factory=tuple)
    live_sha: str = ""  # what the live release serves (its REVISION), when known


@dataclass(frozen=True)
class Violation:
    promise: str
    host: str
    detail: str

    def __str__(self) -> str:
        return f"{self.promise}: {self.host}: {self.detail}"


def host_violations(name: str, state: HostState) -> list[Violation]:
    """The promises about one host's own state, whatever the command said."""
    found: list[Violation] = []

    def broken(promise: str, detail: str) -> None:
        found.append(Violation(promise, name, detail))

    lines = state.deploys.split("\n")
    if lines[-1]:
        broken("history-whole", f"the last line has no end: {lines[-1][:80]!r}")
    entries = []
    for number, line in enumerate(lines[:-1], 1):
        try:
            entry = history.parse_line(line)
        except history.Malformed as exc:
            broken("history-whole", f"line {number}: {exc}")
            continue
        if entry is not None:
            entries.append(entry)
    for release, complete in sorted(state.releases.items()):
        if not complete:
            broken("no-half-built", f"release {release} is incomplete")
    if state.live:
        said = [e.outcome for e in entries if e.release == state.live]
        if not state.releases.get(state.live):
            broken("live-is-good", f"{state.live} is live and not a complete release")
        if not said or said[-1] != "ok":
            broken("live-is-good", f"{state.live} is live; .deploys says {said or 'nothing'}")
        if "bad" in said:
            broken("never-bad", f"{state.live} is live and marked bad")
    if state.locked:
        broken("no-lock", "the lock is held")
    for process in state.leftovers:
        broken("no-leftovers", process)
    return found


def violations(
    before: Mapping[str, str],
    after: Mapping[str, HostState],
    status: int,
    *,
    asked: Mapping[str, str] | None = None,
) -> list[Violation]:
    """Every promise broken on ``after`` by a command that ended with ``status`` (a negative
    one: the client was killed by that signal), ``before`` being what each host served.
    ``asked``: what each host was to serve on success (the soak knows a revert's pick), when
    known."""
    found = [v for name, state in after.items() for v in host_violations(name, state)]
    lives = {name: state.live for name, state in after.items()}
    if status == ExitStatus.ERROR:
        found.append(Violation("exit-tells", "*", "exit 1: an internal error"))
    elif status == ExitStatus.OK:
        served = {state.live_sha or state.live for state in after.values()}
        if len(served) > 1:
            found.append(Violation("one-release", "*", f"the hosts serve {lives}"))
        for name, live in lives.items():
            if asked and asked.get(name) and live != asked[name]:
                found.append(
                    Violation("exit-tells", name, f"exit 0: {live} is live, not {asked[name]}")
                )
    elif status in UNCHANGED and not (status == ExitStatus.CONNECTION and len(lives) == 1):
        for name, live in lives.items():
            if live != before.get(name, ""):
                was = before.get(name) or "nothing"
                found.append(
                    Violation(
                        "exit-tells", name, f"exit {status}: {was} became {live or 'nothing'}"
                    )
                )
    return found


def of_fake(host: FakeHost) -> HostState:
    """A fake host's state (fakehost.py): its history's releases are those on its disk."""
    text = "".join(f"{line}\n" for line in host.history)
    sha = host.sha_of(host.live) if host.live else ""
    releases = dict.fromkeys(host.releases(), True)
    return HostState(host.live, releases, text, bool(host.lock), live_sha=sha)


def readme_section() -> str:
    """The promises as README lists them (a test holds README to this text)."""
    return "\n".join(f"- **{p.name}**: {p.text}" for p in PROMISES)
