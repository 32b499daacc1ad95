"""The artifact source: a built tarball or zip, from this machine or from a URL, never git.

From this machine (``artifact = dist/app.tar.gz``, relative to the directory pushdeploy works
from): ``artifact-build`` runs first, here; the file is digested (SHA-256), checked member by
member (unpack.py, the same code the server runs) and, with ``verify = signed``, its signature
checked, all before any connection. Each host then receives it once, over the deploy's own SSH
connection, alongside its script (upload.py), unless that host already serves that digest.

From a URL (``artifact = https://host/app-{ref}.tar.gz``): each server fetches it itself
(download.py) and checks it against ``artifact-sha256``, the ``.sha256`` file beside it, or the
server's ETag and Content-MD5 (then the ETag of the live release says whether it changed).

Either way the server unpacks it with unpack.py (refusing hostile members, and archives bigger
than its disk can spare), hard-links the files unchanged since the live release (twins.py) and
records its digest as the release's identity.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.engine import localhooks
from pushdeploy.errors import DeployFailed, Refused
from pushdeploy.sources import signatures, unpack
from pushdeploy.sources.upload import Payload

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.console import Console

q = shlex.quote
LIBRARY = files("pushdeploy.sources").joinpath("artifact.sh").read_text(encoding="utf-8")
_LABEL = re.compile(r"[^A-Za-z0-9._+-]")


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def label(name: str) -> str:
    """What .deploys records as the ref of an artifact deploy: its file name, as one plain word."""
    return _LABEL.sub("_", name)[:100] or "artifact"


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


class ArtifactSource:
    kind = "artifact"
    set_up = "$RELEASES"

    def __init__(self, env: Environment, base: Path) -> None:
        self.env, self.base = env, base
        self.location = env.source.artifact or ""
        self.url = is_url(self.location)
        self.ref = self.fmt = self.resolved = ""  # known once prepared (they may need the ref)
        self._payload: Payload | None = None

    @functools.cached_property
    def signers(self) -> signatures.Signers | None:
        """allowed-signers, read (once) by the first script that verifies, before connecting."""
        return signatures.of(self.env)

    def where(self, ref: str | None) -> str:
        """The artifact's location with ``{ref}`` filled in."""
        if "{ref}" not in self.location:
            return self.location
        if not ref:
            raise Refused(
                f"artifact {self.location} names {{ref}}, and no ref was given",
                "give one: pushdeploy ENV REF, or set 'ref' in deploy.conf",
            )
        return self.location.replace("{ref}", ref)

    def prepare(
        self, console: Console, base: Path, ref: str | None, *, dry_run: bool = False
    ) -> None:
        """Before any connection: the name, and for a local file the build, digest and checks
        (not in a dry run, which only shows the scripts)."""
        where = self.resolved = self.where(ref)
        self.ref = ref or label(where.split("?", 1)[0].rsplit("/", 1)[-1])
        try:
            self.fmt = unpack.format_of(where.split("?", 1)[0])
        except unpack.Usage:
            raise Refused(
                f"artifact {where}: not a .tar.gz, .tgz, .tar.zst, .zip or .tar name",
                "name the file after its format",
            ) from None
        if self.url or dry_run:
            return
        if self.env.source.artifact_build:
            status = localhooks.run(
                "artifact-build",
                self.env.source.artifact_build,
                localhooks.facts(self.env, ref),
                base,
                lambda line: console.info(f"local │ {line}"),
            )
            if status != 0:
                raise DeployFailed(
                    f"artifact-build failed with status {status}; nothing was contacted",
                    "run it by hand to see why",
                )
        path = base / Path(where).expanduser()  # relative to -C; ~/ and absolute paths as given
        if not path.is_file():
            raise Refused(
                f"artifact {path} does not exist",
                "build it first, or set artifact-build to the command that builds it",
            )
        try:
            unpack.check(str(path), self.fmt)
        except unpack.Missing as exc:
            raise Refused(f"artifact {path}: {exc}", "install zstd here to check it") from None
        except (unpack.Refused, unpack.Corrupt) as exc:
            said = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
            raise Refused(
                f"artifact {said}", "rebuild it; unsafe members are never unpacked"
            ) from None
        if self.signers is not None:
            signature = signatures.signature_name(str(path), self.signers)
            signatures.verify_file_local(path, signature, self.signers)
        self._payload = Payload(path, path.stat().st_size, digest(path))

    @property
    def payload(self) -> Payload | None:
        return self._payload

    def header(self) -> list[str]:
        """What a deploy needs (others need nothing: only a deploy brings an artifact)."""
        if not self.fmt:
            return []
        source = files("pushdeploy.sources")
        lines = [
            f"ARTIFACT_FORMAT={q(self.fmt)} ARTIFACT_LABEL={q(self.ref)}",
            f"UNPACK_PY={q(source.joinpath('unpack.py').read_text(encoding='utf-8'))}",
            f"TWINS_PY={q(source.joinpath('twins.py').read_text(encoding='utf-8'))}",
        ]
        if self.url:
            signature = self.signers and signatures.signature_name(self.resolved, self.signers)
            lines += [
                f"ARTIFACT_URL={q(self.resolved)} SIGNATURE_URL={q(signature or '')}",
                f"ARTIFACT_SHA256={q(self.env.source.artifact_sha256 or '')}",
                f"DOWNLOAD_PY={q(source.joinpath('download.py').read_text(encoding='utf-8'))}",
            ]
        elif self._payload is not None:
            lines.append(f"ARTIFACT_SHA={q(self._payload.digest)}")
        return lines

    def library(self) -> str:
        return LIBRARY

    def setup(self) -> list[str]:
        return ["artifact_check"]

    def mirror(self) -> list[str]:
        return []

    def identify(self, ref: str | None) -> list[str]:
        return ["artifact_identify_url" if self.url else "artifact_identify"]

    def verify(self) -> list[str]:
        return []  # a local artifact is checked here; a URL's once it is downloaded (obtain)

    def obtain(self) -> list[str]:
        if not self.url:
            return ["artifact_await_upload"]
        if self.signers is None:
            return ["artifact_download"]
        return [*signatures.verify_file_shell(self.signers), "artifact_download"]

    def rebuild(self) -> list[str]:
        return ["artifact_rebuild"]  # refused: artifacts are not kept on the server
