"""Real tinysshd servers on 127.0.0.1 for the interop tests (the login home: homeserver.py).

tinysshd serves one connection on its standard input and output, so ``TinySSHServer`` runs it
under ``systemd-socket-activate --inetd --accept`` (from systemd, which the test command
installs), one tinysshd per connection, with keys made by ``tinysshd-makekey``. tinysshd speaks
only ssh-ed25519, curve25519 or sntrup761 and chacha20-poly1305. It refuses an authorized_keys
file when any directory above it, up to ``/``, is writable by group or others, ``/tmp``
included: ``private_base`` finds a place that is not. Debian: tinysshd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from tests.support.homeserver import HomeServer

TINYSSHD = "/usr/sbin/tinysshd"
ACTIVATE = "systemd-socket-activate"


def find_tinysshd() -> str | None:
    return TINYSSHD if shutil.which(TINYSSHD) and shutil.which(ACTIVATE) else None


def _private_chain(folder: Path) -> bool:
    """No directory from ``folder`` up to ``/`` is writable by group or others."""
    for part in [folder, *folder.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def private_base() -> Path | None:
    """A new directory (the caller removes it) where tinysshd accepts an authorized_keys: in
    ``$XDG_RUNTIME_DIR`` or the login's home from the passwd database, whichever qualifies."""
    candidates = [os.environ.get("XDG_RUNTIME_DIR", ""), pwd.getpwuid(os.geteuid()).pw_dir]
    for candidate in candidates:
        if candidate and _private_chain(Path(candidate)):
            return Path(tempfile.mkdtemp(prefix=".pushdeploy-tinyssh-", dir=candidate))
    return None


class TinySSHServer(HomeServer):
    """tinysshd on 127.0.0.1, one process per connection, accepting its base's client key."""

    name = "tinysshd"

    def _make_host_key(self) -> None:
        self.key_dir = self.base / "sshkeydir"
        subprocess.run(
            ["tinysshd-makekey", "-q", str(self.key_dir)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )

    @property
    def host_key_public(self) -> str:
        shown = subprocess.run(
            ["tinysshd-printkey", str(self.key_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        [line] = [line for line in shown.splitlines() if line.startswith("ssh-ed25519 ")]
        return " ".join(line.split()[:2])

    def _command(self) -> list[str]:
        # systemd-socket-activate hands its child only the variables named with -E.
        passed = [
            arg for name, value in self.wrapped_env.items() for arg in ("-E", f"{name}={value}")
        ]
        listen = f"{self.host}:{self.port}"
        return [ACTIVATE, "--inetd", "-a", "-l", listen, *passed, TINYSSHD, "-v", str(self.key_dir)]
