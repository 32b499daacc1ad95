"""The ``.deploys`` history: parse its lines, and pick what ``revert`` and ``previous`` go to.

One line per event, oldest first, full SHA first (so TJ-style tools that read the first word of
each line still work), then tab-separated fields::

    SHA  TIME  RELEASE-ID  REF  USER@HOST  ACTION  OUTCOME

ACTION is ``deploy``, ``revert`` or ``rollback`` (the automatic switch-back); OUTCOME is ``ok``
(went live) or ``bad`` (failed a check after going live and was switched away from). A line with
only a SHA (TJ's own format, written to ``path/source``) is a deploy with no release ID: a revert
to it builds a release from its commit, which then has only that ``revert`` line and stands in
the history where the TJ line stands (``live_deploy``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pushdeploy.errors import Refused
from pushdeploy.remote.protocol import RELEASE_ID_PATTERN, SHA_PATTERN


@dataclass(frozen=True)
class Entry:
    sha: str
    time: str = ""
    release: str = ""
    ref: str = ""
    who: str = ""
    action: str = "deploy"
    outcome: str = "ok"

    @property
    def tj(self) -> bool:
        """A line TJ's deploy wrote: a (short) SHA alone, no release."""
        return not self.release and not self.time


RELEASE_ID = re.compile(RELEASE_ID_PATTERN)
SHA = re.compile(SHA_PATTERN)
TJ_SHA = re.compile(r"^[0-9a-f]{4,64}$")  # TJ's deploy logged short SHAs


class Malformed(ValueError):
    """A line of .deploys that is not what pushdeploy (or TJ's deploy) writes: never used."""


def parse_line(line: str) -> Entry | None:
    """One line as an Entry (None for a blank one); ``Malformed`` when a field is not valid.

    The file lives on the server and is read as untrusted data: a release ID or a SHA that
    is not of the documented shape would otherwise reach git, ``rm`` or a symlink.
    """
    fields = line.rstrip("\n").split("\t")
    if not fields[0].strip():
        return None
    if len(fields) == 1:
        sha = fields[0].split()[0]
        if not TJ_SHA.fullmatch(sha):
            raise Malformed(f"not a commit SHA: {sha[:80]!r}")
        return Entry(sha=sha)
    fields += [""] * (7 - len(fields))
    entry = Entry(*fields[:7])
    if not SHA.fullmatch(entry.sha) and not (entry.action == "rollback" and entry.sha == "unknown"):
        raise Malformed(f"not a full commit SHA: {entry.sha[:80]!r}")
    if not RELEASE_ID.fullmatch(entry.release):
        raise Malformed(f"not a release ID: {entry.release[:80]!r}")
    return entry


def parse(lines: Iterable[str], problems: list[str] | None = None) -> list[Entry]:
    """The valid entries; each malformed line is described in ``problems`` and left out."""
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entry = parse_line(line)
        except Malformed as exc:
            if problems is not None:
                problems.append(f".deploys line {number} ignored: {exc}")
            continue
        if entry is not None:
            entries.append(entry)
    return entries


def bad_releases(entries: list[Entry]) -> set[str]:
    return {e.release for e in entries if e.outcome == "bad" and e.release}


def deploys(entries: list[Entry]) -> list[Entry]:
    """Deploy entries that went live, in order (TJ's lines too); reverts and rollbacks are
    logged but not counted."""
    return [
        e for e in entries if e.action == "deploy" and e.outcome == "ok" and (e.release or e.tj)
    ]


def live_deploy(entries: list[Entry], live: str, tj_live: bool = False) -> Entry | None:
    """The deploy (one of ``deploys(entries)``, the very object) that is live, or None.

    The last deploy of the release ``live``; for a release that a revert built from a line of
    TJ's deploy (revert.sh ``revert_tj``), which has no deploy line of its own but the ``revert``
    line that made it live, the last TJ line whose short SHA begins its commit; while TJ's
    ``path/source`` is live (``tj_live``, nothing else is), TJ's last line.
    """
    done = deploys(entries)
    if not live:
        return next((e for e in reversed(done) if e.tj), None) if tj_live else None
    own = next((e for e in reversed(done) if e.release == live), None)
    if own is not None:
        return own
    built = rebuilt(entries, live)
    if built is None:
        return None
    return next((e for e in reversed(done) if e.tj and built.sha.startswith(e.sha)), None)


def rebuilt(entries: list[Entry], release: str) -> Entry | None:
    """The ``revert`` line that made ``release`` live, when it has no deploy line (a release
    built from a line of TJ's deploy); None otherwise."""
    if any(e.release == release and e.action == "deploy" for e in entries):
        return None
    return next(
        (
            e
            for e in reversed(entries)
            if e.release == release and e.action == "revert" and e.outcome == "ok"
        ),
        None,
    )


def revert_target(entries: list[Entry], live: str, steps: int = 1, tj_live: bool = False) -> Entry:
    """The deploy made ``steps`` good deploys before the one now live (``live_deploy``).

    Counting from what is live (not from the last line) makes ``revert`` twice walk back two
    releases instead of toggling between the last two. ``tj_live``: TJ's ``path/source`` is
    live (a server adopted from TJ's deploy), which is the last of TJ's lines. A TJ line as the
    target has no release: the revert builds one from its commit.
    """
    if steps < 1:
        raise Refused(f"revert needs a positive number of steps, got {steps}")
    if not live and not tj_live:
        raise Refused("nothing is live on this host, so there is nothing to revert from")
    here = live_deploy(entries, live, tj_live)
    if here is None:
        live_what = f"the live release {live}" if live else "TJ's path/source"
        raise Refused(
            f"{live_what} is not in .deploys",
            "deploy once with pushdeploy so the history has a starting point",
        )
    done, bad = deploys(entries), bad_releases(entries)
    position = next(i for i, e in enumerate(done) if e is here)
    earlier = [e for e in done[:position] if e.tj or (e.release not in bad and e.release != live)]
    if steps > len(earlier):
        have = len(earlier)
        raise Refused(
            f"cannot revert {steps}: the history holds {have} earlier good release"
            f"{'' if have == 1 else 's'}",
            "run 'pushdeploy ENV list' to see the releases; nothing was changed",
        )
    return earlier[-steps]


def find(entries: list[Entry], release: str) -> Entry | None:
    """The line that made ``release`` live: its last deploy, or for a release built from a line
    of TJ's deploy the ``revert`` that built it; None when .deploys knows neither."""
    if not release:
        return None
    own = live_deploy(entries, release)
    return own if own is None or not own.tj else rebuilt(entries, release)


def live_release(value: str) -> str:
    """The live release a server reported, or "" when it is not a release ID (untrusted data)."""
    return value if RELEASE_ID.fullmatch(value) else ""
