"""Colour follows the environment as rich reads it: NO_COLOR, FORCE_COLOR and TERM=dumb.

``NO_COLOR`` takes the colour off a terminal (bold stays: it is no colour), ``FORCE_COLOR`` puts
it on a pipe, whose progress stays one plain line per step (no live view), and ``TERM=dumb`` is
a terminal that gets neither colour nor a live view.
"""

from __future__ import annotations

import io
import re

import pytest

from pushdeploy.console import Console
from pushdeploy.remote.report import DeployReport, HostReport

SGR = re.compile(r"\x1b\[([0-9;]*)m")
CURSOR_UP = "\x1b[1A"


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, as rich asks (``isatty``)."""

    def isatty(self) -> bool:
        return True


def colours(text: str) -> list[str]:
    """The colour codes (foreground or background) among the text's SGR escapes."""
    found = []
    for params in SGR.findall(text):
        for code in params.split(";"):
            if code and (30 <= int(code) <= 49 or 90 <= int(code) <= 107):
                found.append(code)
    return found


def deploy_that_fails(out: io.StringIO, err: io.StringIO) -> None:
    """A warning, a one-host deploy with a step and its failure: yellow, red and a summary."""
    console = Console(out, err)
    console.warn("a warning")
    console.start("deploy", ["web1"])
    console.step("web1", "fetch")
    host = HostReport("web1", "failed", 1, failed_step="fetch", output=("no such ref",))
    console.host_done(host)
    console.finish(DeployReport.of("deploy", "production", [host], outcome="failed", exit_status=6))
    console.error("web1: the deploy failed", "see its output")


@pytest.fixture(autouse=True)
def colour_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the colour variables unless the test sets it; a terminal that can colour."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def test_a_terminal_is_coloured_when_nothing_says_otherwise() -> None:
    err = Terminal()
    deploy_that_fails(Terminal(), err)
    assert colours(err.getvalue())
    assert CURSOR_UP in err.getvalue()  # and live


def test_no_color_takes_every_colour_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, err = Terminal(), Terminal()
    deploy_that_fails(out, err)
    assert colours(err.getvalue()) + colours(out.getvalue()) == []
    assert "pushdeploy: error: web1: the deploy failed" in SGR.sub("", err.getvalue())


def test_force_color_colours_a_pipe_whose_progress_stays_plain_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    out, err = io.StringIO(), io.StringIO()
    deploy_that_fails(out, err)
    shown = err.getvalue()
    assert colours(shown)
    assert CURSOR_UP not in shown  # no live view drawn into a pipe
    assert "fetch" in SGR.sub("", shown).splitlines()[1]  # the step's own line, as off a terminal
    assert out.getvalue().startswith("deploy failed")  # results still on stdout


def test_term_dumb_is_a_terminal_without_colour_or_live_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "dumb")
    err = Terminal()
    deploy_that_fails(Terminal(), err)
    assert colours(err.getvalue()) == []
    assert CURSOR_UP not in err.getvalue()


def test_without_force_color_a_pipe_gets_no_colour() -> None:
    out, err = io.StringIO(), io.StringIO()
    deploy_that_fails(out, err)
    assert "\x1b" not in err.getvalue() + out.getvalue()
