"""git.sh's newest tag, in a deploy's real script over a real mirror: the tag a user calls newest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.bashlib import BashHost

DAY = 86_400  # seconds


def mirror(host: BashHost, work: Path, tags: list[tuple[str, int]]) -> None:
    """The mirror a deploy fetches into (``path/repo``), with one commit per tag, dated that many
    days after 2025-01-01, and the tag a lightweight one on it (its date is the commit's)."""

    def git(*args: str, when: int = 0) -> None:
        stamp = f"@{1_735_689_600 + when * DAY} +0000"
        dates = {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
        subprocess.run(
            ["git", *args], cwd=work, env=dict(os.environ, **dates), check=True, timeout=30
        )

    work.mkdir()
    git("init", "-q", "-b", "main")
    git("config", "user.email", "dev@example.test")
    git("config", "user.name", "Dev")
    for name, day in tags:
        (work / "VERSION").write_text(f"{name}\n", encoding="utf-8")
        git("add", "VERSION")
        git("commit", "-q", "-m", name, when=day)
        git("tag", name)
    git("clone", "-q", "--mirror", str(work), str(host.root / "repo"))


@pytest.mark.parametrize(
    ("tags", "newest"),
    [
        ([("v1.0", 5), ("v1.1", 1)], "v1.1"),  # v1.1 made from an older commit: a backport
        ([("v1.9", 5), ("v1.10", 1)], "v1.10"),  # numbers, not letters
        ([("1.2", 5), ("v1.3", 1), ("v1.2.9", 9)], "v1.3"),  # the v is optional
        ([("v2.0.0", 1), ("v2.0.0-rc.2", 5), ("v1.9.0", 9)], "v2.0.0"),  # a pre-release first
        ([("v1.4.0", 9), ("v2.0.0-beta.2", 1), ("v2.0.0-beta.1", 5)], "v2.0.0-beta.2"),
        ([("v1.1", 1), ("nightly", 9), ("release/0.9", 5)], "v1.1"),  # versions before dates
        ([("stable", 1), ("staging", 9), ("canary", 5)], "staging"),  # else the latest date
        ([("1.2", 1), ("v1.2", 5)], "v1.2"),  # the same version: the later date
    ],
)
def test_the_newest_tag_is_the_highest_version_and_else_the_latest_date(
    host: BashHost, tmp_path: Path, tags: list[tuple[str, int]], newest: str
) -> None:
    """Lightweight tags whose dates contradict their versions: the highest version wins."""
    mirror(host, tmp_path / "work", tags)
    result = host.run('value newest "$(newest_tag)"')
    assert (result.status, result.values.get("newest")) == (0, newest)


def test_a_repository_without_tags_has_no_newest_tag(host: BashHost, tmp_path: Path) -> None:
    """No tag at all: newest_tag says nothing (git_identify then fails the resolve step)."""
    mirror(host, tmp_path / "work", [])
    result = host.run('value newest "[$(newest_tag)]"')
    assert (result.status, result.values.get("newest")) == (0, "[]")
