"""The Source protocol: what a release's origin (git or an artifact) gives the scripts.

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

The implementations live in ``pushdeploy/sources/`` (``sources.of(env)`` picks one), as
Capistrano's SCM plugins do: they depend on this protocol, never the other way round. The script
builders (scripts.py) and the engine see only it; the client-side half (``prepare``) is
``sources.Source``, which the command line drives.
"""

from __future__ import annotations

from typing import Any, Protocol


class Sending(Protocol):
    """An upload under way beside one host's script."""

    def observe(self, marker: Any) -> None: ...

    def finish(self) -> None: ...


class Payload(Protocol):
    """What a source sends alongside each host's script (an artifact file), if anything."""

    def start(self, label: str, transport: Any, control: Any, root: str) -> Sending: ...


class Source(Protocol):
    kind: str
    set_up: str  # a shell path (from the header's names) that exists once setup ran

    def header(self) -> list[str]: ...

    def library(self) -> str: ...

    def setup(self) -> list[str]: ...

    def identify(self, ref: str | None) -> list[str]: ...

    def verify(self) -> list[str]: ...

    def obtain(self) -> list[str]: ...

    def mirror(self) -> list[str]: ...

    def rebuild(self) -> list[str]: ...

    @property
    def payload(self) -> Payload | None: ...
