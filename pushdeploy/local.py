"""Transports without SSH: bash on this machine (``host = local``), and one that only records.

Both behave as transport.py's ``Transport`` does (transport.py hands them out): a script goes
to ``bash -s`` on stdin, its output comes back line by line, its input is held open for a
``Control`` or fed from ``stdin``. ``RecordingTransport`` runs nothing: it is ``--dry-run``.
"""

from __future__ import annotations

import io
import os
import select
import subprocess
from collections.abc import Callable

from pushdeploy.protocol import KILLED
from pushdeploy.streams import Control, LineSplitter, OnLine, pump


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
        # A session of its own, as under sshd: the script's clean-up stops its process group,
        # and a Ctrl-C at this terminal reaches pushdeploy, which then asks the script to stop.
        with subprocess.Popen(
            ["bash", "-s"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            assert proc.stdin and proc.stdout and proc.stderr
            proc.stdin.write(script.encode())
            proc.stdin.flush()
            pipe = proc.stdin
            write = lambda chunk: (pipe.write(chunk), pipe.flush())  # noqa: E731
            if control is not None:
                control.attach(write, pipe.close)
            else:
                pump(stdin, write, pipe.close)
            splitters = {
                proc.stdout: LineSplitter("out", on_line),
                proc.stderr: LineSplitter("err", on_line),
            }
            open_streams = list(splitters)
            while open_streams:
                ready, _, _ = select.select(open_streams, [], [])
                for stream in ready:
                    data = os.read(stream.fileno(), 65536)
                    if data:
                        splitters[stream].feed(data)
                    else:
                        splitters[stream].flush()
                        open_streams.remove(stream)
            status = proc.wait()
            return KILLED if status < 0 else status

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

    def interactive(self, command: str) -> int:
        self.record(self.label, command)
        return 0

    def close(self) -> None:
        pass
