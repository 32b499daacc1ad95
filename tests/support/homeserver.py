"""What the Dropbear and tinysshd fixtures share: a login home of their own, found through a private passwd database.

Both servers read ``~/.ssh/authorized_keys`` of the login user, taking ``~`` from the passwd
database, and neither can be pointed elsewhere. ``HomeServer`` therefore runs its server under
nss_wrapper (Debian: libnss-wrapper) with a passwd file whose one line gives the current user a
home in the server's base directory: ``server-home`` with the client key in
``.ssh/authorized_keys`` and the same ``.gitconfig`` as the OpenSSH fixture. Sessions get that
home as ``$HOME`` and the server's default PATH, as on a fresh server; nothing of the
developer's home is read or written.

Lifecycle as ``SSHServer``: ``start()`` picks a free port on 127.0.0.1, launches the command
of the subclass (``_command``) with its output in ``<base>/server.log``, and returns once the
port answers with an ``SSH-2.0-`` banner (polled against a deadline); ``stop()`` ends it.
Failures carry the log.
"""

from __future__ import annotations

import glob
import os
import pwd
import subprocess
from pathlib import Path

from tests.support.lifecycle import Started
from tests.support.sshd import HOST, SERVER_GITCONFIG, await_banner, free_port, keygen

NSS_WRAPPER = "libnss_wrapper.so"
NSS_WRAPPER_GLOBS = (
    "/usr/lib/*/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
)  # as scripts/test


class HomeServerError(RuntimeError):
    """The server could not be started; the message ends with its log."""


def find_nss_wrapper() -> str | None:
    found = [path for pattern in NSS_WRAPPER_GLOBS for path in sorted(glob.glob(pattern))]
    return found[0] if found else None


class HomeServer(Started):
    """One server process on 127.0.0.1 whose login home is ``server_home`` (see module doc)."""

    host = HOST
    STOP_TIMEOUT = 5.0
    name = "server"

    def __init__(self, base: Path, *, ready_timeout: float = 15.0) -> None:
        self.base = Path(base)
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ready_timeout = ready_timeout
        entry = pwd.getpwuid(os.geteuid())
        self.user = entry.pw_name
        self.port = 0
        self.server_home = self.base / "server-home"
        ssh_dir = self.server_home / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.server_home.chmod(0o700)
        (self.server_home / ".gitconfig").write_text(SERVER_GITCONFIG, encoding="utf-8")
        self.client_key = self.base / "client_ed25519"
        keygen(self.client_key, "pushdeploy-test-client")
        self.authorized_keys = ssh_dir / "authorized_keys"
        public = self.client_key.with_name(self.client_key.name + ".pub").read_text()
        self.authorized_keys.write_text(public, encoding="utf-8")
        self.authorized_keys.chmod(0o600)
        self.log_path = self.base / "server.log"
        passwd = self.base / "passwd"
        passwd.write_text(
            f"{entry.pw_name}:x:{entry.pw_uid}:{entry.pw_gid}:tests:{self.server_home}:/bin/bash\n",
            encoding="utf-8",
        )
        group = self.base / "group"
        group.write_text(f"{entry.pw_name}:x:{entry.pw_gid}:\n", encoding="utf-8")
        wrapper = find_nss_wrapper()
        if wrapper is None:
            raise HomeServerError(f"no {NSS_WRAPPER} (Debian: libnss-wrapper)")
        self.wrapped_env = {
            "LD_PRELOAD": wrapper,
            "NSS_WRAPPER_PASSWD": str(passwd),
            "NSS_WRAPPER_GROUP": str(group),
        }
        self._make_host_key()

    # -- what a subclass says ----------------------------------------------------------------

    def _make_host_key(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    @property
    def host_key_public(self) -> str:
        """The host key as ``ssh-ed25519 AAAA...`` (no comment)."""
        raise NotImplementedError

    # -- facts for clients -------------------------------------------------------------------

    def known_hosts_line(self, port: int | None = None) -> str:
        port = self.port if port is None else port
        return f"[{self.host}]:{port} {self.host_key_public}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 5) -> HomeServer:
        """Start on a free port and return once the banner answers (retried if the port is lost)."""
        if self.running:
            raise HomeServerError(f"{self.name} already running on port {self.port}")
        problem = ""
        for _ in range(attempts):
            self.port = free_port()
            problem = self._launch()
            if not problem:
                return self
            if "in use" not in self.log():
                break
        raise HomeServerError(
            f"{self.name} did not start on {self.host}:{self.port}: {problem}{self._tail()}"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.user}@{self.host}:{self.port} running={self.running}>"

    def _launch(self) -> str:
        with self.log_path.open("ab") as log:
            log.write(f"--- pushdeploy tests: starting {self.name} on {self.port} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, **self.wrapped_env},
            )
        why, ended = await_banner(self._proc, self.host, self.port, self.ready_timeout, self.name)
        if ended:
            self._proc = None
        elif why:
            self.stop()
        return why

    def _tail(self, lines: int = 40) -> str:
        text = self.log().splitlines()[-lines:]
        return (
            f"\n--- {self.name} log (tail) ---\n" + "\n".join(text) if text else "\n(log is empty)"
        )
