"""The console shows terminal control bytes from a server as visible escapes; ``raw`` is exact."""

from __future__ import annotations

import io

import pytest

from pushdeploy.console import Console, visible

HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\x08e\x00f\x7fg\x9bh\u202ei\u2066j\tk"
SHOWN = "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x0dd\\x08e\\x00f\\x7fg\\x9bh\\u202ei\\u2066j\tk"


def make() -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(out, err, verbosity=2, color=False), out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, tabs\tstay", "plain text, tabs\tstay"),
        (HOSTILE, SHOWN),
        ("line1\nline2", "line1\\x0aline2"),
        (
            "\x85 next line, \u200f mark, \u061c arabic mark",
            "\\x85 next line, \\u200f mark, \\u061c arabic mark",
        ),
        ("ünïcödé and emoji 🚀 stay", "ünïcödé and emoji 🚀 stay"),
    ],
)
def test_visible_escapes_c0_del_c1_and_bidi_controls(text: str, expected: str) -> None:
    assert visible(text) == expected


def test_visible_can_keep_newlines_for_multi_line_diagnostics() -> None:
    assert visible("one\x1b\ntwo", newlines=True) == "one\\x1b\ntwo"


def control_free(text: str) -> bool:
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)


@pytest.mark.parametrize(
    "say",
    [
        lambda c, t: c.step("host", t),
        lambda c, t: c.step(t, "fetch"),
        lambda c, t: c.info(t),
        lambda c, t: c.remote_output("host", t),
        lambda c, t: c.warn(t),
        lambda c, t: c.error(t),
        lambda c, t: c.error("failed", hint=t),
        lambda c, t: c.error("failed", details=[t]),
        lambda c, t: c.debug(t),
        lambda c, t: c.result(t),
        lambda c, t: c.table(["release", "by"], [[t, t]]),
    ],
    ids=[
        "step",
        "step-host",
        "info",
        "remote_output",
        "warn",
        "error",
        "error-hint",
        "error-details",
        "debug",
        "result",
        "table",
    ],
)
def test_every_printing_method_but_raw_neutralises_server_text(say: object) -> None:
    console, out, err = make()
    say(console, HOSTILE)  # type: ignore[operator]
    printed = out.getvalue() + err.getvalue()
    assert control_free(printed), repr(printed)
    assert "\u202e" not in printed and "\u2066" not in printed
    assert "\\x1b]0;pwned" in printed


def test_rich_markup_in_server_text_is_printed_not_interpreted() -> None:
    console, out, _ = make()
    console.result("[bold red]fake[/bold red] \\[x]")
    assert out.getvalue() == "[bold red]fake[/bold red] \\[x]\n"


def test_raw_prints_exactly_what_it_is_given() -> None:
    """--dry-run scripts and exec output pass through unchanged, as ssh would pass them."""
    console, out, _ = make()
    console.raw(HOSTILE)
    assert out.getvalue() == HOSTILE + "\n"


def test_json_output_escapes_controls_by_itself() -> None:
    console, out, _ = make()
    console.data({"who": "\x1b[2J"})
    assert "\x1b" not in out.getvalue()
    assert "\\u001b[2J" in out.getvalue()
