"""The monitor's state directory: status file, pid and lock files, reload requests; and its text.

Files under ``state_dir`` (``path/.pushdeploy/monitor/`` by default)::

    monitor.json      status, replaced atomically (write tmp + rename) on every change
    monitor.pid       the running monitor's pid
    monitor.lock      held with flock by the running monitor: "is it running" without pid reuse
    reload-requests/  one empty file per `reload` command; the monitor records the names in the
                      reload that picks them up, so a command reads the verdict of *its* reload

Status JSON (``monitor status --json`` prints it as is)::

    {"pid": 123, "state": "starting|running|stopping|stopped|failed", "started": 1700000000.0,
     "updated": ..., "generation": 3, "release": "/srv/app/releases/20240101",
     "workers":  [{"slot": 0, "pid": 456, "generation": 3, "started": ..., "ready": true}],
     "retiring": [{"slot": 0, "pid": 400, "generation": 2, "started": ..., "ready": true}],
     "respawns": 0,
     "reload":  {"seq": 4, "trigger": "sighup|restart-file|heartbeat|start", "requests": ["..."],
                 "release": "...", "result": "pending|ok|failed", "reason": "",
                 "started": ..., "finished": ...},
     "last_reload": {same shape: the last finished reload},
     "reloads": [the last 10 reload records, oldest first]}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from typing import Any

STATUS = "monitor.json"
PID = "monitor.pid"
LOCK = "monitor.lock"
REQUESTS = "reload-requests"


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` so a reader sees the old or the new document, never half of one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_status(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(state_dir, STATUS), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Lock:
    """The running monitor's claim on a state dir: an flock plus a pid file."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self._fd: int | None = None

    def acquire(self) -> bool:
        os.makedirs(self.state_dir, exist_ok=True)
        fd = os.open(os.path.join(self.state_dir, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        with open(os.path.join(self.state_dir, PID), "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.state_dir, PID))
        os.close(self._fd)
        self._fd = None


def running_pid(state_dir: str) -> int | None:
    """The pid of the monitor holding the lock on ``state_dir``, or ``None`` if none runs."""
    try:
        fd = os.open(os.path.join(state_dir, LOCK), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a monitor runs
        else:
            return None
    finally:
        os.close(fd)
    try:
        with open(os.path.join(state_dir, PID), encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def add_reload_request(state_dir: str) -> str:
    """Leave a request token for the next reload; returns its name."""
    directory = os.path.join(state_dir, REQUESTS)
    os.makedirs(directory, exist_ok=True)
    name = uuid.uuid4().hex
    with open(os.path.join(directory, name), "w", encoding="utf-8"):
        pass
    return name


def take_reload_requests(state_dir: str) -> list[str]:
    """Claim every pending request token (the monitor calls this when a reload starts)."""
    directory = os.path.join(state_dir, REQUESTS)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    taken = []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            taken.append(name)
    return taken


def find_reload(status: dict[str, Any], request: str) -> dict[str, Any] | None:
    """The reload record that picked up ``request``, current or past."""
    records = list(status.get("reloads") or [])
    if status.get("reload"):
        records.append(status["reload"])
    for record in reversed(records):
        if request in (record.get("requests") or []):
            return dict(record)
    return None


def duration(seconds: float) -> str:
    """``3s``, ``4m05s``, ``2h03m``, ``3d04h``: uptimes for humans."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render(status: dict[str, Any], now: float) -> str:
    """The text of ``monitor status``."""
    lines = [
        f"monitor     {status.get('state', '?')} (pid {status.get('pid', '?')}, "
        f"up {duration(now - float(status.get('started') or now))})",
        f"generation  {status.get('generation', '?')}",
        f"release     {status.get('release') or '-'}",
        "workers",
    ]
    for w in status.get("workers") or []:
        ready = "" if w.get("ready") else "  (starting)"
        lines.append(
            f"  {w.get('slot')}  pid {w.get('pid')}  up {duration(now - w.get('started', now))}"
            f"{ready}"
        )
    for w in status.get("retiring") or []:
        lines.append(f"  -  pid {w.get('pid')}  draining (generation {w.get('generation')})")
    last = status.get("last_reload")
    if last:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.get("finished") or 0))
        result = last.get("result", "?")
        reason = f": {last['reason']}" if last.get("reason") else ""
        lines.append(f"last reload {result} at {when} ({last.get('trigger', '?')}){reason}")
    else:
        lines.append("last reload -")
    if status.get("reload", {}).get("result") == "pending":
        lines.append(f"reloading   since {duration(now - status['reload']['started'])}")
    return "\n".join(lines)
