"""The commands that drive a monitor from outside: start (daemonize), stop, reload, status, logs.

Each function takes the parsed ``Settings`` and an output stream, prints its result, and returns
the exit status (``cli`` maps nothing else): 0 done, 1 failed (message says why), 3 no monitor
running. A running monitor is found through its flock on ``state_dir`` (see ``state``), so a
stale pid file never fools ``status`` or ``reload``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import Any, TextIO

from pushdeploy.monitor import NOT_RUNNING, state
from pushdeploy.monitor.settings import Settings
from pushdeploy.monitor.supervisor import APP_LOG, AlreadyRunning, Supervisor, log

OK, FAILED = 0, 1
MONITOR_LOG = "monitor.log"
POLL = 0.05


def run(settings: Settings, err: TextIO) -> int:
    """Run in the foreground until SIGTERM/SIGINT (what the systemd service runs)."""
    try:
        return Supervisor(settings).run()
    except AlreadyRunning as e:
        print(f"pushdeploy-monitor: error: {e}", file=err)
        return FAILED


def start(settings: Settings, out: TextIO, err: TextIO, timeout: float | None = None) -> int:
    """Daemonize (double fork, setsid) and return once generation 1 is ready, or say why not."""
    pid = state.running_pid(settings.state_dir)
    if pid is not None:
        print(f"monitor already running (pid {pid})", file=out)
        return OK
    os.makedirs(settings.logs_dir, exist_ok=True)
    os.makedirs(settings.state_dir, exist_ok=True)
    read_end, write_end = os.pipe()
    out.flush()
    err.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the daemon
        os.close(read_end)
        _daemon(settings, write_end)
    os.close(write_end)
    os.waitpid(child, 0)
    deadline = time.monotonic() + (timeout or settings.ready.timeout + 15)
    message = _read_verdict(read_end, deadline)
    os.close(read_end)
    log_path = os.path.join(settings.logs_dir, "{" + f"{MONITOR_LOG},{APP_LOG}" + "}")
    if message.startswith("ok"):
        status = state.read_status(settings.state_dir) or {}
        print(f"monitor started (pid {status.get('pid', '?')}, generation "
              f"{status.get('generation', '?')}, {status.get('release')})", file=out)  # fmt: skip
        return OK
    reason = message.removeprefix("failed ").strip() or "the monitor exited before it was ready"
    print(f"pushdeploy-monitor: error: start failed: {reason} (see {log_path})", file=err)
    return FAILED


def _daemon(settings: Settings, pipe: int) -> None:  # pragma: no cover - runs in the daemon
    code = 1
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        path = os.path.join(settings.logs_dir, MONITOR_LOG)
        logfd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.close(logfd)

        def on_ready(ok: bool, message: str) -> None:
            os.write(pipe, (("ok " if ok else "failed ") + message.replace("\n", " ")).encode())
            os.close(pipe)

        try:
            code = Supervisor(settings).run(on_ready)
        except AlreadyRunning as e:
            os.write(pipe, f"failed {e}".encode())
        except BaseException as e:
            log(f"crashed: {type(e).__name__}: {e}")
            raise
    finally:
        os._exit(code)


def _read_verdict(fd: int, deadline: float) -> str:
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def stop(settings: Settings, out: TextIO, err: TextIO, timeout: float | None = None) -> int:
    """SIGTERM the monitor and wait until it has drained its workers and released its lock."""
    pid = state.running_pid(settings.state_dir)
    if pid is None:
        print("monitor not running", file=out)
        return OK
    os.kill(pid, signal.SIGTERM)
    limit = timeout if timeout is not None else settings.grace + 10
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if state.running_pid(settings.state_dir) is None:
            print(f"monitor stopped (pid {pid})", file=out)
            return OK
        time.sleep(POLL)
    print(f"pushdeploy-monitor: error: monitor {pid} still running after {limit:g}s", file=err)
    return FAILED


def reload(settings: Settings, out: TextIO, err: TextIO, wait: float | None = None) -> int:
    """Ask for a reload (SIGHUP) and wait for the verdict of the reload that took our request."""
    pid = state.running_pid(settings.state_dir)
    if pid is None:
        print("pushdeploy-monitor: error: monitor not running", file=err)
        return NOT_RUNNING
    request = state.add_reload_request(settings.state_dir)
    os.kill(pid, signal.SIGHUP)
    limit = wait if wait is not None else settings.ready.timeout + 10
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = state.read_status(settings.state_dir) or {}
        record = state.find_reload(status, request)
        if record and record.get("result") == "ok":
            print(f"reloaded: generation {status.get('generation')}, {record.get('release')}",
                  file=out)  # fmt: skip
            return OK
        if record and record.get("result") == "failed":
            print(f"pushdeploy-monitor: error: reload failed: {record.get('reason')}; "
                  f"the previous generation is still serving", file=err)  # fmt: skip
            return FAILED
        if state.running_pid(settings.state_dir) is None:
            print("pushdeploy-monitor: error: monitor exited during the reload", file=err)
            return NOT_RUNNING
        time.sleep(POLL)
    print(f"pushdeploy-monitor: error: no reload verdict within {limit:g}s", file=err)
    return FAILED


def status(settings: Settings, out: TextIO, *, as_json: bool = False) -> int:
    """Print the status file (``--json``) or its text rendering; exit 3 when nothing runs."""
    pid = state.running_pid(settings.state_dir)
    data: dict[str, Any] = state.read_status(settings.state_dir) or {}
    if pid is None:
        data = {**data, "state": "not running"}
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
    elif pid is None:
        print("monitor not running", file=out)
    else:
        print(state.render(data, time.time()), file=out)
    return OK if pid is not None else NOT_RUNNING


def logs(settings: Settings, out: TextIO, lines: int = 50) -> int:
    """Print the last ``lines`` lines of the monitor's own log and of the workers' log."""
    for name in (MONITOR_LOG, APP_LOG):
        path = os.path.join(settings.logs_dir, name)
        print(f"==> {path} <==", file=out)
        for line in tail(path, lines):
            print(line, file=out)
    return OK


def tail(path: str, lines: int, block: int = 65536) -> list[str]:
    """The last ``lines`` lines of a file, reading from the end; [] if it does not exist."""
    if lines <= 0:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            data = b""
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - block)
                f.seek(start)
                data = f.read(end - start) + data
                end = start
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-lines:]
