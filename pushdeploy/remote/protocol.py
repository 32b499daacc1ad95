"""The step-marker protocol between a generated remote script and the client.

A script prints marker lines on stdout and nothing else there (hook and build output travels as
``out`` markers, so it keeps its place among the steps and can never pass for a marker), so the
client can follow it live over one channel::

    ::pushdeploy::step fetch                 a step begins
    ::pushdeploy::value sha 3f2a...          a value read back (one word key, rest of line value)
    ::pushdeploy::warn the lock was stale    something the user should see; the run goes on
    ::pushdeploy::fail build the build ...   the step that failed and why; the script then exits
    ::pushdeploy::line deploys <text>        one line of a multi-line read-back (e.g. .deploys)
    ::pushdeploy::out <text>                 a line of hook or build output, in order with steps
    ::pushdeploy::done                       the script reached its end
    ::pushdeploy::beat                       the script is still there (every BEAT_EVERY s)

``parse`` is pure and total: any other line is returned as ``Marker("output", "", line)``.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from pushdeploy.monitor import NOT_RUNNING

PREFIX = "::pushdeploy::"

# The contract with the scripts, written once here and emitted into every script's header
# (``contract``); prelude.sh and the bodies use only these names.
# Exit statuses the scripts use for the failures the client tells apart:
EXIT_LOCK_HELD = 75  # another deploy holds the lock
EXIT_SWITCHED_BACK = 77  # went live, failed a later step, switched back
EXIT_NOT_SET_UP = 78  # the deploy root has no mirror yet
EXIT_DISK_FULL = 79  # a write failed and the disk holding the deploy root is full
EXIT_ABORTED = 80  # stopped by a signal or the client going away before going live; cleaned up
EXIT_NO_REF = 81  # the ref names no branch, tag or commit (the names it could be follow)
EXIT_REFUSED = 82  # an unsafe artifact, or a commit or artifact not signed by an allowed key
# What a transport reports for a script that ended by a signal, without an exit status:
KILLED = -1
# An Outcome's status while its script has not ended (yet), and when the connection failed:
RUNNING = -2
LOST = -3
# The monitor's CLI says "nothing runs" with this status (pushdeploy/monitor/control.py).
MONITOR_NOT_RUNNING = NOT_RUNNING
# Files in the lock directory (layout.py names the directory itself):
LOCK_OWNER = "owner"  # who holds it; touched every 20 s while the holder works
LOCK_TOKEN = "token"  # a secret of the holding run: only it may drop or use the lock
LOCK_BUILDING = "building"  # the release being built (removed by whoever cleans up)
LOCK_CLIENT_GONE = "client-gone"  # the guard saw the client's input end (for the message)
LOCK_SWITCHING = (
    "switching"  # live, checks or switch back not done: ID SHA REF PREV ACTION size MARK
)
LOCK_LOG = "log"  # this run's log until its release exists (then releases/<ID>.log)
# The heartbeat of a running script (prelude.sh guard, transport/heartbeat.py): each side says it
# is there every BEAT_EVERY seconds (the script a `beat` marker, the client a `beat` line on its
# input), and counts the other gone after SILENT_AFTER seconds without a word from it: the client
# then reports the connection lost; the script, before its switch, stops and cleans up.
BEAT = "beat"
BEAT_EVERY = 2
SILENT_AFTER = 20
# Tests (never users) shorten both with PUSHDEPLOY_TEST_HEARTBEAT="EVERY SILENT", read once here
# on the client; the header takes the values to the server.
_SHORTER = os.environ.get("PUSHDEPLOY_TEST_HEARTBEAT", "").split()
if len(_SHORTER) == 2 and all(part.isdigit() and int(part) > 0 for part in _SHORTER):
    BEAT_EVERY, SILENT_AFTER = int(_SHORTER[0]), int(_SHORTER[1])
# A release ID (release.py makes them) and a full commit SHA, as bash's [[ =~ ]] reads them:
RELEASE_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}(\.[0-9]+)?$"
SHA_PATTERN = r"^([0-9a-f]{40}|[0-9a-f]{64})$"

CONTRACT = {
    "EXIT_LOCK_HELD": EXIT_LOCK_HELD,
    "EXIT_SWITCHED_BACK": EXIT_SWITCHED_BACK,
    "EXIT_NOT_SET_UP": EXIT_NOT_SET_UP,
    "EXIT_DISK_FULL": EXIT_DISK_FULL,
    "EXIT_ABORTED": EXIT_ABORTED,
    "EXIT_NO_REF": EXIT_NO_REF,
    "EXIT_REFUSED": EXIT_REFUSED,
    "MONITOR_NOT_RUNNING": MONITOR_NOT_RUNNING,
    "LOCK_OWNER": LOCK_OWNER,
    "LOCK_TOKEN": LOCK_TOKEN,
    "LOCK_BUILDING": LOCK_BUILDING,
    "LOCK_CLIENT_GONE": LOCK_CLIENT_GONE,
    "LOCK_SWITCHING": LOCK_SWITCHING,
    "LOCK_LOG": LOCK_LOG,
    "BEAT_EVERY": BEAT_EVERY,
    "SILENT_AFTER": SILENT_AFTER,
    "RELEASE_ID_RE": RELEASE_ID_PATTERN,
    "SHA_RE": SHA_PATTERN,
}


def contract() -> str:
    """The header lines that give the scripts every name of the contract, values quoted."""
    return "\n".join(f"{name}={shlex.quote(str(value))}" for name, value in CONTRACT.items())


@dataclass(frozen=True)
class Marker:
    kind: str
    key: str
    text: str


def parse(line: str) -> Marker:
    if not line.startswith(PREFIX):
        return Marker("output", "", line)
    body = line[len(PREFIX) :]
    kind, _, rest = body.partition(" ")
    if kind in {"step", "warn"}:
        return Marker(kind, "", rest)
    if kind in {"done", BEAT}:
        return Marker(kind, "", "")
    if kind == "out":  # a line a hook or build printed, in its place among the steps
        return Marker("output", "", rest)
    if kind in {"value", "fail", "line"}:
        key, _, text = rest.partition(" ")
        return Marker(kind, key, text)
    return Marker("output", "", line)


@dataclass
class Outcome:
    """What one script run said: its exit status, values, warnings, the failure, and its output."""

    status: int
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed_step: str | None = None
    failure: str | None = None
    done: bool = False
    output: list[str] = field(default_factory=list)
    # When it started and ended and when each step began (time.monotonic seconds, given by the
    # caller: this module stays pure); report.HostReport turns them into durations.
    started: float = 0.0
    ended: float = 0.0
    lost: Exception | None = None  # status LOST: the transport's error (errors.ConnectionError)
    step_times: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.failed_step is None

    def add(self, marker: Marker, at: float = 0.0) -> None:
        if marker.kind == "step":
            self.steps.append(marker.text)
            self.step_times.append(at)
        elif marker.kind == "value":
            self.values[marker.key] = marker.text
        elif marker.kind == "line":
            self.lines.setdefault(marker.key, []).append(marker.text)
        elif marker.kind == "warn":
            self.warnings.append(marker.text)
        elif marker.kind == "fail":
            self.failed_step, self.failure = marker.key, marker.text
        elif marker.kind == "done":
            self.done = True
        elif marker.kind != BEAT:  # a beat only says the script is there
            self.output.append(marker.text)

    def tail(self, count: int = 15) -> list[str]:
        return self.output[-count:]
