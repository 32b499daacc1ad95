"""A command's input as other threads see it (streams.Control)."""

from __future__ import annotations

from pushdeploy.transport.streams import Control


def test_what_is_sent_before_the_command_starts_reaches_it_first_in_order() -> None:
    """An upload may end before its script has started: its word must not be lost."""
    written: list[bytes] = []
    control = Control()
    control.send(b"uploaded\n")
    control.send(b"go\n")
    control.attach(written.append, lambda: written.append(b"<end>"))
    control.send(b"later\n")
    assert written == [b"uploaded\n", b"go\n", b"later\n"]


def test_an_early_stop_is_written_then_the_input_ends() -> None:
    written: list[bytes] = []
    control = Control()
    control.send(b"stop\n")
    control.end()
    control.attach(written.append, lambda: written.append(b"<end>"))
    control.send(b"ignored\n")
    assert written == [b"stop\n", b"<end>"]
