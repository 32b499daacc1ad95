"""A real deploy root read as ``invariants.HostState``: what ``current`` names, each release and
whether it is complete, ``.deploys``, the lock, and the processes of a deploy still running."""

from __future__ import annotations

import os
from pathlib import Path

from pushdeploy.remote import history
from pushdeploy.remote.layout import Layout
from pushdeploy.testing.invariants import HostState
from tests.support import faults

TREE_FILE = "VERSION"  # every app the tests deploy has one


def complete(release: Path, tree_file: str = TREE_FILE) -> bool:
    """A REVISION holding one full SHA (or an artifact's SHA-256), and the app's tree."""
    revision = release / "REVISION"
    text = revision.read_text(errors="replace").strip() if revision.is_file() else ""
    return bool(history.SHA.fullmatch(text)) and (release / tree_file).is_file()


def state_of(root: Path, tree_file: str = TREE_FILE) -> HostState:
    layout = Layout(str(root))
    current = Path(layout.current)
    live = os.readlink(current).rsplit("/", 1)[-1] if current.is_symlink() else ""
    releases_dir = Path(layout.releases)
    releases = {
        entry.name: complete(entry, tree_file)
        for entry in (releases_dir.iterdir() if releases_dir.is_dir() else [])
        if history.RELEASE_ID.fullmatch(entry.name) and not entry.is_symlink()
    }
    deploys = Path(layout.deploys)
    text = deploys.read_bytes().decode("utf-8", "replace") if deploys.exists() else ""
    leftovers = tuple(str(p) for p in faults.leftovers(root))
    revision = Path(layout.releases) / live / "REVISION"
    sha = revision.read_text(errors="replace").strip()[:100] if live and revision.is_file() else ""
    return HostState(live, releases, text, Path(layout.lock).exists(), leftovers, sha)
