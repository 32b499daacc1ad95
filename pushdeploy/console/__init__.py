"""All output, and the one package that imports rich: progress on stderr, results on stdout.

The console is injected (never a global): ``cli.main`` builds one from its streams and options and
passes it down. Verbosity: ``-q`` (0) shows errors and the final line only; the default (1) adds
progress and warnings; ``-v`` (2) adds the hook/build output as it happens.

Lifecycle of a command that runs on hosts: ``start(command, hosts)``, then from the hosts'
threads ``step`` and ``host_done``, then ``finish(report)`` (or ``error``, which also ends it).
Progress (``progress.Progress``) is a live view when stderr is an interactive terminal (and not
``--json``), else one line per step with its duration; ``finish`` shows the failing hosts' last
output, a summary table (after a live view) and the report's headline, or ``--json``'s object.
While the live view runs, everything printed goes above it: stderr through the same rich console,
and stdout too when it is a terminal (it is then the same screen).

Text read from a server (history fields, hook output, step names, failure messages) is untrusted:
every method but ``raw`` shows its terminal control characters as visible escapes (``visible``),
so a planted ``\x1b]...`` or a bidi override cannot rewrite the user's terminal or hide text.
``raw`` stays exact: it prints --dry-run scripts and ``exec`` output, which passes through as ssh's
would. Known secret values (``mask``, from ``secrets.mask_values`` once the config is loaded) show
as ``***`` in everything but ``raw``, like a CI log; what ``raw`` prints is redacted at its source.

``--log-format json`` (``log_format="json"``): stderr is one JSON object per event instead, every
event whatever the verbosity, also written to the run's log (events.py; docs/json.md). Results on
stdout stay as they are (the headline, or --json's object).

Colour follows the environment as rich reads it, and a closed stdout ends the run (screen.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.cells import cell_len
from rich.console import Console as RichConsole
from rich.markup import escape
from rich.text import Text

from pushdeploy.config.secrets import Masker
from pushdeploy.console.events import Event, Events
from pushdeploy.console.logbook import Clock, json_line, masked, utc_now
from pushdeploy.console.progress import Progress, glyph, mark, pad, seconds
from pushdeploy.console.screen import Stdout, is_tty, screen
from pushdeploy.console.terminal import visible
from pushdeploy.errors import OutputClosed
from pushdeploy.remote.report import DeployReport, HostReport

if TYPE_CHECKING:
    from pushdeploy.console.logbook import Logbook


def aligned(rows: list[list[str]]) -> list[list[str]]:
    """Each cell padded to its column's width (in terminal cells), the last column too."""
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [[pad(cell, widths[i]) for i, cell in enumerate(row)] for row in rows]


def serving(host: HostReport) -> str:
    """The release a host serves once the command is over: the new one, or what was live."""
    return (host.live or host.release if host.ok else host.previous) or "-"


class Console:
    """Progress and errors on ``stderr``, results on ``stdout``, as verbosity and --json say."""

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        *,
        verbosity: int = 1,
        color: bool | None = None,
        json_output: bool = False,
        log_format: str = "text",
        clock: Callable[[], float] = time.monotonic,
        now: Clock = utc_now,
    ) -> None:
        self.out = screen(stdout, color, Stdout)
        self.err = screen(stderr, color)
        self.verbosity = verbosity
        self.json_output = json_output
        self._clock = clock
        self._lock = threading.Lock()
        self._masker = Masker()
        self._progress: Progress | None = None
        self._shown_output: set[str] = set()  # failing output finish() printed: error() skips it
        # A command's progress ended: the late steps of hosts left behind are not shown.
        self._ended = False
        self.log: Logbook | None = None  # this run's local log (logbook.py), when it keeps one
        self.events = Events(clock, now) if log_format == "json" else None
        self.environment = ""  # the environment's name, for the start event (cli sets it)

    def record(self, host: str, kind: str, text: str) -> None:
        """A marker ``host``'s script said, to the run's local log (everything, whatever the
        verbosity); with --log-format json, its event (stderr and log)."""
        if self.events is not None:
            self._emit(self.events.marker(host, kind, text))
        elif self.log is not None:
            self.log.write(host, kind, text)

    def _note(self, kind: str, text: str) -> None:
        """A line of the run itself in a text log (in json the events say it)."""
        if self.events is None and self.log is not None:
            self.log.write("", kind, text)

    def mask(self, values: Iterable[str]) -> None:
        """From now on show each of these secret values as ``***`` wherever text is printed,
        ``raw`` excepted (secrets.mask_values says which; secrets.Masker how)."""
        self._masker = Masker(values)

    # a command across hosts
    def start(self, command: str, hosts: Sequence[str]) -> None:
        """``command`` begins on ``hosts``: a live view on an interactive stderr (not --json),
        one line per ended step otherwise, nothing under -q."""
        self._end_progress()
        if self.events is not None:
            return self._emit(self.events.start(command, self.environment, hosts))
        if self.verbosity < 1:
            return
        live = self.err.is_interactive and not self.json_output
        self._progress = Progress(
            command, hosts, clock=self._clock, shown=self._shown, live_on=self.err if live else None
        )
        self._progress.start()

    def step(self, host: str, name: str) -> None:
        """A step began on ``host``. Off a terminal the step that ended gets its line; without
        ``start``, or under -v (its output follows), a line says the step begins."""
        if self.events is not None:
            return self._emit(self.events.step(host, name))
        if self.verbosity < 1:
            return
        progress = self._progress
        if progress is None and self._ended:
            return
        for line in progress.step(host, name) if progress is not None else []:
            self._err(line)
        if progress is None or (self.verbosity >= 2 and progress.live is None):
            self._err(f"[dim]{self._text(host)}[/dim] [cyan]›[/cyan] {self._text(name)}")

    def host_done(self, report: HostReport) -> None:
        """A host's script ended, whatever its result (call it once per host, at its last)."""
        if self.events is not None:
            return self._emit(self.events.host_done(report))
        progress = self._progress
        if progress is not None:
            for line in progress.done(report):
                self._err(line)

    def finish(self, report: DeployReport) -> None:
        """The command ended: the failing hosts' last output, then after a live view a summary
        table, then the headline (or, with --json, the report) on stdout."""
        was_live = self._end_progress()
        path = self.log.path if self.log is not None else None
        data = report.to_json() | {"log": str(path) if path else None}
        if self.events is not None:
            self._emit(self.events.result(data))
        elif self.verbosity >= 1 and not report.ok:
            for host in report.failed_first():
                self._failing_output(host)
        if was_live:
            self._summary(report)
        self._note("result" if report.ok else "error", report.headline())
        if self.json_output:
            self.data(data)
        else:
            self.result(report.headline())

    def _failing_output(self, host: HostReport) -> None:
        if not host.output:
            return
        where = f" at {host.failed_step}" if host.failed_step else ""
        self._err(
            f"{glyph(host.result)} [bold]{self._text(host.host)}[/bold] "
            f"[dim]{self._text(host.result + where)}, its last output:[/dim]"
        )
        for line in host.output:
            self._err(f"[dim]  │ {self._text(line)}[/dim]")
        self._shown_output.update(host.output)

    def _summary(self, report: DeployReport) -> None:
        """Host, release, result and time of each host: aligned, never cut (stderr)."""
        header = ["host", "release", "result", "time"]
        rows = [
            [h.host, serving(h), f"{mark(h.result)} {h.result}", seconds(h.seconds)]
            for h in report.hosts
        ]
        cells = aligned([[self._shown(c) for c in row] for row in [header, *rows]])
        self._err(f"[bold]{escape('  '.join(cells[0]).rstrip())}[/bold]")
        for host, (name, release, result, took) in zip(report.hosts, cells[1:], strict=True):
            self._err(  # the glyph in its colour, the rest as aligned
                f"{escape(name)}  {escape(release)}  {glyph(host.result)}{escape(result[1:])}"
                f"  {escape(took.rstrip())}"
            )

    def _end_progress(self) -> bool:
        """Stop the progress of the command that ran (its live view erased); whether it was live."""
        progress, self._progress = self._progress, None
        if progress is None:
            return False
        self._ended = True
        return progress.stop()

    # progress (stderr)
    def info(self, message: str) -> None:
        if self.events is not None:
            self._emit(self.events.info(message))
        elif self.verbosity >= 1:
            self._err(self._text(message))

    def remote_output(self, host: str, line: str) -> None:
        if self.events is not None:
            self._emit(self.events.output(host, line))
        elif self.verbosity >= 2:
            self._err(f"[dim]{self._text(host)} │[/dim] {self._text(line)}")

    def warn(self, message: str, host: str = "") -> None:
        """A warning, about ``host`` if given (shown ``HOST: MESSAGE``)."""
        if self.events is not None:
            return self._emit(self.events.warning(message, host))
        message = f"{host}: {message}" if host else message
        self._note("warn", message)
        if self.verbosity >= 0:
            self._err(f"[yellow]pushdeploy: warning:[/yellow] {self._text(message)}")

    def error(
        self,
        message: str,
        hint: str = "",
        details: list[str] | None = None,
        log: str = "",
        exit_status: int | None = None,
    ) -> None:
        """The one-line error, its hint and the log's path; ``details`` (a failure's last output
        lines) above, unless ``finish`` showed them already. ``exit_status`` is for json's event."""
        self._end_progress()
        self._note("error", message)
        if not log and self.log is not None and self.log.path is not None:
            log = str(self.log.path)
        details = details or []
        if self.events is not None:
            return self._emit(self.events.error(message, hint, details, exit_status, log))
        if not set(details) <= self._shown_output:
            for line in details:
                self._err(f"[dim]  │ {self._text(line)}[/dim]")
        self._err(f"[bold red]pushdeploy: error:[/bold red] {self._text(message)}")
        if hint:
            self._err(f"[dim]hint:[/dim] {self._text(hint)}")
        if log:
            self._err(f"[dim]log: {self._text(log)}[/dim]")

    def debug(self, text: str) -> None:
        """Diagnostics (a traceback under --debug, exec's stderr): several lines are kept."""
        if self.events is not None:
            return self._emit(self.events.debug(text))
        self._err(self._text(text, newlines=True))

    # results (stdout)
    def result(self, text: str) -> None:
        with self._lock:
            self._stdout().print(self._text(text))

    def raw(self, text: str) -> None:
        """Print text exactly (scripts for --dry-run, command output)."""
        with self._lock:
            if self._stdout() is self.err:  # above the live view: through its rich console
                self.err.print(Text(text.removesuffix("\n")))
                return
            try:
                self.out.file.write(text if text.endswith("\n") else text + "\n")
                self.out.file.flush()
            except BrokenPipeError:  # not an OSError for a caller to call "cannot read"
                raise OutputClosed("stdout closed") from None

    def data(self, payload: Any) -> None:
        """``payload`` as indented JSON, every string in it masked (``raw`` would not mask)."""
        self.raw(json.dumps(masked(payload, self._masker), indent=2, sort_keys=True))

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        """Aligned columns, two blanks apart; no cell is ever cut or wrapped (a release ID must
        stay whole to be copied), in a terminal or not. The header is bold in a terminal."""
        cells = aligned([[visible(self._masker(cell)) for cell in row] for row in [columns, *rows]])
        lines = ["  ".join(row).rstrip() for row in cells]
        with self._lock:
            out = self._stdout()
            out.print(f"[bold]{escape(lines[0])}[/bold]" if out.is_terminal else escape(lines[0]))
            for line in lines[1:]:
                out.print(escape(line))

    def _stdout(self) -> RichConsole:
        """Where results go: stdout, or above the live view when stdout is that same screen."""
        progress = self._progress
        if progress is not None and progress.live is not None and is_tty(self.out.file):
            return self.err
        return self.out

    def _shown(self, text: str) -> str:
        """Untrusted text as plain text to show: secrets masked, controls made visible."""
        return visible(self._masker(text))

    def _text(self, text: str, *, newlines: bool = False) -> str:
        """Untrusted text as safe rich markup: controls made visible, markup escaped."""
        return escape(visible(self._masker(text), newlines=newlines))

    def _err(self, markup: str) -> None:
        with self._lock:
            self.err.print(markup)

    def _emit(self, events: list[Event]) -> None:
        """Each event as one JSON line (masked, ASCII) on stderr, and in the run's log."""
        with self._lock:
            for event in events:
                self.err.file.write(json_line(event, self._masker) + "\n")
                if self.log is not None:
                    self.log.write_event(event)
            self.err.file.flush()
