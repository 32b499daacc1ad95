"""A short run of the randomized fault soak (tests/support/soak.py): every promise holds after
every operation, whatever fault came at whatever instant. The long run is bench/soak.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support import soak
from tests.support.sshd import find_sshd

pytestmark = [pytest.mark.sshd, pytest.mark.slow]

SEED = int(os.environ.get("PUSHDEPLOY_SOAK_SEED", "1807"))  # another seed: another sequence
OPERATIONS = int(os.environ.get("PUSHDEPLOY_SOAK_OPERATIONS", "36"))
BUDGET = 150.0  # seconds: the run stops early rather than make the suite slow


@pytest.mark.skipif(find_sshd() is None, reason="needs OpenSSH's sshd")
def test_a_short_soak_keeps_every_promise(tmp_path: Path) -> None:
    with soak.scene(SEED, base=tmp_path / "soak") as scene:
        report = scene.run(OPERATIONS, until=time.monotonic() + BUDGET)
    print(report.text())
    assert report.operations >= min(OPERATIONS, 12), report.text()
    assert report.violations == 0, report.text()
