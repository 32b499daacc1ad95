"""The git source: a bare mirror of ``repo`` on the server, fetched at each deploy.

Setup clones the mirror into ``path/repo``; a deploy fetches it, resolves the ref to a commit
(a tag, the remote's branch, or a SHA; the newest tag when none is given) and fills the release
with ``git archive`` of that commit. Its bash library is ``git.sh``. With ``repo-token``, every
git command that talks to the remote goes through ``git_auth`` (credentials.sh; its header and the
reasons: config/credentials.py).
"""

from __future__ import annotations

import functools
import shlex
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.config import credentials
from pushdeploy.sources import signatures

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.console import Console
    from pushdeploy.sources.upload import Payload

LIBRARY = files("pushdeploy.sources").joinpath("git.sh").read_text(encoding="utf-8")
CREDENTIALS = files("pushdeploy.sources").joinpath("credentials.sh").read_text(encoding="utf-8")
q = shlex.quote


class GitSource:
    kind = "git"
    set_up = "$REPO_DIR"

    def __init__(self, env: Environment) -> None:
        self.env = env

    @functools.cached_property
    def signers(self) -> signatures.Signers | None:
        """allowed-signers, read (once) by the first script that verifies, before connecting."""
        return signatures.of(self.env)

    def header(self) -> list[str]:
        token = credentials.header(self.env.repo_token or "", self.env.repo or "")
        return [f"REPO={q(self.env.repo or '')}", *token.splitlines()]

    def library(self) -> str:
        return CREDENTIALS.rstrip("\n") + "\n" + LIBRARY

    def setup(self) -> list[str]:
        return [
            'command -v git >/dev/null || fail check "git is not installed on the server"',
        ]

    def mirror(self) -> list[str]:
        """The mirror: fetched when it exists, else cloned (setup's step, after the lock)."""
        return [
            "step mirror",
            'if [ -d "$REPO_DIR" ]; then',
            "  fetch",
            "else",
            '  rm -rf -- "$P/.repo.tmp" && bg git_auth clone --mirror --quiet -- "$REPO" "$P/.repo.tmp" >&2 &&'
            ' mv -T -- "$P/.repo.tmp" "$REPO_DIR" || fail mirror "git clone --mirror failed (is repo reachable from the server?)"',
            "fi",
        ]

    def identify(self, ref: str | None) -> list[str]:
        return [
            "fetch",
            "step resolve",
            f"REF={q(ref or '')}",
            'if [ -z "$REF" ]; then REF=$(newest_tag); fi',
            '[ -n "$REF" ] || fail resolve "no ref was given and the repository has no tags"',
            'value ref "$REF"',
            'SHA=$(resolve "$REF") || { refs_known; fail resolve "no branch, tag or commit named \'$REF\' in the repository" "$EXIT_NO_REF"; }',
            'value sha "$SHA"',
        ]

    def verify(self) -> list[str]:
        """With ``verify = signed``: refuse a commit no allowed key signed (signatures.py)."""
        if self.signers is None:
            return []
        return [*signatures.verify_commit_shell(self.signers), 'verify_commit "$SHA"']

    def obtain(self) -> list[str]:
        return []  # fetched already: the identity needs the mirror

    def rebuild(self) -> list[str]:
        return ["fetch"]

    def prepare(
        self, console: Console, base: Path, ref: str | None, *, dry_run: bool = False
    ) -> None:
        """Nothing to do here: the server fetches from ``repo`` itself."""

    @property
    def payload(self) -> Payload | None:
        return None
