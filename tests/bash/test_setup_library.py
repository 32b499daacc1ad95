"""setup.sh's checks, in setup's real script: a deploy root setup cannot make is named as such."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from pushdeploy import sources
from pushdeploy.remote import scripts
from tests.support.bashlib import RUN, BashHost


def test_setup_names_a_path_it_cannot_create_and_the_fix_before_taking_the_lock(
    host: BashHost, tmp_path: Path
) -> None:
    # A file where a parent directory should be: no user can make the path, root included.
    (tmp_path / "taken").write_text("a file, not a directory\n", encoding="utf-8")
    host.root = tmp_path / "taken" / "app"
    env = host.environment()
    result = host.launch(scripts.setup(env, RUN, sources.of(env))).finish()
    who = pwd.getpwuid(os.getuid()).pw_name
    expected = (
        f"cannot create or write {host.root} as {who} (permission denied, or a file in its way):"
        f" create it and give it to {who}, e.g. sudo install -d -o {who} {host.root}"
    )
    assert (result.status, result.failure) == (1, ("check", expected))
    assert "lock" not in result.outcome.steps
