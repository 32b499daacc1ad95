"""What can be deployed: validation of ref names, and the release ID (UTC time + short SHA).

A ref reaches a remote shell quoted in any case; it is validated as well so that a typo or a
hostile value (``$(rm -rf ~)``, ``--upload-pack=...``) is refused with a clear message instead of
being handed to git, which would read a leading dash as an option.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pushdeploy.errors import Refused

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\$`'\"!;&|<>(){}]")


def check_ref(ref: str) -> str:
    """Return ``ref`` if git and a shell would both take it as one plain name; raise otherwise.

    The rules are git-check-ref-format's, made stricter with shell metacharacters refused.
    """
    problem = None
    if not ref:
        problem = "it is empty"
    elif ref.startswith("-"):
        problem = "it starts with '-'"
    elif _FORBIDDEN.search(ref):
        problem = "it contains a space, a control or a shell/git special character"
    elif ".." in ref or "@{" in ref or "//" in ref:
        problem = "it contains '..', '@{' or '//'"
    elif (
        ref.endswith((".", "/"))
        or ref.startswith(("/", "."))
        or "/." in ref
        or ref == "@"
        or any(part.endswith(".lock") for part in ref.split("/"))
    ):
        problem = "git does not allow that form"
    if problem:
        raise Refused(
            f"not a valid ref: {ref!r} ({problem})",
            "give a branch, tag or commit SHA as git names it",
        )
    return ref


def release_id(when: datetime, sha: str) -> str:
    """``20261123T004512Z-3f2a9c1``; a second deploy of one SHA in one second gets ``.2``."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + sha[:7]


def now() -> datetime:
    return datetime.now(UTC)
