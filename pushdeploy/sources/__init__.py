"""Where a release's files come from: git or a build artifact, behind one interface.

A source answers, as bash for the scripts (scripts.py builds them; prelude.sh runs them):

* ``header``    the variables its library needs (quoted), in every script that runs user steps;
* ``library``   its bash functions, among them ``fill_release DIR IDENTITY`` (the release's files);
* ``setup``     what ``pushdeploy ENV setup`` checks on the server, and ``mirror`` what it makes
                (a git mirror, or nothing);
* ``identify``  the steps that set REF and SHA: the identity deployed, a commit SHA or the
                SHA-256 digest of an artifact, recorded in ``REVISION`` and ``.deploys`` alike;
* ``verify``    with ``verify = signed``, the steps that refuse an identity nobody allowed signed;
* ``obtain``    the steps that bring its content to the server once the identity is known and
                is not live already (the upload's arrival; an artifact's download);
* ``rebuild``   how a revert rebuilds a pruned release (git can; an artifact is not kept).

``SET_UP``: the directory that says the server was set up for it (``need_setup``, status).
On the client, a source may have work before any connection (``prepare``: build the artifact,
digest it, check it) and something to send alongside each host's script (``payload``).
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
