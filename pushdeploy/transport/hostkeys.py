"""Host keys: known_hosts files, what an unknown key does, and fingerprints as OpenSSH shows them.

known_hosts is loaded and an unknown key stops the run (``StrictPolicy``, for
``host-key = strict``) or is recorded with a warning (``AcceptNewPolicy``); a changed key always
stops it (Paramiko's ``BadHostKeyException``). login.py applies this to every hop.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pushdeploy.transport.library import paramiko

_PARSED: dict[tuple[str, int, int], Any] = {}  # known_hosts files, parsed: see known_keys
_PARSED_LOCK = threading.Lock()


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: Any) -> None:
        super().__init__(hostname)
        self.hostname, self.key = hostname, key


class StrictPolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise UnknownHostKey(hostname, key)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record an unknown key in known_hosts (as OpenSSH's StrictHostKeyChecking=accept-new)."""

    def __init__(self, known_hosts: Path, warn: Callable[[str], None]) -> None:
        self.known_hosts, self.warn = known_hosts, warn

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.warn(f"added {hostname} ({key.get_name()} {fingerprint(key)}) to {self.known_hosts}")


def known_keys(path: Path) -> Any:
    """The known_hosts file ``path``, parsed once per process (again if it changes).

    A fleet's connections share it: parsing costs 3 ms per 64 lines, for every host otherwise.
    """
    stat = path.stat()
    version = (str(path), stat.st_mtime_ns, stat.st_size)
    with _PARSED_LOCK:
        if version not in _PARSED:
            _PARSED[version] = paramiko.HostKeys(str(path))
        return _PARSED[version]
