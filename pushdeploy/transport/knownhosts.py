"""known_hosts files read as OpenSSH reads them, and host certificates checked against them.

A line is ``[@marker] patterns key-type base64 [comment]``. Patterns are comma-separated, with
``*`` and ``?`` wildcards, ``!`` negation and hashed names (``|1|salt|hash``, HashKnownHosts);
a ``[host]:port`` name stands for a port other than 22. ``@revoked`` keys are refused always,
even when listed plainly too (``Known.revoked``); ``@cert-authority`` keys vouch for the host
certificates they signed (``check_certificate``, the format of OpenSSH's PROTOCOL.certkeys).
A line that cannot be read (too few fields, bad base64, an unknown marker) is skipped and named
in ``KnownFile.problems`` ("file:line: why"), never a crash. Files are parsed once per process
(again when they change): a fleet's connections share them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKERS = ("@cert-authority", "@revoked")
HOST_CERT = 2  # a certificate's type: SSH2_CERT_TYPE_HOST

_PARSED: dict[tuple[str, int, int], KnownFile] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Entry:
    """One key line: its marker ("" for a plain key), host patterns, key and where it is."""

    marker: str
    patterns: str
    key_type: str
    blob: bytes
    where: str  # file:line

    def matches(self, names: list[str]) -> bool:
        return any(match_patterns(self.patterns, name) for name in names)


@dataclass
class KnownFile:
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: why", one per skipped line


@dataclass
class Known:
    """What the known_hosts files say of one host's names: plain keys, revoked keys (blob ->
    where), certificate authorities."""

    keys: list[Entry] = field(default_factory=list)
    revoked: dict[bytes, str] = field(default_factory=dict)
    authorities: list[Entry] = field(default_factory=list)


def parse(text: str, path: str) -> KnownFile:
    """The lines of one known_hosts file; what cannot be read is in ``problems``."""
    found = KnownFile()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        fields = line.split()
        marker = ""
        if fields[0].startswith("@"):
            marker = fields.pop(0)
            if marker not in MARKERS:
                found.problems.append(f"{where}: unknown marker {marker[:40]!r}, line skipped")
                continue
        if len(fields) < 3:
            found.problems.append(f"{where}: not 'hosts key-type key', line skipped")
            continue
        patterns, key_type, data = fields[:3]
        try:
            blob = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            found.problems.append(f"{where}: the key is not base64, line skipped")
            continue
        found.entries.append(Entry(marker[1:], patterns, key_type, blob, where))
    return found


def read(path: Path) -> KnownFile:
    """``path`` parsed, once per process (again if it changes). OSError if it cannot be read."""
    stat = path.stat()
    version = (str(path), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        if version not in _PARSED:
            text = path.read_text(encoding="utf-8", errors="replace")
            _PARSED[version] = parse(text, str(path))
        return _PARSED[version]


def known(files: list[KnownFile], names: list[str]) -> Known:
    """What ``files`` say of a host known by ``names`` (the first is what accept-new writes)."""
    result = Known()
    for file in files:
        for entry in file.entries:
            if not entry.matches(names):
                continue
            if entry.marker == "revoked":
                result.revoked.setdefault(entry.blob, entry.where)
            elif entry.marker == "cert-authority":
                result.authorities.append(entry)
            else:
                result.keys.append(entry)
    return result


def match_patterns(patterns: str, name: str) -> bool:
    """OpenSSH's match_hostname: a negated pattern that matches wins; else any that matches."""
    name = name.lower()
    if patterns.startswith("|1|"):
        return _hashed(patterns, name)
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        if _glob(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _glob(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _hashed(entry: str, name: str) -> bool:
    try:
        _, _, salt, digest = entry.split("|", 3)
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, binascii.Error):
        return False


def hashed_name(name: str, salt: bytes) -> str:
    """``name`` as HashKnownHosts writes it (``salt``: 20 random bytes)."""
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


class _Reader:
    """SSH wire format reading (RFC 4251) of a certificate blob."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ValueError("the certificate is cut short")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def string(self) -> bytes:
        return self.take(struct.unpack(">I", self.take(4))[0])

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])


_KEY_FIELDS = {"ssh-ed25519": 1, "ecdsa-sha2": 2, "ssh-rsa": 2}  # strings/mpints of the key


@dataclass(frozen=True)
class Certificate:
    key_type: str
    serial: int
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    signature_key: bytes
    signed: bytes  # what the signature covers
    signature: bytes


def read_certificate(blob: bytes) -> Certificate:
    """The fields of an OpenSSH certificate (PROTOCOL.certkeys); ValueError if it is not one."""
    reader = _Reader(blob)
    key_type = reader.string().decode(errors="replace")
    if not key_type.endswith("-cert-v01@openssh.com"):
        raise ValueError(f"{key_type} is not a certificate")
    reader.string()  # nonce
    base = key_type.removesuffix("-cert-v01@openssh.com")
    fields = next((n for prefix, n in _KEY_FIELDS.items() if base.startswith(prefix)), None)
    if fields is None:
        raise ValueError(f"certificates of {base} keys are not supported")
    for _ in range(fields):
        reader.string()
    serial, cert_type = reader.uint64(), reader.uint32()
    key_id = reader.string().decode(errors="replace")
    principals = _Reader(reader.string())
    names: list[str] = []
    while principals.at < len(principals.data):
        names.append(principals.string().decode(errors="replace"))
    after, before = reader.uint64(), reader.uint64()
    reader.string()  # critical options
    reader.string()  # extensions
    reader.string()  # reserved
    signature_key = reader.string()
    signed = blob[: reader.at]
    signature = reader.string()
    return Certificate(
        key_type, serial, cert_type, key_id, tuple(names), after, before, signature_key,
        signed, signature,
    )  # fmt: skip


def check_certificate(
    blob: bytes, known_names: list[str], authorities: list[Entry], verify: Any
) -> str:
    """Where the @cert-authority line is that vouches for the host certificate ``blob``, for a
    host that answers to ``known_names``; ValueError saying why it does not. ``verify(ca_blob,
    signed, signature)`` checks the CA's signature (Paramiko's, in login.py)."""
    cert = read_certificate(blob)
    if cert.cert_type != HOST_CERT:
        raise ValueError(f"certificate {cert.key_id!r} is not a host certificate")
    now = time.time()
    if not cert.valid_after <= now < cert.valid_before:
        raise ValueError(f"certificate {cert.key_id!r} is not valid now (expired, or not yet)")
    if cert.principals and not set(cert.principals) & set(known_names):
        raise ValueError(
            f"certificate {cert.key_id!r} is for {', '.join(cert.principals)[:200]},"
            f" not {known_names[0]}"
        )
    for entry in authorities:
        if entry.blob == cert.signature_key:
            if not verify(entry.blob, cert.signed, cert.signature):
                raise ValueError(f"certificate {cert.key_id!r} has a bad signature")
            return entry.where
    raise ValueError(f"certificate {cert.key_id!r} is signed by a CA no @cert-authority line names")
