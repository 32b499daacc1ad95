"""Fixtures of the unit tier (tests/conftest.py's hermetic environment applies too)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """The directory pushdeploy works from (``-C``), where deploy.conf is (support/fakefleet.py)."""
    return tmp_path
