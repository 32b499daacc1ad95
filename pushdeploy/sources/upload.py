"""A local artifact's way to each host: sent once, over the deploy's own SSH connection.

The upload runs beside the host's deploy script, on a second channel of the same connection
(``Transport.send``), so neither waits for the other: by the time the script holds the lock and
knows the artifact is not live already, the file is usually there. The receiving command
(upload.sh's ``receive_upload``, carried in the command: it runs without the script's prelude)
writes it under a temporary name, checks its size and SHA-256, and only then gives it its digest
as its name (``path/.pushdeploy/uploads/DIGEST``); a file already there is not sent again. Then the
script is told ``uploaded`` (or ``upload-failed WHY``) and unpacks it (sources/artifact.sh).

When the script says the digest is live already (``unchanged``) or ends, the upload stops.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.errors import PushdeployError
from pushdeploy.remote import readback
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import Marker
from pushdeploy.transport.streams import Control

if TYPE_CHECKING:
    from pushdeploy.transport.seam import Transport

LIBRARY = files("pushdeploy.sources").joinpath("upload.sh").read_text(encoding="utf-8")
JOIN_TIMEOUT = 30.0  # seconds a finished script waits for its upload thread to stop


@dataclass(frozen=True)
class Payload:
    """The file, its size and its SHA-256 digest (hex)."""

    path: Path
    size: int
    digest: str

    def command(self, root: str) -> str:
        """The command that receives it on a host whose deploy root is ``root``: upload.sh, the
        root as the script's header sets it, and the call, all one single-quoted argument of
        ``bash -c``: the login shell (any sh-like one) only starts bash."""
        receive = "\n".join(
            [
                LIBRARY.rstrip("\n"),
                f"P={qpath(root)}",
                f'receive_upload "{Layout("$P").uploads}" {self.size} {shlex.quote(self.digest)}',
            ]
        )
        return f"exec bash -c {shlex.quote(receive)}"

    def start(self, label: str, transport: Transport, control: Control, root: str) -> Sending:
        return Sending(self, label, transport, control, root)


class Sending:
    """One host's upload in a thread of its own; ``observe`` sees the script's markers, and
    ``finish`` (when the script has ended) stops and joins it."""

    def __init__(
        self, payload: Payload, label: str, transport: Transport, control: Control, root: str
    ) -> None:
        self.payload, self.label, self.transport, self.control = payload, label, transport, control
        self.command = payload.command(root)
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._send, name=f"upload {label}", daemon=True)
        self.thread.start()

    def _send(self) -> None:
        try:
            with self.payload.path.open("rb") as source:
                sent = self.transport.send(
                    self.command, source, self.payload.size, cancel=self.cancel
                )
            if self.cancel.is_set():
                return
            if sent.status == 0:
                word = "uploaded"
            else:
                why = sent.stderr.strip().splitlines()[-1:] or [f"status {sent.status}"]
                word = f"upload-failed the upload failed: {why[0]}"
        except (OSError, PushdeployError) as exc:
            word = f"upload-failed the upload failed: {getattr(exc, 'message', exc)}"
        self.control.send(_one_line(word).encode() + b"\n")

    def observe(self, marker: Marker) -> None:
        if readback.skips(marker):
            self.cancel.set()

    def finish(self) -> None:
        self.cancel.set()
        with contextlib.suppress(RuntimeError):
            self.thread.join(JOIN_TIMEOUT)


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)[:300]
