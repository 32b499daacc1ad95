"""The transport seam: what every transport (ssh, local, recording, the fake fleet) offers.

``Transport`` is the protocol the engine drives; ``Sent`` is how a ``send`` ended. The package's
``__init__`` picks and opens one per host (``open_transport``).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from pushdeploy.transport.streams import Control, OnLine

STDERR_KEPT = 64 * 1024  # bytes of a sent-to command's stderr kept in ``Sent.stderr``


@dataclass(frozen=True)
class Sent:
    """How a ``send`` ended: the command's exit ``status`` (protocol.KILLED when it had none:
    a signal, or the send was cancelled first), the first STDERR_KEPT bytes of its ``stderr``
    (decoded, errors replaced: untrusted text), and how many bytes of the source were ``sent``."""

    status: int
    stderr: str
    sent: int


class Transport(Protocol):
    label: str

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int: ...

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """Run ``command`` (a quoted shell command line) on the host, feed it ``size`` bytes of
        ``source`` on stdin, end its input and wait for it to exit. It stops sending, without
        error, when the command exits first (it may already have the file) or ``cancel`` is set
        (the command's input then ends short). A source shorter than ``size`` ends the input
        where it ends (``sent`` says so). Safe to call while another thread runs a script."""
        ...

    def interactive(self, command: str) -> int: ...

    def close(self) -> None: ...
