"""The keys deploy.conf understands: name, default, converter and one line of documentation each.

This table is the single source of truth: config.py validates against it, ``pushdeploy ENV config``
prints in its order, and tests check that deploy.conf.example documents every key in it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pushdeploy.errors import ConfigError

if TYPE_CHECKING:
    from pushdeploy.config import Environment

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST = re.compile(
    r"^(?:(?P<user>[^@\s/]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:\s/\[\]]+)(?::(?P<port>\d+))?$"
)
_SECRET = re.compile(r"(?i)(secret|token|passw|key|credential|auth)")


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


def parse_host(spec: str) -> Host:
    match = _HOST.match(spec)
    if not match:
        raise ValueError(f"expected [user@]host[:port], got {spec!r}")
    port = match["port"]
    return Host(spec, match["host"].strip("[]"), match["user"], parse_port(port) if port else None)


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


def parse_port(value: str) -> int:
    number = parse_int(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return number


def parse_int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def positive(value: str) -> int:
    number = parse_int(value)
    if number < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return number


def seconds(value: str) -> int:
    text = value.strip().removesuffix("s")
    number = parse_int(text)
    if number < 0:
        raise ValueError(f"expected seconds (0 or more), got {value!r}")
    return number


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"yes", "true", "on", "1"}:
        return True
    if lowered in {"no", "false", "off", "0"}:
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def one_of(*choices: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.strip() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value.strip()

    return convert


def text(value: str) -> str:
    if "\0" in value:
        raise ValueError("contains a NUL byte")
    return value.strip()


def one_line(value: str) -> str:
    value = text(value)
    if not value or "\n" in value:
        raise ValueError("expected one non-empty line")
    return value


def remote_path(value: str) -> str:
    written = one_line(value)
    value = written.rstrip("/")
    if not (value.startswith("/") or value.startswith("~/")) or value in {"", "~"}:
        raise ValueError(f"expected an absolute path or ~/path, got {written!r}")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("'..' is not allowed in the path")
    return value


def relative_path(value: str) -> str:
    value = one_line(value)
    parts = value.strip("/").split("/")
    if value.startswith("/") or any(part in {"..", "."} for part in parts):
        raise ValueError(f"expected a path inside the release, got {value!r}")
    return value


def path_list(value: str) -> tuple[str, ...]:
    return tuple(relative_path(item) for item in value.split())


def words(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def env_pairs(value: str) -> tuple[tuple[str, str], ...]:
    """``NAME=value`` items, blank- or line-separated; shell quoting groups a value with spaces."""
    try:
        items = shlex.split(value, comments=False, posix=True)
    except ValueError as exc:
        raise ValueError(f"cannot split into NAME=value items: {exc}") from None
    pairs = []
    for item in items:
        name, sep, val = item.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ValueError(f"expected NAME=value, got {item!r}")
        pairs.append((name, val))
    return tuple(pairs)


def parse_heartbeat(value: str) -> dict[str, Any]:
    """``/path [interval [timeout [failures]]]`` (seconds, seconds, count) as the monitor wants it."""
    words = value.split()
    if not words or not words[0].startswith("/") or len(words) > 4:
        raise ValueError(f"expected '/path [interval [timeout [failures]]]', got {value!r}")
    names = ["interval", "timeout", "failures"]
    spec: dict[str, Any] = {"path": words[0]}
    for name, word in zip(names, words[1:], strict=False):
        try:
            number = float(word.removesuffix("s"))
        except ValueError:
            raise ValueError(f"heartbeat {name}: expected a number, got {word!r}") from None
        if number <= 0:
            raise ValueError(f"heartbeat {name}: expected more than 0, got {word!r}")
        spec[name] = int(number) if name == "failures" else number
    return spec


def check_heartbeat(value: str) -> str:
    parse_heartbeat(value)
    return value.strip()


def check_ready(value: str) -> str:
    value = value.strip()
    if value != "accept" and not value.startswith("/"):
        raise ValueError(f"expected 'accept' or an HTTP /path, got {value!r}")
    return value


@dataclass(frozen=True)
class Key:
    name: str
    convert: Callable[[str], Any]
    doc: str
    default: str = ""
    required: bool = False
    field: str = ""

    @property
    def attr(self) -> str:
        return self.field or self.name.replace("-", "_")


KEYS: Mapping[str, Key] = {
    k.name: k
    for k in [
        Key(
            "host",
            parse_hosts,
            "one or more [user@]host[:port], ~/.ssh/config aliases, or 'local'",
            required=True,
            field="hosts",
        ),
        Key(
            "user", one_line, "login user when a host does not name one", "ssh config or local user"
        ),
        Key("port", parse_port, "ssh port when a host does not name one", "ssh config or 22"),
        Key("key", one_line, "private key file (identity) to log in with", "ssh config and agent"),
        Key(
            "forward-agent",
            parse_bool,
            "forward your ssh agent to the server (private repos)",
            "no",
        ),
        Key(
            "host-key",
            one_of("strict", "accept-new"),
            "strict: unknown keys stop; accept-new: record new keys",
            "strict",
        ),
        Key(
            "repo",
            one_line,
            "git URL the server fetches from (its mirror lives in path/repo)",
            required=True,
        ),
        Key("path", remote_path, "absolute deploy root on the server", required=True),
        Key("ref", one_line, "branch, tag or SHA to deploy when none is given", "the newest tag"),
        Key("pre-deploy", text, "hook run in the old current before anything changes"),
        Key("post-deploy", text, "hook run in the new release after it went live"),
        Key("test", text, "check run in the new release; failure switches back"),
        Key("build", text, "commands run in the new release before it goes live (one per line)"),
        Key(
            "restart-file",
            relative_path,
            "file touched in the release to restart the app",
            "tmp/restart.txt",
        ),
        Key("restart", text, "touch | monitor | a command that restarts the app", "touch"),
        Key("health", one_line, "URL or /path checked from the server after the restart"),
        Key("health-timeout", seconds, "seconds the health check may take in all", "30"),
        Key(
            "shared", path_list, "paths under path/shared linked into every release (dir/ or file)"
        ),
        Key("env", env_pairs, "NAME=value pairs exported to hooks, builds and the app"),
        Key("keep", positive, "releases kept on the server", "5"),
        Key("inherit", one_line, "section to take defaults from", field="inherit"),
        Key("app", one_line, "command the monitor runs in current (e.g. python3 app.py)"),
        Key("workers", positive, "worker processes the monitor runs", "2"),
        Key("listen", words, "host:port or unix socket paths the monitor binds"),
        Key("ready", check_ready, "how a new worker is ready: accept, or an HTTP /path", "accept"),
        Key("ready-timeout", seconds, "seconds a new generation may take to get ready", "30"),
        Key(
            "heartbeat",
            check_heartbeat,
            "HTTP /path [interval [timeout [failures]]] the monitor polls",
        ),
        Key("grace", seconds, "seconds old workers may drain before SIGKILL", "30"),
    ]
}


def check_combination(env: Environment, source: str) -> None:
    """Rules that involve more than one key."""
    if env.restart == "monitor" and not env.app:
        raise ConfigError(
            f"{source}: [{env.name}] restart: 'monitor' needs the 'app' key",
            "set 'app' to the command that runs your app, or use restart = touch",
        )
    if env.app and not env.listen:
        raise ConfigError(
            f"{source}: [{env.name}] app: the monitor needs 'listen' (host:port or socket path)",
        )


def redact(key: str, value: str) -> str:
    """Hide secrets in ``config`` output: env values with secret-looking names, URL passwords."""
    if key == "env":
        out = []
        for name, val in env_pairs(value):
            out.append(f"{name}=***" if _SECRET.search(name) else f"{name}={shlex.quote(val)}")
        return " ".join(out)
    if key == "repo":
        return re.sub(r"(://[^/:@]+):[^/@]+@", r"\1:***@", value)
    return value
