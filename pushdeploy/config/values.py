"""Converters from deploy.conf text to typed values, one per kind of key (keys.py picks them).

Each takes the text and returns the value, or raises ValueError with a message that quotes the
text only through ``shown`` (cut short, controls escaped), and never an env value (a secret).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def shown(value: str, limit: int = 40) -> str:
    """``value`` for an error message: repr (controls escaped), long values cut short."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def parse_port(value: str) -> int:
    number = parse_int(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {shown(value)}")
    return number


def parse_int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {shown(value)}") from None


def positive(value: str) -> int:
    number = parse_int(value)
    if number < 1:
        raise ValueError(f"expected a whole number of at least 1, got {shown(value)}")
    return number


@dataclass(frozen=True)
class BatchSize:
    """How many hosts go live at once in a rolling deploy: a count, or a percentage of the fleet
    (rounded up, at least one host)."""

    count: int
    percent: bool = False

    @property
    def spec(self) -> str:
        return f"{self.count}%" if self.percent else str(self.count)

    def size(self, hosts: int) -> int:
        if self.percent:
            return max(1, -(-hosts * self.count // 100))
        return self.count


def batch_size(value: str) -> BatchSize:
    text = value.strip()
    percent = text.endswith("%")
    number = positive(text.removesuffix("%"))
    if percent and number > 100:
        raise ValueError(f"expected a percentage from 1% to 100%, got {shown(value)}")
    return BatchSize(number, percent)


def seconds(value: str) -> int:
    text = value.strip().removesuffix("s")
    number = parse_int(text)
    if number < 0:
        raise ValueError(f"expected seconds (0 or more), got {shown(value)}")
    return number


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"yes", "true", "on", "1"}:
        return True
    if lowered in {"no", "false", "off", "0"}:
        return False
    raise ValueError(f"expected yes or no, got {shown(value)}")


def one_of(*choices: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.strip() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {shown(value)}")
        return value.strip()

    return convert


def text(value: str) -> str:
    if "\0" in value:
        raise ValueError("contains a NUL byte")
    return value.strip()


def one_line(value: str) -> str:
    value = text(value)
    if not value or "\n" in value or "\r" in value:
        raise ValueError("expected one non-empty line")
    return value


# One piece of POSIX shell words (shlex.split(posix=True), comments off): blanks, '...', "...",
# a backslash escape, or plain text. A lone quote or a final backslash is an error.
_WORD_PIECE = re.compile(
    r"""(?P<blank>[ \t\r\n]+)|'(?P<single>[^']*)'|"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"|"""
    r"""\\(?P<escaped>.)|(?P<plain>[^ \t\r\n'"\\]+)|(?P<lone>['"\\])""",
    re.DOTALL,
)
_DOUBLE_ESCAPE = re.compile(r'\\(["\\])')


def split_words(value: str) -> list[str]:
    """``shlex.split(value, posix=True)`` in linear time (shlex is quadratic in a word's length).

    Raises ValueError as shlex does for an unclosed quote or a backslash at the end.
    """
    words: list[str] = []
    parts: list[str] | None = None
    for piece in _WORD_PIECE.finditer(value):
        kind = piece.lastgroup
        if kind == "blank":
            if parts is not None:
                words.append("".join(parts))
                parts = None
            continue
        if kind == "lone":
            raise ValueError("No escaped character" if piece[0] == "\\" else "No closing quotation")
        text = piece[kind or "plain"]
        if kind == "double":
            text = _DOUBLE_ESCAPE.sub(lambda m: m[1], text)  # a callable: 4x faster than r"\1"
        parts = [] if parts is None else parts
        parts.append(text)
    if parts is not None:
        words.append("".join(parts))
    return words


def remote_path(value: str) -> str:
    written = one_line(value)
    value = written.rstrip("/")
    if not (value.startswith("/") or value.startswith("~/")) or value in {"", "~"}:
        raise ValueError(f"expected an absolute path or ~/path, got {shown(written)}")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("'..' is not allowed in the path")
    return value


def relative_path(value: str) -> str:
    value = one_line(value)
    parts = value.strip("/").split("/")
    if value.startswith("/") or any(part in {"..", "."} for part in parts):
        raise ValueError(f"expected a path inside the release, got {shown(value)}")
    return value


def path_list(value: str) -> tuple[str, ...]:
    return tuple(relative_path(item) for item in value.split())


def words(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def env_pairs(value: str) -> tuple[tuple[str, str], ...]:
    """``NAME=value`` items, blank- or line-separated; shell quoting groups a value with spaces.

    Errors name the item by its number and its name, never its value (it may be a secret).
    ``$NAME`` is left as written here: config.py expands it from the local environment.
    """
    try:
        items = split_words(value)
    except ValueError as exc:
        raise ValueError(f"cannot split into NAME=value items: {exc}") from None
    pairs = []
    for number, item in enumerate(items, 1):
        name, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=value items; item {number} has no '='")
        if not _ENV_NAME.match(name):
            raise ValueError(f"item {number}: {shown(name)} is not a variable name")
        pairs.append((name, val))
    return tuple(pairs)


def parse_heartbeat(value: str) -> dict[str, Any]:
    """``/path [interval [timeout [failures]]]`` (seconds, seconds, count) as the monitor wants it."""
    words = value.split()
    if not words or not words[0].startswith("/") or len(words) > 4:
        raise ValueError(f"expected '/path [interval [timeout [failures]]]', got {shown(value)}")
    names = ["interval", "timeout", "failures"]
    spec: dict[str, Any] = {"path": words[0]}
    for name, word in zip(names, words[1:], strict=False):
        try:
            number = float(word.removesuffix("s"))
        except ValueError:
            raise ValueError(f"heartbeat {name}: expected a number, got {shown(word)}") from None
        if number <= 0:
            raise ValueError(f"heartbeat {name}: expected more than 0, got {shown(word)}")
        spec[name] = int(number) if name == "failures" else number
    return spec


def check_heartbeat(value: str) -> str:
    parse_heartbeat(value)
    return value.strip()


def check_ready(value: str) -> str:
    value = value.strip()
    if value != "accept" and not value.startswith("/"):
        raise ValueError(f"expected 'accept' or an HTTP /path, got {shown(value)}")
    return value


def identity_file(value: str) -> str:
    """A key file; a ``.pub`` names its private half, as TJ's ``ssh -i`` took it."""
    return one_line(value).removesuffix(".pub")


def variable_reference(value: str) -> str:
    """``$NAME`` or ``${NAME}``: the name of a variable of this machine's environment (for a
    secret that must never be written in deploy.conf). The value itself is never shown."""
    name = value.strip()
    name = name[2:-1] if name.startswith("${") and name.endswith("}") else name[1:]
    if not value.strip().startswith("$") or not _ENV_NAME.match(name):
        raise ValueError(
            "give $NAME, the name of an environment variable holding it;"
            " the secret itself never goes in deploy.conf"
        )
    return name


def sha256_hex(value: str) -> str:
    digest = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"expected a SHA-256 digest (64 hex digits), got {shown(value)}")
    return digest


def artifact_location(value: str) -> str:
    """A local file (relative to where pushdeploy runs) or an http(s) URL; ``{ref}`` is the ref."""
    location = one_line(value)
    if not location:
        raise ValueError("expected a file or an http(s) URL")
    if "://" in location and not location.startswith(("http://", "https://")):
        raise ValueError(f"only http and https URLs are fetched, got {shown(location)}")
    return location


NOTIFY_KINDS = {
    "webhook": "URL",
    "slack": "URL",
    "graphite": "URL",
    "mail": "ADDRESS...",
    "github": "",
}


def notify_targets(value: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``notify``: one target a line, ``KIND ARGS``; KIND is one of NOTIFY_KINDS."""
    targets = []
    for line in text(value).splitlines():
        kind, *args = line.split()
        wants = NOTIFY_KINDS.get(kind)
        if wants is None:
            raise ValueError(f"unknown target {shown(kind)}: expected {', '.join(NOTIFY_KINDS)}")
        if wants == "URL" and (len(args) != 1 or not args[0].startswith(("http://", "https://"))):
            raise ValueError(f"{kind} takes one http(s) URL")
        if wants == "ADDRESS..." and (not args or not all("@" in a for a in args)):
            raise ValueError("mail takes one or more addresses")
        if not wants and args:
            raise ValueError(f"{kind} takes nothing (see the github-* keys)")
        targets.append((kind, tuple(args)))
    return tuple(targets)


def address_port(value: str) -> str:
    """``host:port``."""
    host, colon, port = one_line(value).rpartition(":")
    if not colon or not host:
        raise ValueError(f"expected host:port, got {shown(value)}")
    parse_port(port)
    return value.strip()


def etcd_rollout(value: str) -> str:
    """``etcd://HOST:PORT/PREFIX``."""
    match = re.fullmatch(r"etcd://([^/:]+):(\d+)(/[A-Za-z0-9._/-]+)", one_line(value))
    if not match:
        raise ValueError(f"expected etcd://HOST:PORT/PREFIX, got {shown(value)}")
    parse_port(match[2])
    return value.strip()
