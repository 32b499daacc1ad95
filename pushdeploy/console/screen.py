"""The rich consoles on stdout and stderr: colour as the environment says, a closed stdout.

Colour is rich's to decide: it reads ``NO_COLOR``, ``FORCE_COLOR`` and ``TERM=dumb`` (and
``TTY_COMPATIBLE``) from the environment, so nothing here overrides it but ``color`` (tests). The
live view needs a real terminal: ``FORCE_COLOR`` on a pipe colours its lines, it draws no live
view there. A reader of stdout that goes away early (``pushdeploy ENV list | head -1``) makes the
printing of results raise ``errors.OutputClosed``, which ``cli.run`` ends quietly with status 0.
"""

from __future__ import annotations

from typing import IO, TextIO

from rich.console import Console as RichConsole

from pushdeploy.errors import OutputClosed


def is_tty(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal itself (with ``FORCE_COLOR`` rich says so of a pipe)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Stdout(RichConsole):
    """Stdout's rich console: a reader that went away (``| head -1``) raises ``OutputClosed``
    for ``cli.run`` to end quietly with status 0, where rich would exit 1 (``on_broken_pipe``)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # what is printed after this is dropped
        raise OutputClosed("stdout closed")


def screen(
    stream: TextIO, color: bool | None, kind: type[RichConsole] = RichConsole
) -> RichConsole:
    """A rich console on ``stream``. Colour is rich's to decide from the environment as it does
    (``NO_COLOR``, ``FORCE_COLOR``, ``TERM=dumb``) unless ``color`` says; a live view needs a
    real terminal (``FORCE_COLOR`` on a pipe colours its lines, it draws no live view there)."""
    return kind(
        file=stream,
        no_color=None if color is None else not color,
        force_interactive=None if is_tty(stream) else False,
        highlight=False,
        soft_wrap=True,
    )
