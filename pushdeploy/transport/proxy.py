"""ProxyCommand lines from ~/.ssh/config, run so that a proxy which fails says so at once.

Paramiko's own ProxyCommand spins on a dead proxy's end-of-file until the connect timeout (15 s of
busy CPU) and then reports a banner timeout; this one fails with the proxy's exit status and the
last line it wrote on stderr, and reaps the proxy when the connection is done with it. Its
``%h``/``%p`` tokens were expanded when ~/.ssh/config was read (route.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import subprocess
import time

from pushdeploy.transport.library import paramiko


class ProxyCommand(paramiko.ProxyCommand):
    """Paramiko's ProxyCommand, except that a proxy which exits is a failure at once.

    Paramiko's ``recv`` spins on the proxy's end-of-file until the connect timeout (15 s of busy
    CPU), then reports a banner timeout; this one raises ``ProxyCommandFailure`` with the proxy's
    exit status and the last line it wrote on stderr. Reads may be short, as a socket's are.
    """

    def send(self, content: bytes) -> int:
        try:
            self.process.stdin.write(content)
        except OSError:  # the proxy is gone (Broken pipe): say how it ended instead
            raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), self.why()) from None
        return len(content)

    def recv(self, size: int) -> bytes:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError("timed out reading from the ProxyCommand")
            try:
                ready, _, _ = select.select([self.process.stdout], [], [], wait)
                data = os.read(self.process.stdout.fileno(), size) if ready else None
            except OSError as exc:
                raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), exc.strerror) from None
            if data:
                return data
            if data is not None:  # end of file: the proxy is gone
                raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), self.why())

    def why(self) -> str:
        """How the proxy ended: its status (waited for briefly) and its last line of stderr."""
        try:
            status = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            status = None
        said = b""
        if select.select([self.process.stderr], [], [], 0.5)[0]:
            said = os.read(self.process.stderr.fileno(), 4096)
        last = said.decode(errors="replace").strip().splitlines()[-1:] or [""]
        what = "it closed its output" if status is None else f"it exited with status {status}"
        return f"{what}: {last[0][:200]}" if last[0] else what

    def close(self) -> None:
        """Stop the proxy, reap it and close its pipes (Paramiko's only signals it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=2)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
