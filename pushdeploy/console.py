"""All output, and the one module that imports rich: progress on stderr, results on stdout.

The console is injected (never a global): ``cli.main`` builds one from its streams and options and
passes it down. Verbosity: ``-q`` shows errors and results only; the default adds one line per step
and warnings; ``-v`` adds the hook/build output as it happens. Remote output is kept per host, so
a failure can show its last lines even when it was not printed live.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.table import Table


class Console:
    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        *,
        verbosity: int = 1,
        color: bool | None = None,
        json_output: bool = False,
    ) -> None:
        no_color = color is False
        self.out = RichConsole(file=stdout, no_color=no_color, highlight=False, soft_wrap=True)
        self.err = RichConsole(file=stderr, no_color=no_color, highlight=False, soft_wrap=True)
        self.verbosity = verbosity
        self.json_output = json_output
        self._lock = threading.Lock()

    # progress (stderr)
    def step(self, host: str, name: str) -> None:
        if self.verbosity >= 1:
            self._err(f"[dim]{escape(host)}[/dim] [cyan]›[/cyan] {escape(name)}")

    def info(self, message: str) -> None:
        if self.verbosity >= 1:
            self._err(escape(message))

    def remote_output(self, host: str, line: str) -> None:
        if self.verbosity >= 2:
            self._err(f"[dim]{escape(host)} │[/dim] {escape(line)}")

    def warn(self, message: str) -> None:
        if self.verbosity >= 0:
            self._err(f"[yellow]pushdeploy: warning:[/yellow] {escape(message)}")

    def error(self, message: str, hint: str = "", details: list[str] | None = None) -> None:
        for line in details or []:
            self._err(f"[dim]  │ {escape(line)}[/dim]")
        self._err(f"[bold red]pushdeploy: error:[/bold red] {escape(message)}")
        if hint:
            self._err(f"[dim]hint:[/dim] {escape(hint)}")

    def debug(self, text: str) -> None:
        self._err(escape(text))

    # results (stdout)
    def result(self, text: str) -> None:
        with self._lock:
            self.out.print(escape(text))

    def raw(self, text: str) -> None:
        """Print text exactly (scripts for --dry-run, command output)."""
        with self._lock:
            self.out.file.write(text if text.endswith("\n") else text + "\n")
            self.out.file.flush()

    def data(self, payload: Any) -> None:
        self.raw(json.dumps(payload, indent=2, sort_keys=True))

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        table = Table(*columns, box=None, pad_edge=False, show_header=True, header_style="bold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        with self._lock:
            self.out.print(table)

    def _err(self, markup: str) -> None:
        with self._lock:
            self.err.print(markup)
