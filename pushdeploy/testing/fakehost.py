"""One fake server: its state (live release, history, lock), and how it is to misbehave.

The fake fleet (fake.py) hands scripts to these hosts; fakescript.py answers as the real script
would, reading and changing the host's state. A host is set up (``set_up``: its mirror exists)
unless told otherwise; its ``history`` is its .deploys, whose releases count as those on its disk
(so a release never logged, one a script stopped or killed before its switch, leaves nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

SHA = "3f2a9c1" + "0" * 33
TIME = "2026-11-30T07:41:02Z"  # the time of every line a fake script adds to .deploys
WHO = "fake"  # and the user@host it names


@dataclass
class FakeHost:
    """One server: its state, and how it misbehaves (per kind of script, at a step)."""

    name: str
    sha: str = SHA
    live: str = ""
    history: list[str] = field(default_factory=list)  # .deploys lines
    fail_at: dict[str, str] = field(default_factory=dict)  # kind -> step that fails
    drop_at: dict[str, str] = field(default_factory=dict)  # kind -> step where the link drops
    # kind -> step where the script is killed (SIGKILL) and its guard cleans up (fakescript.py)
    kill_at: dict[str, str] = field(default_factory=dict)
    # kind -> step during which the client is interrupted (Ctrl-C: fakeguard.py)
    interrupt_at: dict[str, str] = field(default_factory=dict)
    unreachable: bool = False
    output: list[str] = field(default_factory=lambda: ["building..."])
    ran: list[str] = field(default_factory=list)  # kinds of the scripts it was given, in order
    words: list[str] = field(default_factory=list)  # what the client told it
    lock: str = ""  # the holder of a lock left on it: a deploy or revert meets it at "lock"
    replies: dict[str, list[str]] = field(default_factory=dict)  # kind -> said at its end
    stderr: dict[str, list[str]] = field(default_factory=dict)  # kind -> lines on stderr
    exits: dict[str, int] = field(default_factory=dict)  # kind -> its exit (not 0, or 1 at fail_at)
    at_step: Callable[[str, str], None] | None = None  # called with (kind, step) at each step
    scripts: list[str] = field(default_factory=list)  # the text of each script it was given
    received: list[bytes] = field(default_factory=list)  # the input piped to each command
    set_up: bool = True  # setup ran: a deploy or revert on a host not set up fails (exit 78)

    def releases(self) -> list[str]:
        return [line.split("\t")[2] for line in self.history if line.count("\t") >= 6]

    def sha_of(self, release: str) -> str:
        """The SHA the newest line of ``release`` in the history names (its REVISION)."""
        lines = [line.split("\t") for line in self.history if line.count("\t") >= 6]
        return next((f[0] for f in reversed(lines) if f[2] == release), "unknown")

    def log(self, sha: str, release: str, ref: str, action: str, result: str) -> None:
        """One line of .deploys, as prelude.sh ``log`` writes it."""
        self.history.append("\t".join([sha, TIME, release, ref, WHO, action, result]))
