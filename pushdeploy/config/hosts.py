"""Hosts as deploy.conf names them: ``[user@]name[:port]``, a ~/.ssh/config alias, or ``local``.

Names and users are checked before anything reaches Paramiko: a ``Match exec`` line in
~/.ssh/config runs through a shell with ``%h`` and ``%r`` expanded, so a name may hold nothing a
shell would read as syntax.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pushdeploy.config.values import parse_port, shown

_HOST = re.compile(
    r"^(?:(?P<user>[^@\s/]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:\s/\[\]]+)(?::(?P<port>\d+))?$"
)
# Host names and users as OpenSSH >= 9.6 accepts them (ssh.c valid_hostname / valid_ruser, the
# CVE-2023-51385 fix), made stricter: letters, digits and a little punctuation, so that no shell
# metacharacter, blank, control or non-ASCII character can reach a `Match exec` line's %h or %r,
# and nothing is left for socket/IDNA to choke on. Lengths are DNS's (RFC 1035).
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")
_USER_NAME = re.compile(r"[A-Za-z0-9._@-]+")
MAX_HOST_NAME, MAX_LABEL, MAX_USER = 253, 63, 256


@dataclass(frozen=True)
class Host:
    """One entry of ``host``: ``[user@]name[:port]``, a ~/.ssh/config alias, or ``local``."""

    spec: str
    name: str
    user: str | None = None
    port: int | None = None

    @property
    def local(self) -> bool:
        return self.name == "local"


def check_host_name(name: str) -> str:
    """A DNS name, an IPv4 address or a ~/.ssh/config alias: ``[A-Za-z0-9._-]``, DNS lengths."""
    if name.startswith("-"):
        raise ValueError(f"host name {shown(name)} starts with '-'")
    if len(name) > MAX_HOST_NAME:
        raise ValueError(f"host name {shown(name)} is longer than {MAX_HOST_NAME} characters")
    if not _HOST_NAME.fullmatch(name):
        raise ValueError(
            f"host name {shown(name)}: only letters, digits, '.', '-' and '_' are allowed"
            " (no shell metacharacters, blanks or controls; write IDN names as xn--...)"
        )
    labels = name.removesuffix(".").split(".")
    if not all(labels):
        raise ValueError(f"host name {shown(name)} has an empty label ('..' or a leading '.')")
    if any(len(label) > MAX_LABEL for label in labels):
        raise ValueError(f"host name {shown(name)} has a label longer than {MAX_LABEL} characters")
    return name


def check_user(value: str) -> str:
    """A login name: ``[A-Za-z0-9._@-]``, not starting with '-' (OpenSSH's valid_ruser, stricter)."""
    user = value.strip()
    if not user:
        raise ValueError("expected a user name, got nothing")
    if user.startswith("-"):
        raise ValueError(f"user {shown(user)} starts with '-'")
    if len(user) > MAX_USER:
        raise ValueError(f"user {shown(user)} is longer than {MAX_USER} characters")
    if not _USER_NAME.fullmatch(user):
        raise ValueError(
            f"user {shown(user)}: only letters, digits, '.', '_', '@' and '-' are allowed"
            " (no shell metacharacters, blanks or controls)"
        )
    return user


def parse_host(spec: str) -> Host:
    if len(spec) > MAX_USER + MAX_HOST_NAME + 8:  # keep the regex and the messages short
        raise ValueError(f"expected [user@]host[:port], got {shown(spec)} (too long)")
    match = _HOST.match(spec)
    if not match:
        raise ValueError(f"expected [user@]host[:port], got {shown(spec)}")
    name, user, port = match["host"], match["user"], match["port"]
    if name.startswith("["):
        name = name.strip("[]")
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise ValueError(f"{shown(spec)}: [{name}] is not an IPv6 address") from None
    else:
        check_host_name(name)
    if user is not None:
        check_user(user)
    return Host(spec, name, user, parse_port(port) if port else None)


def parse_hosts(value: str) -> tuple[Host, ...]:
    hosts = tuple(parse_host(item) for item in value.split())
    if not hosts:
        raise ValueError("expected one or more hosts")
    names = [h.spec for h in hosts]
    if len(set(names)) != len(names):
        raise ValueError("a host is listed twice")
    if any(h.local for h in hosts) and len(hosts) > 1:
        raise ValueError("'local' cannot be mixed with other hosts")
    return hosts
