"""Running a program on a real pseudo-terminal and collecting what it drew, with a deadline.

``run_in_pty(argv)`` gives the child a pty as its stdin, stderr and (unless ``stdout_to_pty`` is
false) stdout, with a window of ``columns`` x ``rows``, reads the master side until the child
has closed it and exited, and returns everything it wrote (escapes included) and its status.
With ``stdout_to_pty=False`` stdout is a pipe, returned apart: results vs what the terminal showed.
Reading is one bounded ``select`` loop; past ``timeout`` the child is killed and the test fails
with what it had written so far.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

# Select (CSI), operating system (OSC) and two-byte escapes: what a terminal acts on.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass(frozen=True)
class PtyRun:
    """What the child wrote on the terminal (``screen``, escapes kept), on stdout when that was
    a pipe, and its exit status."""

    screen: str
    stdout: str
    status: int

    @property
    def text(self) -> str:
        """``screen`` without its escapes, carriage returns dropped: the words it drew."""
        return ESCAPES.sub("", self.screen).replace("\r", "")


def run_in_pty(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
    columns: int = 100,
    rows: int = 40,
    stdout_to_pty: bool = True,
) -> PtyRun:
    """Run ``argv`` on a fresh pty: this process's environment with TERM=xterm, COLUMNS and
    LINES the window's, then ``env`` over it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environ = {**os.environ, "TERM": "xterm", "COLUMNS": str(columns), "LINES": str(rows)}
    environ.update(env or {})
    try:
        child = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave if stdout_to_pty else subprocess.PIPE,
            stderr=slave,
            env=environ,
            cwd=cwd,
            start_new_session=True,  # the pty becomes its controlling terminal, as in a shell
        )
    finally:
        os.close(slave)  # the child holds it now: the master reads EOF (EIO) once it is gone
    try:
        screen, stdout = _collect(master, child, time.monotonic() + timeout)
    finally:
        os.close(master)
    return PtyRun(
        screen.decode(errors="replace"), stdout.decode(errors="replace"), child.returncode
    )


def _collect(master: int, child: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
    screen, stdout = bytearray(), bytearray()
    sources = {master: screen}
    if child.stdout is not None:
        sources[child.stdout.fileno()] = stdout
    while sources and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(list(sources), [], [], left)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError as exc:  # Linux: EIO on the master once every slave is closed
                if exc.errno != errno.EIO:
                    raise
                chunk = b""
            if chunk:
                sources[fd] += chunk
            else:
                del sources[fd]
    try:
        child.wait(timeout=max(0.0, deadline - time.monotonic()) or 0.01)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail(f"{child.args!r} still ran after its deadline; it wrote:\n{bytes(screen)!r}")
    finally:
        if child.stdout is not None:
            child.stdout.close()
    if sources:
        pytest.fail(f"{child.args!r} left its output open past the deadline:\n{bytes(screen)!r}")
    return bytes(screen), bytes(stdout)
