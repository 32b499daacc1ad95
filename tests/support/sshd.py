"""Real OpenSSH servers on 127.0.0.1 for the tests and the benchmarks (the delaying TCP proxy is delayproxy.py).

``SSHServer`` owns one ``sshd`` process and everything it needs, all inside one base directory:
an ed25519 host key, an ed25519 client key (the only key it accepts), ``sshd_config``, the pid
file and a VERBOSE log. Lifecycle: ``start()`` picks a free port on 127.0.0.1, checks the config
with ``sshd -t`` and waits until the port answers with an ``SSH-2.0-`` banner (polling against a
deadline, never a fixed sleep); ``stop()`` terminates it and waits. Failures carry the log.

It logs in as the user running the tests (root included, with ``PermitRootLogin
prohibit-password``). A non-root sshd can only authenticate its own user, which is exactly that.

Two things to know about the sessions it runs:

* Sessions run as the current user, but ``SetEnv HOME=<base>/server-home``: the login shell then
  sources no ``~/.bashrc`` of the developer's (bash does so for ssh commands; a pyenv init there
  costs ~0.1 s per command) and remote git reads ``server-home/.gitconfig``, not theirs. PATH is
  sshd's default, as on a fresh server.
* OpenSSH's *client* resolves ``~`` from the passwd database, ignoring ``$HOME``; the client
  side (key, known_hosts, config) is written by ``clienthome.write_client_home``.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from tests.support.lifecycle import Started

HOST = "127.0.0.1"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
BANNER = b"SSH-2.0-"
SERVER_GITCONFIG = """\
[protocol "file"]
\tallow = always
[safe]
\tdirectory = *
"""

# Directives that newer OpenSSH needs and older OpenSSH rejects. They are dropped when `sshd -t`
# does not know them. PerSourcePenalties (9.8+) would otherwise start refusing 127.0.0.1 after
# the readiness probes and the deliberate host-key failures of the tests.
OPTIONAL_DIRECTIVES = ("PerSourcePenalties no",)


class SSHServerError(RuntimeError):
    """sshd could not be configured or started; the message ends with its log."""


def find_sshd() -> str | None:
    """The absolute path of sshd (it re-executes itself, so a relative path does not work)."""
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A port nobody listens on right now. Racy by nature; SSHServer retries when it loses."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def read_banner(host: str, port: int, timeout: float) -> bytes:
    """Connect and return the first line the server sends (the SSH protocol banner)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data and len(data) < 256:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0]


def await_banner(
    proc: subprocess.Popen[bytes], host: str, port: int, timeout: float, name: str
) -> tuple[str, bool]:
    """Poll ``host:port`` (against a deadline) until it greets with an SSH banner: ("", False);
    else why not, and whether ``proc`` (the server, called ``name``) has ended meanwhile."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return f"{name} exited with status {code}", True
        try:
            banner = read_banner(host, port, timeout=1.0)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if banner.startswith(BANNER):
                return "", False
            last = f"unexpected banner {banner!r}"
        time.sleep(0.02)
    return f"no SSH banner within {timeout:.0f}s ({last})", False


def keygen(path: Path, comment: str) -> None:
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


class SSHServer(Started):
    """One OpenSSH server on 127.0.0.1 with its own keys, config and log, in ``base``."""

    host = HOST
    STOP_TIMEOUT = 5.0  # stop(): open sessions end when their clients disconnect

    def __init__(
        self,
        base: Path,
        *,
        sshd: str | None = None,
        ready_timeout: float = 15.0,
        directives: tuple[str, ...] = (),
    ):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        found = sshd or find_sshd()
        if found is None:
            raise SSHServerError(f"no sshd found in {', '.join(SSHD_CANDIDATES)}")
        self.sshd = found
        self.ready_timeout = ready_timeout
        # From the uid, not $USER/$LOGNAME (stale under su/sudo): sshd authenticates the uid.
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.port = 0
        self.host_key = self.base / "ssh_host_ed25519_key"
        self.client_key = self.base / "client_ed25519"
        self.authorized_keys = self.base / "authorized_keys"
        self.config_path = self.base / "sshd_config"
        self.log_path = self.base / "sshd.log"
        self.pid_path = self.base / "sshd.pid"
        self.server_home = self.base / "server-home"
        self._proc: subprocess.Popen[bytes] | None = None
        self._optional = list(OPTIONAL_DIRECTIVES)
        self.directives = directives  # more sshd_config lines, e.g. ("Ciphers ...",)
        keygen(self.host_key, "pushdeploy-test-host")
        keygen(self.client_key, "pushdeploy-test-client")
        self.authorized_keys.write_text(self._public(self.client_key) + "\n", encoding="utf-8")
        self.server_home.mkdir(mode=0o700, exist_ok=True)
        (self.server_home / ".gitconfig").write_text(SERVER_GITCONFIG, encoding="utf-8")

    # -- facts for clients -------------------------------------------------------------------

    @property
    def host_key_public(self) -> str:
        """The host key as ``ssh-ed25519 AAAA...`` (no comment)."""
        return " ".join(self._public(self.host_key).split()[:2])

    def known_hosts_line(self, port: int | None = None) -> str:
        """The known_hosts line for this server, seen on ``port`` (default: its own port)."""
        port = self.port if port is None else port
        name = self.host if port == 22 else f"[{self.host}]:{port}"
        return f"{name} {self.host_key_public}"

    def log(self) -> str:
        """Everything sshd logged so far (VERBOSE: connections, accepted keys, errors)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        """What sshd logged after byte ``offset`` (see ``log_size``): one test's share of it."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, port: int | None = None, attempts: int = 5) -> SSHServer:
        """Start sshd on ``port`` (or a free one) and return once it sends its banner."""
        if self.running:
            raise SSHServerError(f"sshd already running on port {self.port}")
        if os.geteuid() == 0:
            # Debian's sshd insists on its privilege separation directory when run as root.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        problem = ""
        for _ in range(attempts):
            self.port = port or free_port()
            self._write_config()
            self._check_config()
            problem = self._launch()
            if not problem:
                return self
            if "Address already in use" not in problem and "Cannot bind" not in problem:
                break
            if port:  # the same port was asked for: give the old listener a moment to go away
                time.sleep(0.2)
        raise SSHServerError(
            f"sshd did not start on {self.host}:{self.port}: {problem}{self._tail()}"
        )

    def restart_with_new_host_key(self) -> None:
        """Stop, generate a different host key, start again on the same port (a *changed* key)."""
        port = self.port
        self.stop()
        keygen(self.host_key, "pushdeploy-test-host-rotated")
        self.start(port=port)

    def __repr__(self) -> str:
        return f"<SSHServer {self.user}@{self.host}:{self.port} running={self.running}>"

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _public(private: Path) -> str:
        return private.with_name(private.name + ".pub").read_text(encoding="utf-8").strip()

    def _write_config(self) -> None:
        lines = [
            *self.directives,  # first: sshd takes a keyword's first value (MaxAuthTries 2 wins)
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_path}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "LogLevel VERBOSE",
            "AllowTcpForwarding yes",
            # No AcceptEnv line: nothing from the client's environment is accepted (the default;
            # "AcceptEnv none" would only name a variable called "none").
            "PermitUserEnvironment no",
            f"SetEnv HOME={self.server_home} GIT_CONFIG_NOSYSTEM=1",
            "Subsystem sftp internal-sftp",
            "MaxSessions 50",
            "MaxStartups 100:30:200",
            "MaxAuthTries 6",
            "LoginGraceTime 30",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            *self._optional,
        ]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _check_config(self) -> None:
        while True:
            result = self._sshd_t()
            if result.returncode == 0:
                return
            unknown = [d for d in self._optional if d.split()[0] in result.stderr]
            if not unknown:
                raise SSHServerError(f"sshd -t rejected {self.config_path}:\n{result.stderr}")
            self._optional = [d for d in self._optional if d not in unknown]
            self._write_config()

    def _sshd_t(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.sshd, "-t", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )

    def _launch(self) -> str:
        """Start sshd and wait for its banner; return "" when ready, else what went wrong."""
        with self.log_path.open("ab") as log:
            log.write(f"--- pushdeploy tests: starting sshd on port {self.port} ---\n".encode())
            log.flush()
            # -D: stay in the foreground (our child); -e with -E: everything goes to the log file.
            self._proc = subprocess.Popen(
                [self.sshd, "-D", "-e", "-E", str(self.log_path), "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        why, ended = await_banner(self._proc, self.host, self.port, self.ready_timeout, "sshd")
        if ended:
            self._proc = None
        elif why:
            self.stop()
        return why

    def _tail(self, lines: int = 40) -> str:
        text = self.log().splitlines()[-lines:]
        return "\n--- sshd log (tail) ---\n" + "\n".join(text) if text else "\n(sshd log is empty)"
