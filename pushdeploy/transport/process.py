"""Commands as child processes of this machine: a script fed to one and followed, a file fed in.

The plumbing the subprocess-based transports share: ``host = local`` (``bash`` itself, local.py)
and the OpenSSH transport (the system ``ssh`` client, openssh.py). ``follow`` runs a script the
way every transport does (the script on stdin, then a ``Control``'s words and beats, or the
client's ``stdin``; the output line by line); ``feed`` streams a file to a command's stdin
(``Transport.send``). Both hand back the process's own exit status; what it means (bash's status,
or ssh's 255 for a connection that failed) is the caller's to say.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import subprocess
import threading
from typing import BinaryIO

from pushdeploy.remote.protocol import KILLED
from pushdeploy.transport.heartbeat import Heartbeat
from pushdeploy.transport.seam import STDERR_KEPT, Sent
from pushdeploy.transport.streams import Control, LineSplitter, OnLine, pump

_BLOCK = 1 << 20  # bytes read from a sent file at a time
_WAIT = 0.1  # seconds between looks at ``cancel`` while the command takes no input
_GRACE = 2.0  # seconds a cancelled command has to exit on its short input before it is killed
_REAP = 0.2  # seconds between looks at whether a script has exited, while its output is read


def follow(
    argv: list[str],
    script: str,
    on_line: OnLine,
    stdin: io.BufferedIOBase | None,
    control: Control | None,
    *,
    watch: bool,
) -> tuple[int, bool]:
    """Run ``argv`` (a ``bash -s``, here or through ``ssh``) with ``script`` on its stdin, then
    the ``control``'s words and beats (heartbeat.py) or ``stdin``; ``on_line`` gets its output.

    Returns its exit status (negative: a signal) and whether it went ``silent``: with ``watch``
    and a ``control``, SILENT_AFTER seconds without a word from it kill it (a pipe to ``bash``
    never goes half-open; a network under ``ssh`` may). A session of its own, as under sshd: a
    Ctrl-C at this terminal reaches pushdeploy alone, which then ends the control.
    """
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        assert proc.stdin and proc.stdout and proc.stderr
        pipe, out, err = proc.stdin, proc.stdout, proc.stderr
        write = lambda chunk: (pipe.write(chunk), pipe.flush())  # noqa: E731
        with Heartbeat(proc.kill) as heartbeat:
            with contextlib.suppress(BrokenPipeError):  # it ended at once: its status says why
                write(script.encode())
            if control is not None:
                if watch:
                    heartbeat.pending = lambda: bool(select.select([out, err], [], [], 0)[0])
                    heartbeat.watch()
                control.attach(write, pipe.close)
                heartbeat.beat(control.send)
            else:
                pump(stdin, write, pipe.close)
            splitters = {out: LineSplitter("out", on_line), err: LineSplitter("err", on_line)}
            open_streams = list(splitters)
            while open_streams:
                # Reaped as soon as it exits, as sshd does: its guard and beats (prelude.sh),
                # which may hold its output open a moment longer, see that it has gone.
                proc.poll()
                ready, _, _ = select.select(open_streams, [], [], _REAP)
                for stream in ready:
                    data = os.read(stream.fileno(), 65536)
                    heartbeat.heard()
                    if data:
                        splitters[stream].feed(data)
                    else:
                        splitters[stream].flush()
                        open_streams.remove(stream)
        status = proc.wait()
        return status, heartbeat.silent


def feed(argv: list[str], source: BinaryIO, size: int, cancel: threading.Event | None) -> Sent:
    """Feed ``size`` bytes of ``source`` to the command ``argv`` (transport.Transport.send).

    One loop writes the input (a non-blocking pipe, so ``cancel`` is seen while the command
    reads nothing) and keeps the first STDERR_KEPT bytes of its stderr (read to the end, so the
    command never blocks on it). A cancelled command gets its input closed and _GRACE seconds to
    exit, then it is killed. ``Sent.status``: KILLED when cancelled or ended by a signal.
    """
    cancel = cancel or threading.Event()
    with subprocess.Popen(
        argv,
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
