"""Relaying a local terminal to a remote interactive channel (``pushdeploy ENV console``).

The channel is duck-typed (recv, send, recv_ready, exit_status_ready, recv_exit_status, fileno,
resize_pty), so this module does not import paramiko. With a TTY on stdin the local terminal is put
in raw mode for the session and restored afterwards; without one, stdin is forwarded as it comes.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import termios
import tty
from typing import Any


def relay(channel: Any) -> int:
    """Copy the terminal to ``channel`` and back until the command ends; its exit status."""
    stdin_fd = sys.stdin.fileno()
    is_tty = os.isatty(stdin_fd)
    saved = termios.tcgetattr(stdin_fd) if is_tty else None
    previous_handler = None
    if is_tty:

        def resize(*_: object) -> None:
            size = os.get_terminal_size()
            channel.resize_pty(width=size.columns, height=size.lines)

        previous_handler = signal.signal(signal.SIGWINCH, resize)
        tty.setraw(stdin_fd)
    stdin_open = True
    try:
        while True:
            watched = [channel, stdin_fd] if stdin_open else [channel]
            ready, _, _ = select.select(watched, [], [], 1.0)
            if channel in ready or channel.recv_ready():
                data = channel.recv(65536)
                if not data and channel.exit_status_ready():
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin_fd in ready:
                data = os.read(stdin_fd, 4096)
                if data:
                    channel.send(data)
                else:
                    stdin_open = False
                    channel.shutdown_write()
            if channel.exit_status_ready() and not channel.recv_ready():
                break
        return int(channel.recv_exit_status())
    finally:
        if saved is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        if previous_handler is not None:
            signal.signal(signal.SIGWINCH, previous_handler)
