"""The local checkout a deploy starts from: refuse uncommitted or unpushed work (unless --force).

The server fetches from ``repo``, never from this machine, so what is only here would silently not
be deployed. Outside a git work tree there is nothing to check. A branch with no upstream cannot be
compared and passes with a warning.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from pushdeploy.errors import Refused


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def check(cwd: Path, warn: Callable[[str], None]) -> None:
    try:
        inside = _git(cwd, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return  # no git here: nothing local to compare
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return
    dirty = _git(cwd, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    if dirty:
        raise Refused(
            f"uncommitted changes in {cwd} ({len(dirty)} file{'s' if len(dirty) != 1 else ''},"
            f" e.g. {dirty[0][3:]})",
            "commit and push them first, or deploy anyway with --force",
        )
    ahead = _git(cwd, "rev-list", "--count", "@{upstream}..HEAD")
    if ahead.returncode != 0:
        warn("the current branch has no upstream; cannot tell whether it is pushed")
        return
    count = int(ahead.stdout.strip() or 0)
    if count:
        raise Refused(
            f"{count} local commit{'s' if count != 1 else ''} not pushed to the upstream branch",
            "push first (the server fetches from 'repo', not from here), or use --force",
        )
