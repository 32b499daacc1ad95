"""Transports without SSH: bash on this machine (``host = local``), and one that only records.

Both behave as transport.py's ``Transport`` does (transport.py hands them out): a script goes
to ``bash -s`` on stdin, its output comes back line by line, its input is held open for a
``Control`` (with beats for its guard, as over SSH) or fed from ``stdin``; ``send`` feeds a
file to a command (``bash -c``).
``RecordingTransport`` runs nothing: it is ``--dry-run``.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import subprocess
import threading
from collections.abc import Callable
from typing import BinaryIO

from pushdeploy.remote.protocol import KILLED
from pushdeploy.transport.heartbeat import Heartbeat
from pushdeploy.transport.seam import STDERR_KEPT, Sent
from pushdeploy.transport.streams import Control, LineSplitter, OnLine, pump

_BLOCK = 1 << 20  # bytes read from a sent file at a time
_WAIT = 0.1  # seconds between looks at ``cancel`` while the command takes no input
_GRACE = 2.0  # seconds a cancelled command has to exit on its short input before it is killed
_REAP = 0.2  # seconds between looks at whether a script has exited, while its output is read


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
            # Beats, for the script's guard (heartbeat.py); no watch: a pipe never goes half-open.
            with Heartbeat() as heartbeat:
                if control is not None:
                    control.attach(write, pipe.close)
                    heartbeat.beat(control.send)
                else:
                    pump(stdin, write, pipe.close)
                splitters = {
                    proc.stdout: LineSplitter("out", on_line),
                    proc.stderr: LineSplitter("err", on_line),
                }
                open_streams = list(splitters)
                while open_streams:
                    # Reaped as soon as it exits, as sshd does: its guard and beats (prelude.sh),
                    # which may hold its output open a moment longer, see that it has gone.
                    proc.poll()
                    ready, _, _ = select.select(open_streams, [], [], _REAP)
                    for stream in ready:
                        data = os.read(stream.fileno(), 65536)
                        if data:
                            splitters[stream].feed(data)
                        else:
                            splitters[stream].flush()
                            open_streams.remove(stream)
            status = proc.wait()
            return KILLED if status < 0 else status

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """Feed ``size`` bytes of ``source`` to ``bash -c command`` (transport.Transport.send).

        One loop writes the input (a non-blocking pipe, so ``cancel`` is seen while the command
        reads nothing) and keeps the first STDERR_KEPT bytes of its stderr (read to the end, so
        the command never blocks on it). A cancelled command gets its input closed and _GRACE
        seconds to exit, then it is killed.
        """
        cancel = cancel or threading.Event()
        with subprocess.Popen(
            ["bash", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            assert proc.stdin and proc.stderr
            pipe, err = proc.stdin, proc.stderr.fileno()
            os.set_blocking(pipe.fileno(), False)
            sent, stderr, block = 0, bytearray(), memoryview(b"")
            while not (pipe.closed and err < 0) and not cancel.is_set():
                writers = [] if pipe.closed else [pipe]
                readable, writable, _ = select.select([err] if err >= 0 else [], writers, [], _WAIT)
                if readable:
                    data = os.read(err, 65536)
                    stderr.extend(data[: max(0, STDERR_KEPT - len(stderr))])
                    err = err if data else -1
                if not writable:
                    continue
                if not block and sent < size:
                    block = memoryview(source.read(min(_BLOCK, size - sent)))
                try:
                    if not block:  # all sent, or the source ended short
                        raise BrokenPipeError
                    count = os.write(pipe.fileno(), block[:65536])
                    block, sent = block[count:], sent + count
                except BlockingIOError:
                    continue
                except BrokenPipeError:  # the input ended, or the command exited first
                    with contextlib.suppress(OSError):
                        pipe.close()
            with contextlib.suppress(OSError):
                pipe.close()
            try:
                proc.wait(_GRACE if cancel.is_set() else None)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            status = KILLED if cancel.is_set() or proc.returncode < 0 else proc.returncode
            return Sent(status, stderr.decode(errors="replace"), sent)

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
