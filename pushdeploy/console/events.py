"""The events of ``--log-format json``: what each console call means, as JSON objects.

With ``--log-format json`` the console prints, instead of the human progress, one JSON object
per line per event on stderr, and writes the same lines to the run's local log (logbook.py);
docs/json.md is their schema. ``Events`` only builds them (and keeps the state that needs: each
host's current step and when it began, for ``step_done``); the console masks, encodes
(``logbook.json_line``) and writes them. Every event has ``event`` first and ``time`` last
(UTC, ISO 8601, milliseconds); a field that says nothing is null, except ``host``, which a
warning without a host leaves out.

Where host events come from: the session records every marker a host's script says
(``Console.record``), then shows some of them (``step``, ``remote_output``, ``warn`` as
``HOST: TEXT``, ``info`` as ``HOST migrate │ LINE``). The recorded marker is the event, so a
rollback's steps and a migration's output are events too, and the showing that follows on the
same thread is an ``echo``, dropped. A call that echoes nothing (another caller) is an event.

Lifecycle: ``start`` forgets the open steps; a host's ``step`` ends its previous one
(``step_done``), ``host_done`` ends its last; ``result`` and ``error`` end whatever is still open
(a host an interrupt left), so every ``step`` of a host has its ``step_done``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pushdeploy.console.logbook import Clock, timestamp, utc_now
from pushdeploy.remote.report import HostReport

Event = dict[str, Any]
SHOWN = {"step", "output", "warn"}  # the markers the session shows after recording them


class Events:
    """The console's calls as events; thread-safe (host threads call it at once)."""

    def __init__(self, clock: Callable[[], float], now: Clock = utc_now) -> None:
        self.clock, self.now = clock, now
        self.steps: dict[str, tuple[str, float]] = {}  # host: its open step, when it began
        self._lock = threading.Lock()
        self._said = threading.local()  # .last: (host, text) of the marker this thread recorded

    def event(self, kind: str, /, **fields: Any) -> Event:
        return {"event": kind, **fields, "time": timestamp(self.now())}

    def start(self, command: str, environment: str, hosts: Sequence[str]) -> list[Event]:
        with self._lock:
            self.steps.clear()
        fields = {"command": command, "environment": environment or None, "hosts": list(hosts)}
        return [self.event("start", **fields)]

    def marker(self, host: str, kind: str, text: str) -> list[Event]:
        """A marker ``host``'s script said: its event, if it makes one; remembered as ``echo``'s."""
        self._said.last = (host, text) if kind in SHOWN else None
        if kind == "step":
            return self._step(host, text)
        if kind == "output":
            return [self.event("output", host=host, line=text)]
        if kind == "warn":
            return [self.event("warning", host=host, message=text)]
        return []

    def echo(self, host: str, text: str) -> bool:
        """Whether a call showing ``text`` (about ``host``, or naming it first) shows the marker
        this thread just recorded; it is then forgotten, so only one showing is dropped."""
        last: tuple[str, str] | None = getattr(self._said, "last", None)
        if last is None:
            return False
        said_host, said = last
        about = host == said_host if host else text.startswith(said_host)
        if about and text.endswith(said):
            self._said.last = None
            return True
        return False

    def step(self, host: str, name: str) -> list[Event]:
        return [] if self.echo(host, name) else self._step(host, name)

    def output(self, host: str, line: str) -> list[Event]:
        return [] if self.echo(host, line) else [self.event("output", host=host, line=line)]

    def warning(self, message: str, host: str = "") -> list[Event]:
        if self.echo(host, message):
            return []
        return [self.event("warning", **({"host": host} if host else {}), message=message)]

    def info(self, message: str) -> list[Event]:
        return [] if self.echo("", message) else [self.event("info", message=message)]

    def debug(self, text: str) -> list[Event]:
        return [self.event("debug", message=text)]

    def host_done(self, report: HostReport) -> list[Event]:
        """A host's script ended: its open step's ``step_done``, then how it ended."""
        self._said.last = None
        with self._lock:
            ended = self._ended([report.host])
        fields = {
            "host": report.host,
            "result": report.result,
            "status": report.status,
            "release": report.release or report.live or None,
            "previous": report.previous or None,
            "seconds": report.seconds,
            "failed_step": report.failed_step or None,
            "failure": report.failure or None,
        }
        return [*ended, self.event("host_done", **fields)]

    def result(self, report: dict[str, Any]) -> list[Event]:
        """The command's report (``DeployReport.to_json``, its ``log`` set)."""
        with self._lock:
            ended = self._ended(list(self.steps))
        return [*ended, self.event("result", **report)]

    def error(
        self, message: str, hint: str, details: Iterable[str], exit_status: int | None, log: str
    ) -> list[Event]:
        with self._lock:
            ended = self._ended(list(self.steps))
        fields: dict[str, Any] = {"message": message, "hint": hint or None}
        fields |= {"exit_status": exit_status}
        fields |= {"log": log or None, "details": list(details)}
        return [*ended, self.event("error", **fields)]

    def _step(self, host: str, name: str) -> list[Event]:
        now = self.clock()
        with self._lock:
            ended = self._ended([host], now)
            self.steps[host] = (name, now)
        return [*ended, self.event("step", host=host, step=name)]

    def _ended(self, hosts: list[str], now: float | None = None) -> list[Event]:
        """The ``step_done`` of each host's open step, now closed (the lock held)."""
        now, events = self.clock() if now is None else now, []
        for host in hosts:
            opened = self.steps.pop(host, None)
            if opened is not None:
                name, began = opened
                took = round(max(0.0, now - began), 3)
                events.append(self.event("step_done", host=host, step=name, seconds=took))
        return events
