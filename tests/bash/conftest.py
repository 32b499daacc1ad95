"""Fixtures of the bash tier: a deploy root to run the server-side bash functions against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bashlib import BashHost


@pytest.fixture
def host(tmp_path: Path) -> Iterator[BashHost]:
    """A fresh deploy root; what its scripts left running is ended after the test."""
    server = BashHost(tmp_path)
    try:
        yield server
    finally:
        server.stop_all()
