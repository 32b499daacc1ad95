"""All output, and the one module that imports rich: progress on stderr, results on stdout.

The console is injected (never a global): ``cli.main`` builds one from its streams and options and
passes it down. Verbosity: ``-q`` shows errors and results only; the default adds one line per step
and warnings; ``-v`` adds the hook/build output as it happens. Remote output is kept per host, so
a failure can show its last lines even when it was not printed live.

Text read from a server (history fields, hook output, step names, failure messages) is untrusted:
every method but ``raw`` shows its terminal control characters as visible escapes (``visible``),
so a planted ``\x1b]...`` or a bidi override cannot rewrite the user's terminal or hide text.
``raw`` stays exact: it prints --dry-run scripts and ``exec`` output, which passes through as ssh's
would.

Known secret values (``mask``, from ``secrets.mask_values`` once the config is loaded) show as
``***`` in everything but ``raw``, like a CI log; what ``raw`` prints is redacted at its source.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from rich.cells import cell_len
from rich.console import Console as RichConsole
from rich.markup import escape

from pushdeploy.secrets import Masker

# C0 controls but tab (newline too unless kept), DEL, C1 controls, and the bidi embeddings,
# overrides, isolates and marks (Trojan Source, CVE-2021-42574).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\n{_CONTROLS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[{_CONTROLS}]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with terminal controls shown as escapes (``\\x1b``, ``\\u202e``); tab stays."""
    return (_UNSAFE_BUT_NEWLINE if newlines else _UNSAFE).sub(_escape_char, text)


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
        self._masker = Masker()

    def mask(self, values: Iterable[str]) -> None:
        """From now on show each of these secret values as ``***`` wherever text is printed,
        ``raw`` excepted (secrets.mask_values says which; secrets.Masker how)."""
        self._masker = Masker(values)

    # progress (stderr)
    def step(self, host: str, name: str) -> None:
        if self.verbosity >= 1:
            self._err(f"[dim]{self._text(host)}[/dim] [cyan]›[/cyan] {self._text(name)}")

    def info(self, message: str) -> None:
        if self.verbosity >= 1:
            self._err(self._text(message))

    def remote_output(self, host: str, line: str) -> None:
        if self.verbosity >= 2:
            self._err(f"[dim]{self._text(host)} │[/dim] {self._text(line)}")

    def warn(self, message: str) -> None:
        if self.verbosity >= 0:
            self._err(f"[yellow]pushdeploy: warning:[/yellow] {self._text(message)}")

    def error(self, message: str, hint: str = "", details: list[str] | None = None) -> None:
        for line in details or []:
            self._err(f"[dim]  │ {self._text(line)}[/dim]")
        self._err(f"[bold red]pushdeploy: error:[/bold red] {self._text(message)}")
        if hint:
            self._err(f"[dim]hint:[/dim] {self._text(hint)}")

    def debug(self, text: str) -> None:
        """Diagnostics (a traceback under --debug, exec's stderr): several lines are kept."""
        self._err(self._text(text, newlines=True))

    # results (stdout)
    def result(self, text: str) -> None:
        with self._lock:
            self.out.print(self._text(text))

    def raw(self, text: str) -> None:
        """Print text exactly (scripts for --dry-run, command output)."""
        with self._lock:
            self.out.file.write(text if text.endswith("\n") else text + "\n")
            self.out.file.flush()

    def data(self, payload: Any) -> None:
        self.raw(json.dumps(payload, indent=2, sort_keys=True))

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        """Aligned columns, two blanks apart; no cell is ever cut or wrapped (a release ID must
        stay whole to be copied), in a terminal or not. The header is bold in a terminal."""
        cells = [[visible(self._masker(cell)) for cell in row] for row in [columns, *rows]]
        widths = [max(cell_len(row[i]) for row in cells) for i in range(len(columns))]
        lines = [
            "  ".join(
                cell + " " * (widths[i] - cell_len(cell)) for i, cell in enumerate(row)
            ).rstrip()
            for row in cells
        ]
        with self._lock:
            self.out.print(
                f"[bold]{escape(lines[0])}[/bold]" if self.out.is_terminal else escape(lines[0])
            )
            for line in lines[1:]:
                self.out.print(escape(line))

    def _text(self, text: str, *, newlines: bool = False) -> str:
        """Untrusted text as safe rich markup: controls made visible, markup escaped."""
        return escape(visible(self._masker(text), newlines=newlines))

    def _err(self, markup: str) -> None:
        with self._lock:
            self.err.print(markup)
