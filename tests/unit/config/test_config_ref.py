"""deploy.conf's ``ref`` meets the command line's rule for a ref as the file loads.

A hostile ``ref`` in the file is a config error (exit 3) naming its line, before any host is
dialed; the rule itself is config/refs.py's, the one the command line's REF is held to (exit 8).
"""

from __future__ import annotations

import select
import socket
from pathlib import Path

import pytest

from pushdeploy.config import refs
from pushdeploy.errors import ExitStatus, Refused
from pushdeploy.remote.release import check_ref
from tests.support.cli import run_cli

HOSTILE = ["$(touch /tmp/x)", "--upload-pack=evil", "a b", "main..x", "`id`"]


@pytest.mark.parametrize("ref", HOSTILE)
def test_a_hostile_ref_in_deploy_conf_fails_at_load_and_no_host_is_dialed(
    tmp_path: Path, ref: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as host:  # where deploy.conf sends the deploy
        conf = tmp_path / "deploy.conf"
        port = host.getsockname()[1]
        conf.write_text(
            f"[app]\nhost = nobody@127.0.0.1:{port}\nrepo = /r\npath = /p\nref = {ref}\n"
        )
        result = run_cli("-c", conf, "app")
        assert result.status == ExitStatus.CONFIG
        assert result.error_lines[0].startswith(
            f"pushdeploy: error: {conf}:5: [app] ref: not a valid ref: "
        )
        dialed, _, _ = select.select([host], [], [], 0.5)  # a connection would be waiting here
        assert dialed == []


@pytest.mark.parametrize("ref", [*HOSTILE, "", "-x", "a.lock", "main", "v1.2.3", "feature/x"])
def test_the_file_and_the_command_line_hold_a_ref_to_one_rule(ref: str) -> None:
    problem = refs.ref_problem(ref)
    try:
        check_ref(ref)
        refused = None
    except Refused as exc:
        refused = exc.message
    assert refused == (None if problem is None else f"not a valid ref: {ref!r} ({problem})")
    if problem is not None and ref:
        with pytest.raises(ValueError, match="not a valid ref"):
            refs.git_ref(ref)
