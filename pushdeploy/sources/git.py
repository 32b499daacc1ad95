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
        token = credentials.header(self.env.source.repo_token or "", self.env.source.repo or "")
        return [f"REPO={q(self.env.source.repo or '')}", *token.splitlines()]

    def library(self) -> str:
        return CREDENTIALS.rstrip("\n") + "\n" + LIBRARY

    def setup(self) -> list[str]:
        return ["git_check"]

    def mirror(self) -> list[str]:
        """The mirror: fetched when it exists, else cloned (setup's step, after the lock)."""
        return ["git_mirror"]

    def identify(self, ref: str | None) -> list[str]:
        """Fetch, then the ref (quoted; the newest tag when none is given) made a commit."""
        return ["fetch", f"REF={q(ref or '')}", "git_identify"]

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
