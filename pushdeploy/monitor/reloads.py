"""The monitor's record of reloads, and how it tells a new touch of the restart file.

A reload is numbered (``seq`` 1 is the first generation, at start) and recorded as a dict that
goes as it is into the status file (its shape is in ``state``), where ``pushdeploy ENV reload``
and ``restart = monitor`` deploys read their verdict. ``trigger`` is ``start``, ``restart-file``,
``sighup`` (a ``reload`` command sends SIGHUP too, and its request id lands in ``requests``) or
``heartbeat``. The last ``KEEP`` finished reloads are kept.

``RestartFile`` stats the restart file through the ``current`` symlink: a touch is a change of
its (mtime, inode, device), so a switch of ``current`` to a release whose file differs counts
too. Starting a reload marks what it saw as served, so a deploy that switches ``current`` and
then touches the file does not cause two reloads.
"""

from __future__ import annotations

import os
import time
from typing import Any

KEEP = 10

Signature = tuple[int, int, int]


def restart_signature(path: str) -> Signature | None:
    """What identifies one touch of the restart file (through the symlink), or None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_dev)


class RestartFile:
    """Watches ``path`` for touches; ``touched`` is polled by the supervisor's loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.signature: Signature | None = None

    def touched(self) -> bool:
        """True when the file is there and changed since the last look (or the last ``served``)."""
        current = restart_signature(self.path)
        changed = current is not None and current != self.signature
        self.signature = current
        return changed

    def served(self) -> None:
        """A reload starts now: the touch seen by now is served by it."""
        self.signature = restart_signature(self.path)


class Reloads:
    """The reload in progress (or the last one) and the last ``KEEP`` finished ones."""

    def __init__(self) -> None:
        self.seq = 0
        self.current: dict[str, Any] = {}
        self.finished: list[dict[str, Any]] = []

    def begin(self, trigger: str, requests: list[str], release: str) -> dict[str, Any]:
        self.seq += 1
        self.current = {
            "seq": self.seq,
            "trigger": trigger,
            "requests": requests,
            "release": release,
            "result": "pending",
            "reason": "",
            "started": time.time(),
            "finished": None,
        }
        return self.current

    def finish(self, ok: bool, reason: str) -> None:
        self.current.update(result="ok" if ok else "failed", reason=reason, finished=time.time())
        self.finished = [*self.finished, dict(self.current)][-KEEP:]

    def failed_to_listen(self, reason: str) -> None:
        """The monitor could not bind its sockets: no generation was started at all."""
        self.current = {"seq": 0, "trigger": "start", "result": "failed", "reason": reason}

    def as_status(self) -> dict[str, Any]:
        return {
            "reload": dict(self.current),
            "last_reload": self.finished[-1] if self.finished else None,
            "reloads": list(self.finished),
        }
