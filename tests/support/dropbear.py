"""Real Dropbear servers on 127.0.0.1 for the interop tests (the login home: homeserver.py).

``DropbearServer`` runs ``dropbear -F -E`` (foreground, log to stderr, into ``server.log``) with an
ed25519 host key made by ``dropbearkey``, password logins off and no motd. Debian: dropbear-bin.
"""

from __future__ import annotations

import shutil
import subprocess

from tests.support.homeserver import HomeServer

DROPBEAR = "/usr/sbin/dropbear"


def find_dropbear() -> str | None:
    return DROPBEAR if shutil.which(DROPBEAR) else None


class DropbearServer(HomeServer):
    """One Dropbear server on 127.0.0.1 that accepts the client key of its base directory."""

    name = "dropbear"

    def _make_host_key(self) -> None:
        self.host_key = self.base / "dropbear_ed25519_host_key"
        self.host_key.unlink(missing_ok=True)
        subprocess.run(
            ["dropbearkey", "-t", "ed25519", "-f", str(self.host_key)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )

    @property
    def host_key_public(self) -> str:
        shown = subprocess.run(
            ["dropbearkey", "-y", "-f", str(self.host_key)],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        [line] = [line for line in shown.splitlines() if line.startswith("ssh-")]
        return " ".join(line.split()[:2])

    def _command(self) -> list[str]:
        return [
            DROPBEAR,
            "-F",
            "-E",
            "-s",
            "-m",
            "-p",
            f"{self.host}:{self.port}",
            "-r",
            str(self.host_key),
            "-P",
            str(self.base / "dropbear.pid"),
        ]
