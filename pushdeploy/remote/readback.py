"""The values each kind of remote script prints, declared once per kind, and their one parser.

A script says ``::pushdeploy::value NAME TEXT`` (protocol.py) and ``protocol.Outcome`` keeps the
last text said for each NAME. Here each script kind is a frozen dataclass whose fields are the
names it prints; ``read(Kind, outcome)`` is the one place that looks those names up, and turns
them into the fields' types. A field's reader (its ``said`` metadata, ``text`` by default)
converts the text; a name the script did not print takes the field's default (None, or the
value the field declares). Nothing else in the package reads an Outcome's ``values``: code reads
attributes of what ``read`` returns (tests/unit/remote/test_readback.py holds the package to
that, and every ``value NAME`` the scripts print to a declaration here).

What a server says is untrusted: a reader that checks (``release_id``, ``full_sha``, ``whole``)
turns a text of the wrong shape into the empty value, never into an error; ``cut`` keeps long
texts short. Only ``value`` markers are read here; ``line`` markers (a history, the refs, the
doctor's tools) stay lists of texts in ``Outcome.lines`` for their own parsers (history.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from pushdeploy.remote import history
from pushdeploy.remote.protocol import Marker, Outcome

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    K = TypeVar("K", bound=DataclassInstance)

TEXT_LIMIT = 300  # characters kept of a text a server sends that is only shown
LINK_LIMIT = 1000  # characters kept of where ``current`` points


# Readers: one value's text -> its field's type.
def text(value: str) -> str:
    return value


def flag(value: str) -> bool:
    """Said at all (the scripts say ``yes``; what matters is that they said it)."""
    return True


def yes(value: str) -> bool:
    return value == "yes"


def release_id(value: str) -> str:
    """A release ID, or "" for a text that is not one."""
    return history.live_release(value)


def full_sha(value: str) -> str:
    """A full commit SHA (or an artifact's SHA-256), or "" for a text that is not one."""
    return value if history.SHA.fullmatch(value) else ""


def whole(value: str) -> int | None:
    """A non-negative whole number, or None for a text that is not one (or is absurdly long)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None


def cut(value: str, limit: int = TEXT_LIMIT) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def short_link(value: str) -> str:
    return cut(value, LINK_LIMIT)


def counts(value: str) -> tuple[int | None, int | None]:
    """prelude.sh ``disk_stats``: ``TOTAL FREE`` (KiB or inodes), each a number or None."""
    total, _, free = value.partition(" ")
    return whole(total), whole(free)


def said(reader: Callable[[str], Any] = text, default: Any = None) -> Any:
    """A field of a kind: the value of that name, read by ``reader``; ``default`` when unsaid."""
    return field(default=default, metadata={"read": reader})


def read(kind: type[K], outcome: Outcome) -> K:
    """The values ``outcome`` holds as ``kind`` says them: the one reader of marker values."""
    values = outcome.values
    given = {
        f.name: f.metadata.get("read", text)(values[f.name])
        for f in fields(kind)
        if f.init and f.name in values
    }
    return kind(**given)


def spoke(outcome: Outcome) -> bool:
    """The script said something in pushdeploy's words (a marker, beats aside): it ran."""
    said = outcome.steps or outcome.values or outcome.lines or outcome.warnings
    return bool(said or outcome.done or outcome.failure is not None)


# A script prints a value while it runs that the client acts on at once, before the script ends:
WAITS = frozenset({"prepared", "asked"})  # it waits for the client's word (Deploy, Revert)
SKIPS = "unchanged"  # what it would deploy is live already: nothing to upload (Deploy)


def waits(marker: Marker) -> bool:
    """The script says it waits for its word (a fleet's deploy prepared, a revert asked)."""
    return marker.kind == "value" and marker.key in WAITS


def skips(marker: Marker) -> bool:
    """The script says what it would deploy is live already (prelude.sh skip_if_live)."""
    return marker.kind == "value" and marker.key == SKIPS


# The kinds. A field's name is the NAME the script prints: in its body (scripts.py, status.py,
# the doctor's), or in a bash function it calls (prelude.sh, the sources' and doctor's libraries).


@dataclass(frozen=True)
class Progress:
    """How far any script got and what it deployed, whichever kind it is: what a host's report
    carries (report.HostReport), and what a failure or an interrupt says of the host."""

    ref: str = ""
    sha: str = ""
    release: str = ""
    previous: str = ""
    live: str = ""  # the release it switched ``current`` to, if it got that far
    unchanged: bool = said(flag, False)  # it found what it would deploy live already
    checked: bool = said(flag, False)  # the live release passed every check after the switch


@dataclass(frozen=True)
class Deploy:
    """``scripts.deploy``: prepare (lock, identity, build), a fleet's barrier, switch, checks."""

    previous: str | None = None  # what was live before it ("" when nothing was): read_live
    ref: str | None = None  # the ref it resolved (the source's identify)
    sha: str | None = None  # the identity: a commit SHA, or an artifact's SHA-256
    unchanged: str | None = None  # the live release, when that identity is live already
    release: str | None = None  # the release it built (the live one when unchanged)
    unpacked: str | None = None  # what unpacking an artifact said (artifact.sh fill_release)
    prepared: bool = said(flag, False)  # in a fleet: prepared, waiting for its word
    migrated: bool = said(flag, False)  # the migration ran here (or had nothing to do)
    live: str | None = None  # the release it switched ``current`` to
    checked: bool = said(flag, False)  # ... and that release passed every check
    holder: str | None = None  # who holds the lock it could not take


@dataclass(frozen=True)
class Live:
    """What is live, as ``scripts.history_lines`` says it (with the history, as lines)."""

    live: str = said(release_id, "")  # "" when nothing, or not a release, is live
    link: str = ""  # where ``current`` points, verbatim (TJ's path/source, say)


@dataclass(frozen=True)
class Listing(Live):
    """``scripts.status``, the read-back of ``current``, ``previous`` and ``list``."""

    setup: bool = said(yes, False)
    lock: str | None = None  # who holds the lock, when it is held


@dataclass(frozen=True)
class Revert(Live):
    """``scripts.revert``: what is live and the history, then (picked) the switch and checks.

    ``live`` is said twice: what was live when it asked, then what it switched to."""

    asked: bool = said(flag, False)  # it waits for the client's pick
    release: str | None = None
    sha: str | None = None
    ref: str | None = None
    previous: str | None = None
    unpacked: str | None = None
    checked: bool = said(flag, False)
    holder: str | None = None


@dataclass(frozen=True)
class Rollback:
    """``scripts.rollback``: switch back a release that went live while the fleet failed."""

    holder: str | None = None
    unchanged: bool = said(flag, False)  # nothing to undo: what was live before is live


@dataclass(frozen=True)
class Setup:
    """``scripts.setup``: directories, the source's mirror, the service."""

    holder: str | None = None


@dataclass(frozen=True)
class Unlock:
    """``scripts.unlock``: who held the lock it removed."""

    holder: str = ""
    removed: bool = said(yes, False)


@dataclass(frozen=True)
class Status:
    """``status.script``, the ``status`` command's read-back; every value checked or cut."""

    live: str = said(release_id, "")
    link: str = said(short_link, "")
    sha: str = said(full_sha, "")  # the live release's REVISION
    setup: bool = said(yes, False)
    lock: str = said(cut, "")  # who holds the lock ("" when none is held)
    lock_age: int | None = said(whole)  # seconds since its holder last refreshed it
    disk: tuple[int | None, int | None] = said(counts, (None, None))  # KiB: total, free
    inodes: tuple[int | None, int | None] = said(counts, (None, None))  # total, free
    monitor_status: str | None = None  # its CLI's exit status, or "none": not installed
    monitor: str = ""  # its ``status --json``, one line


@dataclass(frozen=True)
class Doctor:
    """The doctor's script (``pushdeploy ENV doctor``): what a deploy will meet on the host."""

    user: str | None = None
    path: str | None = None  # the PATH of a non-interactive shell
    hook_path: str | None = None  # the PATH the hooks see (with the user's env)
    bash: str | None = None
    git: str | None = None  # ``git --version`` (unsaid: no git, or an artifact source)
    base: str | None = None  # ``path``, or its nearest existing parent
    disk: str = ""  # KiB free there
    inodes: str = ""  # ``TOTAL FREE`` inodes there
    agent: str | None = None  # yes or no: a forwarded agent reached the server
    repo: bool | None = said(yes)  # ``repo`` answered git ls-remote (unsaid: not tried)
    repo_error: str | None = None  # ... and if not, the last line git said
    tags: bool | None = said(yes)  # ``repo`` has a tag (unsaid: not asked, or no answer)
    setup: bool = said(yes, False)
    live: str | None = None
    lock: str | None = None  # who holds the lock, when it is held
    python: str | None = None
    monitor_status: str | None = None  # its CLI's exit status, or "none": not installed
    monitor: str = ""  # the first line the monitor's status said


# Each kind of script, and the views that read what several kinds say alike.
KINDS: tuple[type[Any], ...] = (Deploy, Revert, Rollback, Setup, Listing, Unlock, Status, Doctor)
VIEWS: tuple[type[Any], ...] = (Progress, Live)


def names(kind: type[Any]) -> set[str]:
    """The value names ``kind`` declares."""
    return {f.name for f in fields(kind)}
