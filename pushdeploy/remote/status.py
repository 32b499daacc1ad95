"""What ``status`` asks each host, and the typed read-back of what it says (``HostStatus``).

One read-only script per host (``script``: no lock taken, no user env) reports with markers;
``parse`` turns one host's markers into a ``HostStatus``. Pure: cli/status.py runs it, compares
the hosts (cli/drift.py) and prints them.

Everything a server sends back is untrusted: IDs and SHAs are checked, texts cut short, the
monitor's ``status --json`` (monitor/state.py documents it) read field by field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pushdeploy.config.environment import Environment
from pushdeploy.remote import history, protocol, scripts, service
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import Outcome
from pushdeploy.remote.source import Source

MONITOR_TIMEOUT = 15  # seconds the monitor's CLI may take to answer
JSON_LIMIT = 200_000  # characters of the monitor's status read back
TEXT_LIMIT = 300  # characters kept of any other text a server sends
TJ_SOURCE = "source (TJ's deploy)"
MONITOR_STATES = {"starting", "running", "stopping", "stopped", "failed", "not running"}


def script(env: Environment, source: Source) -> str:
    """The status script of one host: markers only, nothing changed, no lock taken."""
    body = [
        *scripts.history_lines(),  # live, link, releases on disk, .deploys
        'LIVE=$(live_release) && SHA=$(head -c 100 -- "$RELEASES/$LIVE/REVISION" 2>/dev/null) &&'
        ' valid_sha "$SHA" && value sha "$SHA"',
        'if [ -d "$SET_UP" ]; then value setup yes; fi',
        'if [ -e "$L" ] || [ -L "$L" ]; then',
        '  value lock "$(lock_owner)"; now=$(date +%s) m=$(stat -c %Y -- "$L/$LOCK_OWNER" 2>/dev/null)',
        '  if [[ $now =~ ^[0-9]+$ && $m =~ ^[0-9]+$ ]]; then value lock_age "$((now - m))"; fi',
        "fi",
        'value disk "$(disk_stats k)"; value inodes "$(disk_stats i)"',
    ]
    if env.app:  # the monitor's own CLI, bounded in time and size; its JSON made one line
        status = service.monitor_command(env, "status", ["--json"])
        body += [
            f"if command -v timeout >/dev/null; then T=(timeout {MONITOR_TIMEOUT}); else T=(); fi",
            f"if [ -f {qpath(Layout(env.path).monitor_zipapp)} ]; then",
            f'  out=$(${{T[@]+"${{T[@]}}"}} {status} 2>/dev/null </dev/null 3<&- |'
            f' head -c {JSON_LIMIT}; exit "${{PIPESTATUS[0]}}"); value monitor_status $?',
            "  value monitor \"$(printf '%s' \"$out\" | tr -d '\\r\\n')\"",
            "else value monitor_status none; fi",
        ]
    return scripts.wrap(env, scripts.READ_ONLY, body, kind="status", source=source)


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


def whole(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None


def cut(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def parse(host: str, outcome: Outcome) -> HostStatus:
    """One host's markers as a ``HostStatus`` (pure; bad values are dropped, never trusted)."""
    values, problems = outcome.values, list[str]()
    entries = history.parse(outcome.lines.get("deploys", []), problems)
    live = history.live_release(values.get("live", ""))
    link = cut(values.get("link", ""), 1000)
    tj_live = not live and link.rstrip("/").split("/")[-1] == "source"
    tj_entry = next((e for e in reversed(entries) if e.tj), None) if tj_live else None
    total, _, free_inodes = values.get("inodes", "").partition(" ")  # prelude.sh disk_stats
    return HostStatus(
        host=host,
        set_up=values.get("setup") == "yes",
        live=live,
        link=link,
        tj_live=tj_live,
        missing=bool(live) and live not in outcome.lines.get("releases", []),
        sha=values["sha"] if history.SHA.fullmatch(values.get("sha", "")) else "",
        entry=history.find(entries, live) if live else tj_entry,
        lock=cut(values["lock"]) if "lock" in values else "",
        lock_age=whole(values.get("lock_age", "")),
        free_kib=whole(values.get("disk", "").partition(" ")[2]),
        free_inodes=whole(free_inodes) if whole(total) else None,
        monitor=monitor_of(values) if "monitor_status" in values else None,
        problems=tuple(problems),
    )


MONITOR_EXITS = {"none": "not installed", str(protocol.MONITOR_NOT_RUNNING): "stopped"}


def monitor_of(values: dict[str, str]) -> Monitor:
    """The monitor's exit status and ``status --json`` as a ``Monitor``: only known fields."""
    said = values.get("monitor_status", "")
    if said in MONITOR_EXITS:
        return Monitor(MONITOR_EXITS[said])
    if said != "0":
        why = f"no answer within {MONITOR_TIMEOUT}s" if said == "124" else f"status {cut(said, 9)}"
        return Monitor("error", error=f"'monitor status' failed: {why}")
    try:
        data = json.loads(values.get("monitor", "")[:JSON_LIMIT])
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
