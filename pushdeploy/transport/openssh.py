"""SSH through the system ``ssh`` client (``ssh = openssh``): one multiplexed connection per host.

For what Paramiko cannot do (FIDO ``-sk`` keys, PKCS#11, GSSAPI, host certificates, ciphers
and key exchanges it lacks) and for setups that work with ``ssh`` and nothing else: ``ssh``
reads ~/.ssh/config itself; deploy.conf's ``user``, ``port``, ``key``, ``forward-agent`` and
``host-key`` reach it as options, and so does BatchMode (nothing ever prompts).

Lifecycle: ``connect`` starts a master (``ssh -N`` with ControlMaster, its ControlPath in a
private 0700 directory of this invocation), which logs in at once, so host-key and login errors
surface before any phase runs, as with Paramiko; every command after it (a script, an upload, a
console) is an ``ssh`` client of that master: one TCP connection per host per command.
``close`` ends the master (``ssh -O exit``) and removes the directory; ControlPersist bounds
how long a master outlives a pushdeploy that was killed.

Each ``ssh`` logs to a file of its own in that directory (``-E``), so its words never mix with
the script's stderr: they are read back when it exits 255 (ssh's own failure), and they become
the ConnectionError's line. A 255 while the master still runs is the command's own (or a
signal's: ssh cannot tell them apart). The scripts, their beats and the watch for a silent
peer, a Control's words and ends are the same as over Paramiko (process.py, heartbeat.py).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pushdeploy.config.environment import Environment
from pushdeploy.config.hosts import Host
from pushdeploy.errors import ConfigError, ConnectionError, HostKeyError
from pushdeploy.remote.protocol import BEAT_EVERY, KILLED, SILENT_AFTER
from pushdeploy.transport import identity, process, sshconfig
from pushdeploy.transport.seam import Sent
from pushdeploy.transport.sockets import TIMEOUT
from pushdeploy.transport.streams import Control, OnLine

FAILED = 255  # ssh's exit status for its own failure (and for a command ended by a signal)
PERSIST = 60  # seconds a master outlives its last client (a pushdeploy killed before close)
_ASIDE = 10.0  # seconds ``ssh -O`` may take to speak to a master
_LOST_HINT = (
    "before its switch the server stops, removes the half-built release and drops the"
    " lock; after it, it finishes its checks or switches back: see 'pushdeploy ENV current'"
)
_HOST_KEY_WORDS = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")


def home_options(home: str | None = None, login_home: str | None = None) -> list[str]:
    """Options that make ``ssh`` read ``$HOME/.ssh`` as Paramiko does, where ``$HOME`` is not the
    login's home (``ssh`` takes ``~`` from the password database): ``-F`` its config (or none),
    UserKnownHostsFile its known_hosts. Nothing where the two are the same directory."""
    home = os.environ.get("HOME", "") if home is None else home
    if login_home is None:
        try:
            login_home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:  # no passwd entry: ssh itself would fall back on $HOME
            return []
    if not home or os.path.realpath(home) == os.path.realpath(login_home):
        return []
    config = Path(home, ".ssh", "config")
    known_hosts = Path(home, ".ssh", "known_hosts")
    return [
        *("-F", str(config) if config.is_file() else "none"),
        *("-o", f"UserKnownHostsFile={known_hosts}"),
    ]


def ssh_options(
    env: Environment,
    host: Host,
    host_key: str,
    key: str | None,
    own: sshconfig.Settings | None = None,
) -> list[str]:
    """What deploy.conf says, as ``ssh`` options (before the ControlPath ones); ``own``: the
    host's ssh_config, whose ConnectTimeout and ServerAliveInterval, where set, are kept."""
    own = own or sshconfig.Settings()
    # A dead link is noticed as over Paramiko: the dial and the banner within SILENT_AFTER
    # seconds, a silent connection (an upload's too) after SILENT_AFTER (heartbeat.py), unless
    # ssh_config bounds them itself.
    bounds = [] if own.connect_timeout else ["-o", f"ConnectTimeout={SILENT_AFTER}"]
    if not own.server_alive_interval:
        bounds += ["-o", f"ServerAliveInterval={BEAT_EVERY}"]
        bounds += ["-o", f"ServerAliveCountMax={max(1, SILENT_AFTER // BEAT_EVERY)}"]
    options = [
        *("-o", "BatchMode=yes"),
        *("-o", f"StrictHostKeyChecking={'accept-new' if host_key == 'accept-new' else 'yes'}"),
        *bounds,
        *("-o", "ClearAllForwardings=yes"),  # a LocalForward of ~/.ssh/config is not ours
        *("-o", "RemoteCommand=none"),
        *("-o", "PermitLocalCommand=no"),
        *("-e", "none"),
        *home_options(),
    ]
    user, port = host.user or env.ssh.user, host.port or env.ssh.port
    if user:
        options += ["-l", user]
    if port:
        options += ["-p", str(port)]
    if key:
        options += ["-i", key]
    if env.ssh.forward_agent:
        options.append("-A")
    return options


class OpenSSHTransport:
    """Commands as ``ssh`` clients of one master connection, whose socket is in ``directory``."""

    def __init__(self, label: str, options: list[str], target: str, directory: Path) -> None:
        self.label, self.target, self.directory = label, target, directory
        self.options = [
            *options,
            *("-o", f"ControlPath={directory / 'master'}"),
            *("-o", "ControlMaster=auto"),
            *("-o", f"ControlPersist={PERSIST}"),
        ]
        self._logs = itertools.count()
        self._lock = threading.Lock()

    def command(
        self, *options: str, remote: str | None = None, log: Path | None = None
    ) -> list[str]:
        """An ``ssh`` command line through the master: ``options``, the target, the ``remote``
        command (none: a master's ``-N``, or a ``-O`` to it); its own words go to ``log``."""
        logged = ["-E", str(log)] if log is not None else []
        command = [remote] if remote is not None else []
        return ["ssh", *self.options, *logged, *options, self.target, *command]

    def log(self) -> Path:
        """A new, empty file for one ``ssh``'s own words."""
        with self._lock:
            return self.directory / f"ssh-{next(self._logs)}.log"

    def start(self, warn: Callable[[str], None]) -> None:
        """Log in: the master, in the background once logged in (-N, ControlPersist)."""
        log = self.log()
        argv = self.command("-N", log=log)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C at this terminal is pushdeploy's, not ssh's
                timeout=TIMEOUT + 2 * SILENT_AFTER,
            )
        except subprocess.TimeoutExpired:
            raise ConnectionError(
                f"{self.label}: ssh did not log in within {TIMEOUT + 2 * SILENT_AFTER:.0f} s",
                "check that the host answers: ssh -v HOST",
            ) from None
        said = _read(log) + [line for line in done.stderr.decode(errors="replace").splitlines()]
        for line in said:
            if line.startswith("Warning: Permanently added"):  # accept-new recorded a key
                warn(f"{self.label}: ssh: {line}")
        if done.returncode == 0:
            return
        words = _last(said) or f"ssh exited with status {done.returncode}"
        if any(w in line for line in said for w in _HOST_KEY_WORDS):
            raise HostKeyError(
                f"{self.label}: ssh: {words}",
                "check the host's key in ~/.ssh/known_hosts (ssh-keygen -R HOST removes an old"
                " one); for a new host, host-key = accept-new or --host-key accept-new",
            )
        raise ConnectionError(
            f"{self.label}: ssh: {words}", "run the same with ssh -v HOST to see the login"
        )

    def alive(self) -> bool:
        """Whether the master still holds its connection (``ssh -O check``)."""
        try:
            checked = subprocess.run(
                self.command("-O", "check"),
                capture_output=True,
                timeout=_ASIDE,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return False
        return checked.returncode == 0

    def _lost(self, log: Path, what: str) -> ConnectionError:
        words = _last(_read(log))
        said = f" (ssh: {words})" if words else ""
        return ConnectionError(f"{self.label}: the connection was lost {what}{said}", _LOST_HINT)

    def run(
        self,
        script: str,
        on_line: OnLine,
        stdin: io.BufferedIOBase | None = None,
        *,
        control: Control | None = None,
    ) -> int:
        """As ``SSHTransport.run``: ``exec bash -s`` fed the script, then the control's words
        and beats (watched for silence) or ``stdin``; ssh's 255 with the master gone is a
        ConnectionError; a 255 with it alive ends a pushdeploy script (which never exits 255
        itself) as KILLED, and is an ``exec`` command's own status."""
        log = self.log()
        argv = self.command("-T", remote="exec bash -s", log=log)
        status, silent = process.follow(argv, script, on_line, stdin, control, watch=True)
        if silent:
            raise ConnectionError(
                f"{self.label}: the connection went silent (nothing came for {SILENT_AFTER} s:"
                " the network dropped?) while the script ran",
                _LOST_HINT,
            )
        if status == FAILED and not self.alive():
            raise self._lost(log, "while the script ran")
        if status < 0 or (status == FAILED and control is not None):
            return KILLED
        return status

    def send(
        self,
        command: str,
        source: BinaryIO,
        size: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """``size`` bytes of ``source`` to ``command`` through the master (Transport.send)."""
        log = self.log()
        sent = process.feed(self.command("-T", remote=command, log=log), source, size, cancel)
        if sent.status == FAILED and not self.alive():
            raise self._lost(log, "while sending")
        return sent

    def interactive(self, command: str) -> int:
        log = self.log()
        status = subprocess.call(self.command("-tt", remote=command, log=log))
        if status == FAILED and not self.alive():
            raise self._lost(log, "")
        return status

    def close(self) -> None:
        # No answer in time: ControlPersist ends it soon after its last client.
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                self.command("-O", "exit"),
                capture_output=True,
                timeout=_ASIDE,
                start_new_session=True,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def connect(
    env: Environment, host: Host, warn: Callable[[str], None], host_key: str
) -> OpenSSHTransport:
    """Log in to ``host`` with the system ``ssh`` now (a master for every later command)."""
    key = identity.check_key(env)  # before connecting: a missing deploy.conf key is exit 3
    if shutil.which("ssh") is None:
        raise ConfigError(
            f"[{env.name}] ssh = openssh, but there is no ssh program on PATH",
            "install OpenSSH's client, or set ssh = paramiko in deploy.conf",
        )
    directory = Path(tempfile.mkdtemp(prefix="pushdeploy-ssh-"))  # 0700: ours alone
    if len(str(directory)) > 80:  # a socket's path is at most 104-108 bytes
        shutil.rmtree(directory)
        directory = Path(tempfile.mkdtemp(prefix="pushdeploy-ssh-", dir="/tmp"))
    options = ssh_options(env, host, host_key, key, _settings(env, host))
    transport = OpenSSHTransport(host.spec, options, host.name, directory)
    try:
        transport.start(warn)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return transport


def _settings(env: Environment, host: Host) -> sshconfig.Settings | None:
    """The host's ssh_config (``ssh -G``, prefetched as the hosts are), or None if unreadable
    (``ssh`` then says why as it starts)."""
    try:
        found = sshconfig.resolved(host.name, host.user or env.ssh.user, host.port or env.ssh.port)
    except ValueError:
        return None
    return None if found is None else sshconfig.Settings.of(found)


def _read(log: Path) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()
    except OSError:
        return []


def _last(lines: list[str]) -> str:
    """ssh's last word: its last line that is not blank (untrusted: the server's banner may be
    among them; shown as one line)."""
    words = [line.strip() for line in lines if line.strip()]
    return words[-1][:300] if words else ""
