"""The progress of one command across its hosts: a live view on a terminal, step lines otherwise.

``Progress`` keeps one row per host (its current step, when that began, how the host ended) and
shows it one of two ways, chosen by the console when the command starts:

* live: a ``rich.live.Live`` on the terminal's stderr console, drawn from the rows (host, a
  spinner then the result's glyph, current step or result, the host's elapsed seconds) at each
  step and result and ~8 times a second between them. It is transient: ``stop`` erases it, and
  the console prints the summary table in its place.
* plain: nothing is drawn; ``step`` and ``done`` return the lines to print, one per step when it
  ENDS (``web1  fetch   0.42 s``: the next step began, or the host is done) and one for the result.

Thread-safety: host threads call ``step``/``done`` while Live's own thread calls ``view``. The
rows' lock is a leaf: nothing is printed while holding it (Live's refresh holds Live's lock and
rich's while calling ``view``, and printing takes those), so no two locks are taken in two orders.

A host's clock starts at its first step (a host of a later batch is "waiting" until then) and
stops when it is done. Every text shown passes through ``shown`` (secrets masked, controls made
visible) and, as markup, ``escape``.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text

from pushdeploy.remote.report import HostReport

if TYPE_CHECKING:  # the live view's parts load only on a terminal (a deploy in CI never needs them)
    from rich.console import Console as RichConsole
    from rich.console import RenderableType
    from rich.live import Live

STEP_WIDTH = 12  # the longest step name (post-deploy, directories) and a blank
REFRESH_PER_SECOND = 8
# A host's result: its glyph and the style it is shown in.
GLYPHS = {
    "ok": ("✓", "green"),
    "unchanged": ("=", "green"),
    "failed": ("✗", "red"),
    "switched-back": ("↩", "yellow"),
    "rolled-back": ("↩", "yellow"),
    "kept": ("!", "red"),
    "stopped": ("–", "dim"),
    "running": ("…", "dim"),
}


def pad(text: str, width: int) -> str:
    """``text`` followed by blanks up to ``width`` terminal cells (wide characters count two)."""
    return text + " " * max(0, width - cell_len(text))


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def ending(report: HostReport) -> str:
    """How a host ended, in words: ``ok RELEASE``, ``failed at build: why``, ``stopped``."""
    words = report.result
    if report.result == "stopped":  # another host failed, or an interrupt: the reason is enough
        return f"stopped: {report.failure.removeprefix('stopped ')}" if report.failure else words
    if report.result in {"ok", "unchanged", "rolled-back", "kept"} and (
        report.live or report.release
    ):
        words += f" {report.live or report.release}"
    if report.failed_step:
        words += f" at {report.failed_step}"
    if report.result == "kept":  # live still: the failure is why it could not be put back
        words += ", not switched back"
    if report.failure:
        words += f": {report.failure}"
    return words


def mark(result: str) -> str:
    """The result's glyph."""
    return GLYPHS.get(result, ("?", "dim"))[0]


def glyph(result: str) -> str:
    """The result's glyph as markup, in its colour."""
    sign, style = GLYPHS.get(result, ("?", "dim"))
    return f"[{style}]{sign}[/{style}]"


@dataclass
class Row:
    """One host's line: what it does now, since when, and how it ended (``report``)."""

    host: str
    step: str = ""
    first: float | None = None  # when its first step began: its clock's start
    step_began: float = 0.0
    ended: float | None = None
    report: HostReport | None = None


class Progress:
    """Rows of hosts, drawn live on ``live_on`` (a terminal's rich console) or as plain lines."""

    def __init__(
        self,
        command: str,
        hosts: Sequence[str],
        *,
        clock: Callable[[], float],
        shown: Callable[[str], str],
        live_on: RichConsole | None = None,
    ) -> None:
        self.command, self.clock, self.shown = command, clock, shown
        self.rows = {host: Row(host) for host in hosts}
        self.width = max((cell_len(shown(host)) for host in hosts), default=0)
        self._lock = threading.Lock()
        self._spinner: Any = None
        self.live: Live | None = None
        if live_on is not None:
            from rich.live import Live
            from rich.spinner import Spinner

            self._spinner = Spinner("dots", style="cyan")
            self.live = Live(
                console=live_on,
                get_renderable=self.view,
                refresh_per_second=REFRESH_PER_SECOND,
                transient=True,
                redirect_stdout=False,  # stdout keeps the results; the console routes them
            )

    def start(self) -> None:
        if self.live is not None:
            atexit.register(self.stop)  # whatever path ends the run, the terminal is given back
            self.live.start(refresh=True)

    def stop(self) -> bool:
        """Erase the live view (idempotent); whether there was one."""
        live, self.live = self.live, None
        if live is None:
            return False
        atexit.unregister(self.stop)
        live.stop()
        return True

    def step(self, host: str, name: str) -> list[str]:
        """``name`` began on ``host``: the line of the step that ended, in plain mode."""
        now = self.clock()
        with self._lock:
            row = self._row(host)
            line = self._ended_step(row, now)
            row.step, row.step_began, row.ended, row.report = name, now, None, None
            if row.first is None:
                row.first = now
        if self._redrawn():
            return []
        return [line] if line else []

    def done(self, report: HostReport) -> list[str]:
        """``report.host``'s script ended: its last step's line and its result, in plain mode."""
        now = self.clock()
        with self._lock:
            row = self._row(report.host)
            lines = [self._ended_step(row, now)]
            row.step, row.ended, row.report = "", now, report
            took = self._elapsed(row, now) or report.seconds
        if self._redrawn():
            return []
        host = escape(pad(self.shown(report.host), self.width))
        lines.append(
            f"[dim]{host}[/dim]  {glyph(report.result)} {escape(self.shown(ending(report)))}"
            f"  {seconds(took)}"
        )
        return [line for line in lines if line]

    def view(self) -> RenderableType:
        """The live view: a heading, then one row per host (called by Live's thread)."""
        from rich.console import Group
        from rich.table import Table

        now = self.clock()
        with self._lock:
            rows = [
                (r.host, r.step, r.report, self._elapsed(r, now), r.first)
                for r in self.rows.values()
            ]
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, min_width=self.width)  # host, never cut
        table.add_column(no_wrap=True, width=1)  # spinner or glyph
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)  # step or result
        table.add_column(no_wrap=True, justify="right", min_width=8)  # elapsed
        for host, step, report, took, first in rows:
            name = Text(self.shown(host), style="bold")
            took_text = Text(f"{took:.1f} s", style="dim") if first is not None else Text("")
            if report is not None:
                sign, style = GLYPHS.get(report.result, ("?", "dim"))
                what = Text(self.shown(ending(report)), style=style)
                table.add_row(name, Text(sign, style=style), what, took_text)
            elif first is None:
                table.add_row(name, Text("·", style="dim"), Text("waiting", style="dim"), took_text)
            else:
                table.add_row(name, self._spinner, Text(self.shown(step)), took_text)
        count = len(rows)
        heading = f"{self.shown(self.command)} on {count} host{'' if count == 1 else 's'}"
        return Group(Text(heading, style="bold"), table)

    def _redrawn(self) -> bool:
        """Draw the live view now (not at its next tick), if there is one; whether there is."""
        live = self.live
        if live is not None:
            live.refresh()
        return live is not None

    def _row(self, host: str) -> Row:
        """The host's row (a host that start() did not name gets one on its first word)."""
        if host not in self.rows:
            self.rows[host] = Row(host)
            self.width = max(self.width, cell_len(self.shown(host)))
        return self.rows[host]

    def _ended_step(self, row: Row, now: float) -> str:
        if not row.step or row.report is not None:
            return ""
        host = escape(pad(self.shown(row.host), self.width))
        step = escape(pad(self.shown(row.step), STEP_WIDTH))
        return f"[dim]{host}[/dim]  {step}{now - row.step_began:6.2f} s"

    @staticmethod
    def _elapsed(row: Row, now: float) -> float:
        if row.first is None:
            return 0.0
        return max(0.0, (row.ended if row.ended is not None else now) - row.first)
