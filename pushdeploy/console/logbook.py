"""The local log of every run that contacts hosts, kept under the user's state directory.

Where: ``$XDG_STATE_HOME/pushdeploy/logs/<env>/`` (``~/.local/state/...`` when XDG_STATE_HOME is
unset or relative, which the XDG spec ignores), ``<env>`` made filename-safe (``safe_name``);
directories 0700, files 0600 (logs hold remote output). One file per run, named
``<UTC %Y%m%dT%H%M%S.%fZ>-<command>.log`` to sort by time; opening one deletes the oldest beyond
``KEEP`` (nothing not named like a log). First line ``# pushdeploy VERSION ARGV (env ENV)``, then
a line per event, ``TIME HOST KIND TEXT`` (UTC with milliseconds; ``-`` for the run itself)::

    2026-11-30T07:41:02.123Z web1 step fetch
    2026-11-30T07:41:04.512Z - result deployed main (3f2a9c1) to 2 hosts in 2.4 s

A text of several lines gives several lines with the same prefix (a server cannot forge one of
ours); each line is masked (``secrets.masker``, as every output is), then its terminal controls
shown as escapes, as the console does. ``--log-format json`` logs the console's JSON events instead
(``write_event``; console/events.py), after a ``run`` event naming version, argv and env. Every
run's last line is its exit status (``end``): ``TIME - exit 0``, or an ``exit`` event.

Logging never breaks a run: a state directory it cannot write gives a disabled Logbook (a no-op)
whose ``problem`` says why; the first failed write (a full disk) disables it too, said once in
``problem``. Host threads write at once: one lock, each event written and flushed whole.
Reading them back (``pushdeploy ENV log``) is logs.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pushdeploy import __version__
from pushdeploy.config.secrets import masked, masker
from pushdeploy.console.terminal import visible
from pushdeploy.errors import ConfigError

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

KEEP = 100  # logs kept per environment
ENV_LIMIT, COMMAND_LIMIT = 64, 40  # characters of a name in a path
STAMP = "%Y%m%dT%H%M%S.%fZ"
LOG_NAME = re.compile(r"(?P<time>\d{8}T\d{6}\.\d{6}Z)-(?P<command>[A-Za-z0-9._-]+)\.log")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

Clock = Callable[[], datetime]
Mask = Callable[[str], str]
utc_now: Clock = partial(datetime.now, UTC)


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the logs of every environment live: ``<XDG state home>/pushdeploy/logs``."""
    base = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        home = environ.get("HOME", "")
        home = home if os.path.isabs(home) else os.path.expanduser("~")
        if not os.path.isabs(home):
            raise ConfigError("no home directory for the local logs", "set HOME or XDG_STATE_HOME")
        base = os.path.join(home, ".local", "state")
    return Path(base) / "pushdeploy" / "logs"


def safe_name(text: str, limit: int = ENV_LIMIT) -> str:
    """``text`` as one file name: ``[A-Za-z0-9._-]`` only, at most ``limit`` long, never ``.``/``..``."""
    name = _UNSAFE_NAME.sub("_", text)[:limit]
    return name if name.strip(".") else name.replace(".", "_") or "_"


def env_dir(env_name: str, environ: Mapping[str, str] = os.environ) -> Path:
    return state_dir(environ) / safe_name(env_name)


def timestamp(when: datetime) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-30T07:41:02.123Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def json_line(event: Mapping[str, Any], mask: Mask) -> str:
    """``event`` as one JSON line, its strings masked; ASCII only: no control character is raw."""
    return json.dumps(masked(event, mask), ensure_ascii=True)


def for_run(
    env: Environment, command: str, argv: list[str], log_format: str, warn: Callable[[str], None]
) -> Logbook:
    """The log of a run of ``command``, the environment's secret values masked in it; disabled
    when it cannot be written, which ``warn`` says now (a problem that comes later is said at
    the end of the run)."""
    book = Logbook.open(env.name, command, argv, mask=masker(env), log_format=log_format)
    if book.problem:
        warn(book.problem)
        return Logbook.disabled()
    return book


@dataclass(eq=False)
class Logbook:
    """One run's log file, from ``Logbook.open`` to ``close``. When logging is disabled ``path``
    is None, writing does nothing and ``problem`` says why ("" while all is well), to warn once."""

    path: Path | None = None
    problem: str = ""
    _file: IO[str] | None = None
    _mask: Mask = str
    _clock: Clock = utc_now
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _json: bool = False  # --log-format json: events, not text lines

    @classmethod
    def disabled(cls, problem: str = "") -> Logbook:
        return cls(problem=problem)

    @classmethod
    def open(
        cls,
        env_name: str,
        command: str,
        argv: list[str],
        *,
        mask: Mask,
        environ: Mapping[str, str] = os.environ,
        clock: Clock = utc_now,
        log_format: str = "text",
    ) -> Logbook:
        """A new log for a run of ``command`` on ``env_name``, its header written; the oldest
        logs beyond ``KEEP`` deleted. Never raises: a disabled Logbook says what went wrong."""
        try:
            folder = env_dir(env_name, environ)
            _private_dirs(folder)
            path, file = _create(folder, safe_name(command, COMMAND_LIMIT), clock())
        except ConfigError as exc:
            return cls.disabled(f"no local log: {exc.message}")
        except OSError as exc:
            return cls.disabled(f"no local log: cannot write in {folder}: {exc.strerror or exc}")
        _prune(folder, KEEP)
        book = cls(path, "", file, mask, clock, _json=log_format == "json")
        if log_format == "json":
            run = {"pushdeploy": __version__, "argv": argv, "environment": env_name}
            book.write_event({"event": "run", **run, "time": timestamp(clock())})
            return book
        words = " ".join(filter(None, [__version__, shlex.join(argv), f"(env {env_name})"]))
        with book._lock:
            book._emit(visible(mask(f"# pushdeploy {words}")) + "\n")
        return book

    def write(self, host: str, kind: str, text: str) -> None:
        """One event: a line per line of ``text``, each ``TIME HOST KIND TEXT``, masked, escaped."""
        with self._lock:
            host, kind = ("_".join(word.split()) for word in (host, kind))  # one word each
            prefix = f"{timestamp(self._clock())} {host or '-'} {kind}"
            lines = text.removesuffix("\n").split("\n")
            block = "".join(
                visible(self._mask(f"{prefix} {line}" if line else prefix)) + "\n" for line in lines
            )
            self._emit(block)

    def write_event(self, event: Mapping[str, Any]) -> None:
        """One event of the JSON stream as its line (``json_line``: masked, controls escaped)."""
        with self._lock:
            self._emit(json_line(event, self._mask) + "\n")

    def end(self, status: int) -> None:
        """The run's last line, ``TIME - exit STATUS`` (an ``exit`` event in json), whatever the
        command: how it ended, for ``log`` (logs.py) to read when no result or error says it."""
        if self._json:
            self.write_event(
                {"event": "exit", "exit_status": status, "time": timestamp(self._clock())}
            )
        else:
            self.write("", "exit", str(int(status)))

    def close(self, status: int | None = None) -> None:
        """The end of the run: its exit ``status`` (if given) as the last line (``end``)."""
        if status is not None:
            self.end(status)
        with self._lock:
            self._drop()

    def _emit(self, block: str) -> None:
        """Write and flush ``block`` (the lock held); the first failure disables the log."""
        if self._file is None:
            return
        try:
            self._file.write(block)
            self._file.flush()
        except (OSError, ValueError) as exc:
            self.problem = f"the local log {self.path} stopped at a write error: {exc}"
            self._drop()

    def _drop(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # every event was flushed already
                file.close()


def _private_dirs(folder: Path) -> None:
    """``folder`` and every missing parent made 0700; pushdeploy's own three levels set 0700."""
    missing = [folder, *(p for p in folder.parents)]
    missing = missing[: next((i for i, p in enumerate(missing) if p.is_dir()), len(missing))]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    for directory in (folder.parents[1], folder.parents[0], folder):
        os.chmod(directory, 0o700)


def _create(folder: Path, command: str, when: datetime) -> tuple[Path, IO[str]]:
    """A new file, 0600, never one that exists (the next microsecond is tried instead)."""
    when = when.astimezone(UTC)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(1000):
        path = folder / f"{(when + timedelta(microseconds=attempt)).strftime(STAMP)}-{command}.log"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        os.chmod(path, 0o600)  # whatever the umask
        return path, open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n")
    raise FileExistsError(f"{folder}: no free log name near {when.strftime(STAMP)}")


def _log_names(folder: Path) -> list[str]:
    """The log files in ``folder``, oldest first; none when there is no such directory."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        return sorted(name for name in os.listdir(folder) if LOG_NAME.fullmatch(name))
    return []


def log_paths(env_name: str, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Every log of ``env_name``, oldest first."""
    folder = env_dir(env_name, environ)
    try:
        return [folder / name for name in _log_names(folder)]
    except OSError as exc:
        raise ConfigError(f"cannot read the local logs in {folder}: {exc.strerror}") from None


def _prune(folder: Path, keep: int) -> None:
    """Delete the oldest logs beyond ``keep``; one that cannot be deleted waits for the next run."""
    names: list[str] = []
    with contextlib.suppress(OSError):
        names = _log_names(folder)
    for name in names[: max(len(names) - keep, 0)]:
        with contextlib.suppress(OSError):
            (folder / name).unlink(missing_ok=True)
