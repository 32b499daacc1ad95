"""A run in which pushdeploy's script never ran is told apart from the script's own failure."""

from __future__ import annotations

import pytest

from pushdeploy.engine.failure import failure, foreign
from pushdeploy.errors import ConnectionError, DeployFailed
from pushdeploy.remote.protocol import LOST, Outcome


@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        (Outcome(0), "the server ran its own command"),
        (Outcome(0, output=["Welcome to the jump box"]), "the server ran its own command"),
        (Outcome(1, output=["rbash: line 1: exec: restricted"]), "restricted login shell (rbash)"),
        (Outcome(1, output=["bash: fatal"]), None),  # its own words: the script's failure
        (Outcome(0, steps=["check"]), None),  # it ran
        (Outcome(0, done=True), None),
        (Outcome(LOST), None),
    ],
)  # fmt: skip
def test_a_run_without_one_marker_names_what_ran_instead(
    outcome: Outcome, says: str | None
) -> None:
    error = foreign("web1", outcome)
    said = None if error is None else error.message
    assert (says is None, True) == (said is None, says is None or says in str(said))


def test_failure_reports_a_forced_command_as_a_connection_error() -> None:
    assert isinstance(failure("web1", Outcome(0)), ConnectionError)
    assert isinstance(failure("web1", Outcome(1, output=["bash: fatal"])), DeployFailed)
