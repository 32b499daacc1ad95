"""The monitor's config: a JSON file parsed into frozen dataclasses, validated, with defaults.

The lead's ``setup`` writes it to ``path/.pushdeploy/monitor.json`` from deploy.conf. Schema
(every key but ``app`` and ``listen`` is optional; relative paths are resolved against the
directory holding the config file, so the defaults fit pushdeploy's layout)::

    {
      "app": "python3 app.py",          # simple command, run as `/bin/sh -c 'exec <app>'` in the
                                        # resolved release (so LISTEN_PID stays the worker's pid)
      "listen": ["127.0.0.1:8080",      # host:port, [v6]:port, or a unix socket path (has a "/")
                 "/srv/app/shared/app.sock"],
      "workers": 2,                     # processes per generation
      "current": "../current",          # the `current` symlink; followed at every spawn
      "restart_file": "tmp/restart.txt",# relative to the release, watched through `current`
      "ready": {"http": "/health", "timeout": 30},   # or {"accept": true, "timeout": 30}
      "heartbeat": {"path": "/health", "interval": 10, "timeout": 5,
                    "failures": 1, "suppress": 10}, # or null (the default): no heartbeat
      "grace": 30,                      # seconds old workers may drain before SIGKILL
      "env": {"NODE_ENV": "production"},# added to the workers' environment
      "state_dir": "monitor",           # status (monitor.json), pid, lock, reload requests
      "logs_dir": "../shared/logs",     # monitor.log (daemon output) and app.log (workers)
      "poll_interval": 0.5,             # seconds between stats of the restart file
      "confine_reloads": true           # a reload's new workers start, and the old ones drain,
    }                                   # on half the CPUs (affinity.py); false: not at all

Unknown keys are rejected with a suggestion; errors name the file and the key.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from pushdeploy.monitor.sockets import Endpoint, parse_endpoint


class SettingsError(ValueError):
    """The config file is missing, not JSON, or has a bad value; the message says where."""


@dataclass(frozen=True)
class Ready:
    """How a new worker is known to be ready: an HTTP path answering 2xx, or an accepted connect."""

    http: str | None = "/"
    timeout: float = 30.0

    @property
    def mode(self) -> str:
        return "http" if self.http is not None else "accept"


@dataclass(frozen=True)
class Heartbeat:
    """Periodic HTTP check of every serving worker; ``failures`` in a row trigger a reload."""

    path: str = "/health"
    interval: float = 10.0
    timeout: float = 5.0
    failures: int = 1
    suppress: float = 10.0


@dataclass(frozen=True)
class Settings:
    app: str
    listen: tuple[Endpoint, ...]
    current: str
    state_dir: str
    logs_dir: str
    workers: int = 2
    restart_file: str = "tmp/restart.txt"
    ready: Ready = field(default_factory=Ready)
    heartbeat: Heartbeat | None = None
    grace: float = 30.0
    env: tuple[tuple[str, str], ...] = ()
    poll_interval: float = 0.5
    confine_reloads: bool = True
    source: str = "monitor.json"

    @property
    def restart_path(self) -> str:
        """The restart file as seen through ``current`` (so a switched symlink is followed)."""
        return os.path.join(self.current, self.restart_file)


TOP_KEYS = {
    "app", "listen", "workers", "current", "restart_file", "ready", "heartbeat", "grace", "env",
    "state_dir", "logs_dir", "poll_interval", "confine_reloads",
}  # fmt: skip
READY_KEYS = {"http", "accept", "timeout"}
HEARTBEAT_KEYS = {"path", "interval", "timeout", "failures", "suppress"}


def load(path: str) -> Settings:
    """Read and validate the config file at ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise SettingsError(f"{path}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from e
    return parse(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def parse(data: Any, *, source: str = "monitor.json", base_dir: str = ".") -> Settings:
    """Validate decoded JSON into ``Settings``; pure apart from nothing (no file access)."""
    where = _Where(source)
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a JSON object at the top")
    where.reject_unknown(data, TOP_KEYS, "")
    app = where.string(data, "app", required=True)
    assert app is not None
    listen_raw = data.get("listen")
    if isinstance(listen_raw, str):
        listen_raw = [listen_raw]
    if not isinstance(listen_raw, list) or not listen_raw:
        raise SettingsError(f"{source}: listen: expected one or more addresses, got {listen_raw!r}")
    listen = []
    for item in listen_raw:
        try:
            listen.append(parse_endpoint(item, base_dir=base_dir))
        except ValueError as e:
            raise SettingsError(f"{source}: listen: {e}") from e

    def path(key: str, default: str) -> str:
        value = where.string(data, key) or default
        return os.path.normpath(os.path.join(base_dir, value))

    state_dir = path("state_dir", "monitor")
    if os.path.join(state_dir, "monitor.json") == os.path.join(os.path.abspath(base_dir), source):
        raise SettingsError(f"{source}: state_dir: the status file would overwrite this config")
    restart_file = where.string(data, "restart_file") or "tmp/restart.txt"
    if os.path.isabs(restart_file):
        raise SettingsError(f"{source}: restart_file: must be relative to the release")
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k for k, v in env.items()
    ):
        raise SettingsError(f"{source}: env: expected an object of string values")
    confine_reloads = data.get("confine_reloads", True)
    if not isinstance(confine_reloads, bool):
        raise SettingsError(f"{source}: confine_reloads: expected true or false")
    return Settings(
        app=app,
        listen=tuple(listen),
        current=path("current", "../current"),
        state_dir=state_dir,
        logs_dir=path("logs_dir", "../shared/logs"),
        workers=int(where.number(data, "workers", 2, integer=True)),
        restart_file=restart_file,
        ready=_ready(data.get("ready"), where),
        heartbeat=_heartbeat(data.get("heartbeat"), where),
        grace=where.number(data, "grace", 30.0, minimum=0.0),
        env=tuple(sorted(env.items())),
        poll_interval=where.number(data, "poll_interval", 0.5),
        confine_reloads=confine_reloads,
        source=source,
    )


def _ready(raw: Any, where: _Where) -> Ready:
    if raw is None:
        return Ready()
    if not isinstance(raw, dict):
        raise SettingsError(f'{where.source}: ready: expected an object like {{"http": "/"}}')
    where.reject_unknown(raw, READY_KEYS, "ready.")
    timeout = where.number(raw, "timeout", 30.0, prefix="ready.")
    if raw.get("accept") is True and "http" not in raw:
        return Ready(http=None, timeout=timeout)
    http = where.string(raw, "http", prefix="ready.") or "/"
    if not http.startswith("/"):
        raise SettingsError(f"{where.source}: ready.http: expected a path starting with '/'")
    return Ready(http=http, timeout=timeout)


def _heartbeat(raw: Any, where: _Where) -> Heartbeat | None:
    if raw is None or raw is False:
        return None
    if not isinstance(raw, dict):
        raise SettingsError(f"{where.source}: heartbeat: expected an object or null")
    where.reject_unknown(raw, HEARTBEAT_KEYS, "heartbeat.")
    p = "heartbeat."
    hb = Heartbeat(
        path=where.string(raw, "path", prefix=p) or "/health",
        interval=where.number(raw, "interval", 10.0, prefix=p),
        timeout=where.number(raw, "timeout", 5.0, prefix=p),
        failures=int(where.number(raw, "failures", 1, prefix=p, integer=True)),
        suppress=where.number(raw, "suppress", 10.0, prefix=p, minimum=0.0),
    )
    if not hb.path.startswith("/"):
        raise SettingsError(f"{where.source}: heartbeat.path: expected a path starting with '/'")
    return hb


class _Where:
    """Typed getters that name the file and the key in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def reject_unknown(self, data: dict[str, Any], known: set[str], prefix: str) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
                raise SettingsError(f"{self.source}: unknown key {prefix}{key!r}{hint}")

    def string(
        self, data: dict[str, Any], key: str, *, required: bool = False, prefix: str = ""
    ) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(
                f"{self.source}: {prefix}{key}: expected a non-empty string, got {value!r}"
            )
        return value

    def number(
        self,
        data: dict[str, Any],
        key: str,
        default: float,
        *,
        prefix: str = "",
        integer: bool = False,
        minimum: float | None = None,
    ) -> float:
        value = data.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer:
            ok = isinstance(value, int)
        low = minimum if minimum is not None else (1 if integer else 0.0)
        if not ok or value < low or (minimum is None and not integer and value <= 0):
            kind = "a positive integer" if integer else "a positive number of seconds"
            if minimum == 0.0:
                kind = "a number of seconds >= 0"
            raise SettingsError(f"{self.source}: {prefix}{key}: expected {kind}, got {value!r}")
        return float(value)
