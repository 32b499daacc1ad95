"""A hook's output reaches the client as it is printed, whatever awk the server has (relay)."""

from __future__ import annotations

import shutil
import time

import pytest

from pushdeploy.remote import protocol
from tests.support.bashlib import BashHost

HOOK = 'hook build "$P" "echo first; sleep 3; echo second"'


@pytest.mark.parametrize("awk", ["mawk", "gawk", "original-awk", "busybox"])
def test_each_line_of_a_hook_arrives_while_the_hook_still_runs(host: BashHost, awk: str) -> None:
    """The first line within a second, though the hook prints the next only 3 s later."""
    found = shutil.which(awk)
    if found is None:
        if awk in {"mawk", "gawk"}:  # Debian's default awk, and the other common one
            pytest.fail(f"{awk} is not installed (scripts/test installs it)")
        pytest.skip(f"{awk} is not installed")
    host.stub("awk", f'exec {found} {"awk " if awk == "busybox" else ""}"$@"\n')
    running = host.start(HOOK)
    running.wait_for("step build")
    began = time.monotonic()
    running.wait_for("out first", timeout=2.5)
    arrived = time.monotonic() - began
    result = running.finish(timeout=10)
    assert (result.status, [m for m in running.markers() if "::out " in m]) == (
        0,
        [f"{protocol.PREFIX}out first", f"{protocol.PREFIX}out second"],
    )
    assert arrived < 1.0
