"""What ``status`` asks each host, and the typed read-back of what it says (``HostStatus``).

One read-only script per host (``script``: no lock taken, no user env) reports with markers;
``parse`` turns one host's markers (its values read as ``readback.Status``) into a
``HostStatus``. Pure: cli/status.py runs it, compares the hosts (cli/drift.py) and prints them.

Everything a server sends back is untrusted: IDs and SHAs are checked and texts cut short (by
readback.Status), the monitor's ``status --json`` (monitor/state.py documents it) read field by
field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from pushdeploy.config.environment import Environment
from pushdeploy.remote import history, protocol, readback, scripts, service
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import Outcome
from pushdeploy.remote.readback import cut
from pushdeploy.remote.source import Source

LIBRARY = files("pushdeploy.remote").joinpath("status.sh").read_text(encoding="utf-8")
MONITOR_TIMEOUT = 15  # seconds the monitor's CLI may take to answer
JSON_LIMIT = 200_000  # characters of the monitor's status read back
TJ_SOURCE = "source (TJ's deploy)"
MONITOR_STATES = {"starting", "running", "stopping", "stopped", "failed", "not running"}


def script(env: Environment, source: Source) -> str:
    """The status script of one host: markers only, nothing changed, no lock taken (status.sh)."""
    body = [
        *scripts.history_lines(),  # live, link, releases on disk, .deploys
        "status_sha",
        "report_setup",
        "status_lock",
        "status_disk",
    ]
    if env.monitor.app:  # the monitor's own CLI, bounded in time and size; its JSON made one line
        zipapp = qpath(Layout(env.path).monitor_zipapp)
        status = service.monitor_command(env, "status", ["--json"])
        body.append(f"status_monitor {MONITOR_TIMEOUT} {JSON_LIMIT} {zipapp} {status}")
    read_only = scripts.READ_ONLY
    return scripts.wrap(env, read_only, body, kind="status", source=source, libraries=[LIBRARY])


@dataclass(frozen=True)
class Monitor:
    """What a host's monitor said of itself: only known fields of its status, each checked."""

    state: str  # the status file's word (running, ...), or stopped, not installed, no answer, error
    pid: int | None = None
    generation: int | None = None
    release: str = ""  # the release its serving generation runs (a release ID, else "")
    workers: int = 0
    ready: int = 0
    respawns: int = 0
    reloading: bool = False
    last_reload: str = ""  # the last finished reload's verdict: ok, failed (or "")
    last_reload_reason: str = ""
    error: str = ""  # why its status could not be read

    def summary(self) -> str:
        if self.error or self.generation is None:
            return self.state + (f" ({self.error})" if self.error else "")
        text = f"{self.state}, gen {self.generation}, {self.ready}/{self.workers} workers"
        if self.reloading or self.last_reload == "failed":
            text += ", reloading" if self.reloading else ", last reload failed"
        return text


@dataclass(frozen=True)
class HostStatus:
    """What one host said of itself, validated; empty strings and None for what it did not say."""

    host: str
    set_up: bool
    live: str = ""  # the live release ID ("" when nothing, or not a release, is live)
    link: str = ""  # what current points at, verbatim (cut short)
    tj_live: bool = False  # current -> TJ's path/source (a server adopted from TJ's deploy)
    missing: bool = False  # the live release's directory is not there
    sha: str = ""  # the live release's REVISION
    entry: history.Entry | None = None  # the live deploy's line in .deploys
    lock: str = ""  # the lock holder, when a lock is held
    lock_age: int | None = None  # seconds since the holder last refreshed it
    free_kib: int | None = None
    free_inodes: int | None = None  # None too when the file system counts no inodes
    monitor: Monitor | None = None  # None when no app is set
    problems: tuple[str, ...] = ()  # .deploys lines ignored

    @property
    def release(self) -> str:
        return self.live or (TJ_SOURCE if self.tj_live else "")


def parse(host: str, outcome: Outcome) -> HostStatus:
    """One host's markers as a ``HostStatus`` (pure; bad values are dropped, never trusted)."""
    said, problems = readback.read(readback.Status, outcome), list[str]()
    entries = history.parse(outcome.lines.get("deploys", []), problems)
    live = said.live
    tj_live = not live and said.link.rstrip("/").split("/")[-1] == "source"
    total_inodes, free_inodes = said.inodes  # prelude.sh disk_stats
    monitor = None if said.monitor_status is None else monitor_of(said.monitor_status, said.monitor)
    return HostStatus(
        host=host,
        set_up=said.setup,
        live=live,
        link=said.link,
        tj_live=tj_live,
        missing=bool(live) and live not in outcome.lines.get("releases", []),
        sha=said.sha,
        entry=history.find(entries, live) if live else history.live_deploy(entries, "", tj_live),
        lock=said.lock,
        lock_age=said.lock_age,
        free_kib=said.disk[1],
        free_inodes=free_inodes if total_inodes else None,
        monitor=monitor,
        problems=tuple(problems),
    )


MONITOR_EXITS = {"none": "not installed", str(protocol.MONITOR_NOT_RUNNING): "stopped"}


def monitor_of(exit_status: str, said: str) -> Monitor:
    """The monitor's exit status and ``status --json`` (``said``) as a ``Monitor``: only known
    fields."""
    if exit_status in MONITOR_EXITS:
        return Monitor(MONITOR_EXITS[exit_status])
    if exit_status != "0":
        why = (
            f"no answer within {MONITOR_TIMEOUT}s"
            if exit_status == "124"
            else f"status {cut(exit_status, 9)}"
        )
        return Monitor("error", error=f"'monitor status' failed: {why}")
    try:
        data = json.loads(said[:JSON_LIMIT])
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        data = None
    if not isinstance(data, dict):
        return Monitor("running", error="its status is not a JSON object")
    listed = data.get("workers")
    workers = [w for w in listed[:1000] if isinstance(w, dict)] if isinstance(listed, list) else []
    current, last = mapping(data.get("reload")), mapping(data.get("last_reload"))
    return Monitor(
        state=data["state"] if data.get("state") in MONITOR_STATES else "running",
        pid=number(data.get("pid")),
        generation=number(data.get("generation")),
        release=history.live_release(str(data.get("release") or "").rstrip("/").split("/")[-1]),
        workers=len(workers),
        ready=sum(w.get("ready") is True for w in workers),
        respawns=number(data.get("respawns")) or 0,
        reloading=current.get("result") == "pending",
        last_reload=last["result"] if last.get("result") in {"ok", "failed"} else "",
        last_reload_reason=cut(last["reason"]) if isinstance(last.get("reason"), str) else "",
    )


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def number(value: Any) -> int | None:
    """A non-negative integer from JSON (not a bool, not a float, not huge)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
    return value if ok else None
