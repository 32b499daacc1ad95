"""The ``log`` command: an environment's local logs listed, or one of them shown whole.

Logs are numbered as ``revert N`` counts (1 is the latest); logbook.py writes them. How each run
ended is read from its last lines.

A run ended as its last line says: ``exit STATUS`` (or an ``exit`` event), written at the end of
every run (0 ok, 130 interrupted, any other failed); in a log written before that line was, its
last ``ENDINGS`` line or event (an ``error`` starting ``interrupted``, errors.Interrupted's
message, as interrupted; a failed ``result`` event as failed); else it is unfinished. Both formats are read: text lines (``TIME HOST KIND TEXT``) and JSON events.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.console.logbook import KEEP, LOG_NAME, STAMP, env_dir, log_paths
from pushdeploy.errors import ConfigError, ExitStatus, UsageError

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation

LISTED = 20  # logs `log` lists
TAIL = 64 * 1024  # bytes read from a log's end to find how it ended
ENDINGS = {"result": "ok", "error": "failed", "interrupted": "interrupted"}
UNFINISHED = "unfinished"
INTERRUPTED = int(ExitStatus.INTERRUPTED)


@dataclass(frozen=True)
class LogSummary:
    path: Path
    time: datetime  # when the run started (UTC)
    command: str
    result: str  # ok, failed, interrupted or unfinished


def ending(path: Path) -> str:
    """How the run logged in ``path`` ended, from its last result/error/interrupted line."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(size - TAIL, 0))
            tail = file.read().decode("utf-8", "replace")
    except OSError:
        return UNFINISHED
    for line in reversed(tail.split("\n")):
        kind, text = _event_of(line)
        if kind == "exit" and text.isdigit():
            status = int(text)
            return "ok" if status == 0 else "interrupted" if status == INTERRUPTED else "failed"
        if kind in ENDINGS:
            interrupted = kind == "error" and text.startswith("interrupted")
            return "interrupted" if interrupted else ENDINGS[kind]
    return UNFINISHED


def _event_of(line: str) -> tuple[str, str]:
    """A log line's kind and text, in either format (a failed ``result`` event is an error)."""
    if not line.startswith("{"):
        parts = [] if line.startswith("#") else line.split(" ", 3)
        return (parts[2], parts[3] if len(parts) > 3 else "") if len(parts) > 2 else ("", "")
    with contextlib.suppress(ValueError):  # the tail's first line may be cut
        event = json.loads(line)
        failed = event.get("event") == "result" and event.get("exit_status") != 0
        if event.get("event") == "exit":
            return "exit", str(event.get("exit_status"))
        return "error" if failed else str(event.get("event")), str(event.get("message"))
    return "", ""


def recent(
    env_name: str, environ: Mapping[str, str] = os.environ, *, limit: int = KEEP
) -> list[LogSummary]:
    """The newest ``limit`` logs of ``env_name``, oldest first."""
    summaries = []
    for path in log_paths(env_name, environ)[-limit:] if limit > 0 else []:
        match = LOG_NAME.fullmatch(path.name)
        assert match is not None  # log_paths keeps only these
        started = datetime.strptime(match["time"], STAMP).replace(tzinfo=UTC)
        summaries.append(LogSummary(path, started, match["command"], ending(path)))
    return summaries


def run_log(inv: Invocation) -> int:
    """``pushdeploy ENV log``: the recent logs; ``pushdeploy ENV log N``: log N in full."""
    name = inv.env.name
    wanted: int | None = inv.opts.n  # the N of `log N` (None: list them); commands.py checked it
    if wanted is None:
        return show_list(inv, recent(name, limit=LISTED))
    logs = log_paths(name)
    if wanted > len(logs):
        count = "is 1 log" if len(logs) == 1 else f"are {len(logs)} logs"
        hint = f"there {count} (1 is the latest); 'pushdeploy ENV log' lists them"
        hint = hint if logs else f"no logs yet: they are written to {env_dir(name)}"
        raise UsageError(f"log {wanted}: there is no log {wanted} for {name}", hint)
    try:
        inv.console.raw(logs[-wanted].read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise ConfigError(f"log {wanted}: cannot read {logs[-wanted]}: {exc.strerror}") from None
    return ExitStatus.OK


def show_list(inv: Invocation, logs: list[LogSummary]) -> int:
    rows = [
        {"number": len(logs) - i, "time": log.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        | {"command": log.command, "result": log.result, "path": str(log.path)}
        for i, log in enumerate(logs)
    ]
    if inv.args.json:
        inv.console.data(rows)
    elif not logs:
        folder = env_dir(inv.env.name)
        inv.console.result(f"no logs yet for {inv.env.name} (they are written to {folder})")
    else:
        columns = ["#", "time", "command", "result", "path"]
        table = [[str(row[c]) for c in ["number", *columns[1:]]] for row in rows]
        for cells, log in zip(table, logs, strict=True):
            cells[1] = log.time.strftime("%Y-%m-%d %H:%M:%S UTC")
        inv.console.table(columns, table)
    return ExitStatus.OK
