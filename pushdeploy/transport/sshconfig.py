"""A host's ssh_config settings as OpenSSH itself resolves them (``ssh -G``), in one ``Settings``.

Where an ``ssh`` binary is installed, ``resolved`` runs ``ssh -G [-F FILE] [-l USER] [-p PORT]
HOST``, which only prints the result (no network): Include, Match, canonicalisation, tokens and
defaults are ssh's own. Without one, route.py falls back on Paramiko's parser (``fallback_note``
says so once). ``prefetch`` starts them in threads while the hosts are dialed ahead
(transport.dialing_ahead), and ``resolved`` takes what was started for it (else runs ``ssh -G``
itself, about 6 ms), so a deploy does not wait for them; nothing is kept longer (a config that
changes between two commands of one process is read again).

``~``: ``ssh`` takes the home directory from the password database, not from ``$HOME``. When
``$HOME`` differs from it (a temporary home, ``sudo -E``), pushdeploy follows ``$HOME``, as it
always did: it passes ``-F $HOME/.ssh/config`` (``/dev/null`` when that file does not exist),
which also skips /etc/ssh/ssh_config, and reads paths ``ssh`` printed under the database's home
as under ``$HOME``. ``~`` and relative Include paths inside the file are still ssh's (absolute
ones are safe).

``Settings`` is what both transports (Paramiko's and OpenSSH's) take from a host's config.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RESOLVE_TIMEOUT = 5.0  # seconds ``ssh -G`` may take (it reads files, runs Match exec lines)
LISTS = ("identityfile", "certificatefile")  # keys that may be given more than once
DEFAULT_IDENTITIES = [
    f"~/.ssh/id_{kind}"
    for kind in ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")
]

_AHEAD: dict[tuple[str, str | None, int | None, str | None], _Lookup] = {}  # see prefetch
_LOCK = threading.Lock()
_NOTED: list[bool] = []  # the fallback note was printed


@dataclass(frozen=True)
class Settings:
    """The ssh_config settings pushdeploy honours for one host (None/empty: not set)."""

    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    identity_agent: str | None = None  # "none", a socket path, or SSH_AUTH_SOCK
    certificate_files: tuple[str, ...] = ()
    proxy_jump: str | None = None
    proxy_command: str | None = None
    user_known_hosts_files: tuple[str, ...] = ()
    global_known_hosts_files: tuple[str, ...] = ()
    host_key_alias: str | None = None
    server_alive_interval: int = 0
    server_alive_count_max: int = 3
    connect_timeout: int | None = None
    hash_known_hosts: bool = False
    strict_host_key_checking: str | None = None  # yes, accept-new, no/off, ask (None: not set)

    @classmethod
    def of(cls, found: Mapping[str, Any]) -> Settings:
        """From a lookup's dict (``ssh -G``'s, or Paramiko's: lower-case keys)."""

        def one(key: str) -> str | None:
            value = found.get(key)
            text = " ".join(value) if isinstance(value, list) else value
            return None if text in (None, "", "none") else str(text)

        def many(key: str) -> tuple[str, ...]:
            value = found.get(key) or []
            return tuple(value if isinstance(value, list) else str(value).split())

        def number(key: str, default: int | None) -> int | None:
            value = one(key)
            return int(value) if value is not None and value.isdigit() else default

        agent = found.get("identityagent")
        return cls(
            hostname=one("hostname"),
            user=one("user"),
            port=number("port", None),
            identity_files=many("identityfile"),
            identities_only=str(found.get("identitiesonly", "no")).lower() == "yes",
            identity_agent=None if agent in (None, "") else str(agent),
            certificate_files=many("certificatefile"),
            proxy_jump=one("proxyjump"),
            proxy_command=one("proxycommand"),
            user_known_hosts_files=many("userknownhostsfile"),
            global_known_hosts_files=many("globalknownhostsfile"),
            host_key_alias=one("hostkeyalias"),
            server_alive_interval=number("serveraliveinterval", 0) or 0,
            server_alive_count_max=number("serveralivecountmax", 3) or 0,
            connect_timeout=number("connecttimeout", None),
            hash_known_hosts=str(found.get("hashknownhosts", "no")).lower() == "yes",
            strict_host_key_checking=_strict(found.get("stricthostkeychecking")),
        )


def _strict(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text in ("", "ask"):  # ssh's default: no opinion for a tool that cannot ask
        return None
    return {"true": "yes", "false": "no", "off": "no"}.get(text, text)


class _Lookup:
    """One ``ssh -G`` run, in its own thread (``prefetch``) or the caller's."""

    def __init__(self, argv: list[str], home: str | None) -> None:
        self.argv, self.home = argv, home
        self.done = threading.Event()
        self.result: dict[str, Any] | Exception | None = None

    def run(self) -> None:
        try:
            self.result = _run(self.argv, self.home)
        except Exception as exc:  # kept for the caller, who reports it
            self.result = exc
        finally:
            self.done.set()


def ssh_binary() -> str | None:
    return shutil.which("ssh")


def resolved(name: str, user: str | None = None, port: int | None = None) -> dict[str, Any] | None:
    """``name``'s settings as ``ssh -G`` prints them (lists for LISTS), or None without ``ssh``.

    Raises ValueError (ssh's own first line) when ``ssh`` refuses the config.
    """
    lookup = _start(name, user, port, wait=True)
    if lookup is None:
        return None
    if not lookup.done.wait(RESOLVE_TIMEOUT + 1):
        raise ValueError(f"ssh -G {name} gave no answer in {RESOLVE_TIMEOUT} s")
    if isinstance(lookup.result, Exception):
        raise lookup.result
    return dict(lookup.result or {})


def prefetch(hosts: Iterable[tuple[str, str | None, int | None]]) -> None:
    """Start resolving each (name, user, port) in a thread of its own; ``resolved`` takes it."""
    for name, user, port in hosts:
        _start(name, user, port, wait=False)


def fallback_note(warn: Callable[[str], None]) -> None:
    """Say once per process that ~/.ssh/config is read without ``ssh`` (no ``ssh`` binary)."""
    with _LOCK:
        if _NOTED:
            return
        _NOTED.append(True)
    warn("no 'ssh' program found: ~/.ssh/config is read by pushdeploy's own parser (no Include)")


def _start(name: str, user: str | None, port: int | None, *, wait: bool) -> _Lookup | None:
    binary = ssh_binary()
    if binary is None:
        return None
    home = _home_differs()
    key = (name, user, port, home)
    with _LOCK:
        lookup = _AHEAD.pop(key, None) if wait else None
        if lookup is not None:
            return lookup  # started ahead: the caller waits for it
        lookup = _Lookup(_argv(binary, name, user, port, home), home)
        if not wait:
            _AHEAD[key] = lookup
    if wait:
        lookup.run()
    else:
        threading.Thread(target=lookup.run, name="pushdeploy-ssh-G", daemon=True).start()
    return lookup


def _home_differs() -> str | None:
    """``$HOME`` when it is not the password database's home for this user, else None."""
    home = os.environ.get("HOME")
    try:
        database = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return home
    if not home or os.path.realpath(home) == os.path.realpath(database):
        return None
    return home


def _argv(
    binary: str, name: str, user: str | None, port: int | None, home: str | None
) -> list[str]:
    argv = [binary, "-G"]
    if home is not None:
        config = os.path.join(home, ".ssh", "config")
        argv += ["-F", config if os.path.isfile(config) else os.devnull]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    return [*argv, "--", name]


def _run(argv: list[str], home: str | None) -> dict[str, Any]:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=RESOLVE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ValueError(f"ssh -G gave no answer in {RESOLVE_TIMEOUT} s") from None
    except OSError as exc:
        raise ValueError(f"cannot run ssh -G: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        raise ValueError(said[0] if said else f"ssh -G exited with status {done.returncode}")
    return parse(done.stdout, home)


def parse(text: str, home: str | None = None) -> dict[str, Any]:
    """``ssh -G``'s output as a lookup dict; ssh's defaults that mean "nothing named" dropped.

    ``home``: ``$HOME`` when it differs from the password database's (paths under that are
    moved under it, as the module doc says).
    """
    found: dict[str, Any] = {}
    database = _database_home() if home else None
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if not key:
            continue
        if database and home and value:
            value = " ".join(_moved(word, database, home) for word in value.split(" "))
        if key in LISTS:
            found.setdefault(key, []).append(value)
        else:
            found.setdefault(key, value)
    if found.get("identityfile") == DEFAULT_IDENTITIES:
        del found["identityfile"]  # ssh's defaults: Paramiko looks for them itself
    for key in ("proxyjump", "proxycommand", "hostkeyalias"):
        if found.get(key) in ("none", ""):
            found.pop(key, None)
    return found


def _database_home() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None


def _moved(word: str, database: str, home: str) -> str:
    if word == database or word.startswith(database.rstrip("/") + "/"):
        return home.rstrip("/") + word[len(database.rstrip("/")) :]
    return word


def expand_tokens(command: str, host: str, port: int, user: str, name: str) -> str:
    """ProxyCommand's tokens that ``ssh -G`` leaves for ``ssh`` to expand: %h %p %r %n %%."""
    values = {"h": host, "p": str(port), "r": user, "n": name, "%": "%"}
    out: list[str] = []
    index = 0
    while index < len(command):
        char = command[index]
        following = command[index + 1 : index + 2]
        if char == "%" and following in values:
            out.append(values[following])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)
