"""Where a release's files come from: git or a build artifact, behind one interface.

What a source gives the scripts (its header, bash library and steps) is the protocol of
remote/source.py, which the pure script builders see; ``Source`` here adds the client's part:
work before any connection (``prepare``: build the artifact, digest it, check it). ``of``
picks git.py or artifact.py, as Capistrano picks its SCM plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pushdeploy.remote import source as script

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.console import Console


class Source(script.Source, Protocol):
    """A source as the command line holds it: the scripts' part, and the client's work."""

    def prepare(
        self, console: Console, base: Path, ref: str | None, *, dry_run: bool = False
    ) -> None: ...


def of(env: Environment, base: Path | None = None) -> Source:
    """The source ``env`` deploys from: ``artifact`` when set, else git's ``repo``."""
    if env.source.artifact:
        from pushdeploy.sources.artifact import ArtifactSource

        return ArtifactSource(env, base or Path(env.config_file).parent)
    from pushdeploy.sources.git import GitSource

    return GitSource(env)
