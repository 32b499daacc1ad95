"""The one rule for a ref pushdeploy will deploy, read by deploy.conf's ``ref`` and the command line.

A ref reaches a remote shell quoted in any case; it is validated as well so that a typo or a
hostile value (``$(rm -rf ~)``, ``--upload-pack=...``) is refused with a clear message instead
of being handed to git, which would read a leading dash as an option. The rules are
git-check-ref-format's, made stricter with shell metacharacters refused. deploy.conf's ``ref``
is checked as the file loads (``git_ref``, a config error naming the line, before any
connection); the command line's REF as it is parsed (remote/release.py ``check_ref``, exit 8).
It lives here, not in values.py, which is at its 300 lines.
"""

from __future__ import annotations

import re

from pushdeploy.config.values import shown

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\$`'\"!;&|<>(){}]")


def ref_problem(ref: str) -> str | None:
    """What is wrong with ``ref`` as one plain name for git and a shell, or None if nothing."""
    if not ref:
        return "it is empty"
    if ref.startswith("-"):
        return "it starts with '-'"
    if _FORBIDDEN.search(ref):
        return "it contains a space, a control or a shell/git special character"
    if ".." in ref or "@{" in ref or "//" in ref:
        return "it contains '..', '@{' or '//'"
    if (
        ref.endswith((".", "/"))
        or ref.startswith(("/", "."))
        or "/." in ref
        or ref == "@"
        or any(part.endswith(".lock") for part in ref.split("/"))
    ):
        return "git does not allow that form"
    return None


def git_ref(value: str) -> str:
    """deploy.conf's ``ref``: a branch, tag or SHA that passes ``ref_problem``."""
    ref = value.strip()
    problem = ref_problem(ref)
    if problem:
        raise ValueError(f"not a valid ref: {shown(ref)} ({problem})")
    return ref
