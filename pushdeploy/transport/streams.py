"""Byte plumbing between the client and a remote command: output split into lines, input fed in.

Used by every transport: ``LineSplitter`` turns a stream of output bytes into the whole decoded
lines the protocol and the console read; ``pump`` copies the client's stdin into a command as it
comes (``exec`` with piped input); ``Control`` lets another thread speak to a running script
(a fleet's "go") or end its input (a stop).
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable

OnLine = Callable[[str, str], None]  # (stream "out" | "err", line without newline)


def pump(
    source: io.BufferedIOBase | None, write: Callable[[bytes], object], close: Callable[[], object]
) -> None:
    """Copy ``source`` to ``write`` as it comes, then ``close``, in a daemon thread.

    No ``source``: ``close`` at once, so the command reads end-of-file after the script.

    A thread, so the caller keeps reading the command's output meanwhile (a command that echoes
    its input would otherwise block on a full window while we block sending to it). If the
    command exits first, the write fails and the copy stops; a source that never ends (a pipe
    still open) leaves only this daemon thread waiting, which the process does not wait for.
    """

    if source is None:
        close()
        return

    def copy() -> None:
        # Any error means the command or the connection is gone (the SSH library raises its own
        # exception types, which this module does not import): nothing more to send.
        with contextlib.suppress(Exception):
            while chunk := source.read1(65536):
                write(chunk)
        with contextlib.suppress(Exception):
            close()

    threading.Thread(target=copy, name="stdin", daemon=True).start()


class LineSplitter:
    """Bytes in, whole decoded lines out; ``flush`` hands out a last unterminated line."""

    def __init__(self, stream: str, on_line: OnLine) -> None:
        self.stream, self.on_line, self.buffer = stream, on_line, b""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.on_line(self.stream, line.decode("utf-8", "replace").rstrip("\r"))

    def flush(self) -> None:
        if self.buffer:
            self.feed(b"\n")


class Control:
    """A running command's input as other threads see it: ``send`` more to it, or ``end`` it.

    Made per run by whoever starts it (the session), handed to the transport, which ``attach``es
    the command's own write and close once the command has started. An ``end`` that comes
    earlier is kept and applied at once then, so no command misses its stop. Safe from any
    thread; errors (the command or the connection gone) are swallowed: nothing more to say. What
    is sent before ``attach`` is kept and written first then (an upload may end before its script
    has started).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write: Callable[[bytes], object] | None = None
        self._close: Callable[[], object] | None = None
        self._early: list[bytes] = []
        self.ended = False

    def attach(self, write: Callable[[bytes], object], close: Callable[[], object]) -> None:
        with self._lock:
            self._write, self._close = write, close
            ended, early, self._early = self.ended, self._early, []
            with contextlib.suppress(Exception):
                for data in early:  # sent before the command started: in order, first
                    write(data)
        if ended:
            with contextlib.suppress(Exception):
                close()

    def send(self, data: bytes) -> None:
        with self._lock:
            if self._write is None and not self.ended:
                self._early.append(data)  # kept for attach: no word is lost
                return
            write = None if self.ended else self._write
        if write is not None:
            with contextlib.suppress(Exception):
                write(data)

    def end(self) -> None:
        with self._lock:
            self.ended, close = True, self._close
        if close is not None:
            with contextlib.suppress(Exception):
                close()
