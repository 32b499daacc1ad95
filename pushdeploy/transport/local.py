"""Transports without SSH: bash on this machine (``host = local``), and one that only records.

Both behave as transport.py's ``Transport`` does (transport.py hands them out): a script goes
to ``bash -s`` on stdin, its output comes back line by line, its input is held open for a
``Control`` (with beats for its guard, as over SSH) or fed from ``stdin``; ``send`` feeds a
file to a command (``bash -c``); process.py holds the plumbing.
``RecordingTransport`` runs nothing: it is ``--dry-run``.
"""

from __future__ import annotations

import io
import subprocess
import threading
from collections.abc import Callable
from typing import BinaryIO

from pushdeploy.remote.protocol import KILLED
from pushdeploy.transport import process
from pushdeploy.transport.seam import Sent
from pushdeploy.transport.streams import Control, OnLine


class LocalTransport:
    """``host = local``: the same scripts run by bash on this machine, no SSH."""

    label = "local"

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int:
        status, _ = process.follow(["bash", "-s"], script, on_line, stdin, control, watch=False)
        return KILLED if status < 0 else status

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """Feed ``size`` bytes of ``source`` to ``bash -c command`` (process.feed)."""
        return process.feed(["bash", "-c", command], source, size, cancel)

    def interactive(self, command: str) -> int:
        return subprocess.call(["bash", "-c", command])

    def close(self) -> None:
        pass


class RecordingTransport:
    """Runs nothing: hands every script to ``record`` (``--dry-run``, and the unit tests' fake)."""

    def __init__(
        self, label: str, record: Callable[[str, str], None], replies: list[str] | None = None
    ):
        self.label, self.record, self.replies = label, record, replies or []
        self.scripts: list[str] = []

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int:
        self.scripts.append(script)
        self.record(self.label, script)
        for line in self.replies:
            on_line("out", line)
        return 0

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """Records the command (and the size of its input) and reads nothing: as if all of it
        was sent and the command succeeded (a dry run goes on as a deploy would)."""
        text = f"# the next command reads {size} bytes on stdin\n{command}\n"
        self.scripts.append(text)
        self.record(self.label, text)
        return Sent(0, "", size)

    def interactive(self, command: str) -> int:
        self.record(self.label, command)
        return 0

    def close(self) -> None:
        pass
