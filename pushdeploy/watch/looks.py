"""A look at a deploy's source from this machine: what its ref, or its artifact URL, is now.

The watcher (watch.py) compares looks, never their meaning: a look is an identity string, the
same whenever the source has not moved. For git it is what ``git ls-remote`` says of ``ref``,
resolved as the servers resolve it (git.sh ``resolve``: a tag, peeled, before a branch; a SHA
names itself), and without a ref a digest of every tag (the servers deploy the newest, by their
own rule, so any change of the tags is worth a deploy). For an artifact URL it is download.py's
``identity``: ``sha256 HEX`` (artifact-sha256, or the ``.sha256`` file beside it) or ``etag X``.
A failed look raises a ``PushdeployError`` (a ConnectionError, or Refused for a missing ref),
which the watcher turns into a warning and a longer wait.

``repo-token`` works as on the servers: the token reaches git through credentials.HELPER, in the
environment of that one git process, never in its arguments. git never prompts here
(``GIT_TERMINAL_PROMPT=0``, stdin from /dev/null), and a look takes at most LOOK_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.config import credentials
from pushdeploy.errors import ConfigError, ConnectionError, Refused, UsageError

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment

LOOK_TIMEOUT = 60  # seconds a look (git ls-remote, an HTTP request) may take
_HEX = re.compile(r"[0-9a-f]{7,40}")

Look = Callable[[], str]


def ls_remote(repo: str, ref: str | None) -> list[str]:
    """The ``git ls-remote`` command line for ``ref``: its tag (peeled) and branch, the remote's
    HEAD, or every tag when no ref is set (the server deploys the newest)."""
    if repo.startswith("-"):
        raise ConfigError(f"repo {repo!r} starts with '-'", "give the repository's URL or path")
    if ref is None:
        return ["git", "ls-remote", "--tags", "--end-of-options", repo]
    command, name = ["git", "ls-remote", "--end-of-options", repo], ref.removeprefix("origin/")
    if name == "HEAD":
        return [*command, "HEAD"]
    return [*command, f"refs/tags/{name}", f"refs/tags/{name}^{{}}", f"refs/heads/{name}"]


def identity_of(listing: str, ref: str | None) -> str | None:
    """What ``ls-remote``'s ``listing`` says ``ref`` is, as the server resolves it (a tag before
    a branch; a SHA names itself); every tag at once, digested, when no ref is set; None when
    the ref is not there."""
    refs = {}
    for line in listing.splitlines():
        sha, tab, name = line.partition("\t")
        if tab:
            refs[name.strip()] = sha.strip()
    if ref is None:
        tags = sorted(
            f"{sha} {name}" for name, sha in refs.items() if name.startswith("refs/tags/")
        )
        digest = hashlib.sha256("\n".join(tags).encode()).hexdigest()
        return f"tags {digest}" if tags else None
    name = ref.removeprefix("origin/")
    names = ["HEAD"] if name == "HEAD" else [f"refs/tags/{name}^{{}}", f"refs/tags/{name}"]
    found = next((refs[n] for n in [*names, f"refs/heads/{name}"] if n in refs), None)
    return found or (name if _HEX.fullmatch(name) else None)


def short(identity: str) -> str:
    """An identity for a message: a SHA's first 12 digits; ``sha256 HEX``, ``etag X`` and
    ``tags HEX`` cut alike."""
    kind, blank, value = identity.partition(" ")
    return f"{kind} {value[:16]}" if blank else identity[:12]


def git_look(env: Environment) -> Look:
    """A look at ``repo`` from this machine; ``repo-token`` reaches git as on the servers: in the
    environment of that one git process (credentials.py), never in its arguments."""
    repo, ref = env.source.repo or "", env.source.ref
    command, environ = ls_remote(repo, ref), dict(os.environ, GIT_TERMINAL_PROMPT="0")
    if env.source.repo_token:
        helper = ["-c", "credential.helper=", "-c", f"credential.helper={credentials.HELPER}"]
        command[1:1] = helper
        environ |= {
            credentials.ENV_TOKEN: env.source.repo_token,
            credentials.ENV_SCOPE: credentials.scope(repo),
        }
        environ |= {"GIT_ASKPASS": "false", "GIT_TRACE_REDACT": "1"}

    def look() -> str:
        try:
            done = subprocess.run(
                command,
                env=environ,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=LOOK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConnectionError(
                f"git ls-remote {repo} timed out after {LOOK_TIMEOUT} s"
            ) from None
        except FileNotFoundError:
            raise ConnectionError("git is not installed on this machine") from None
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[0]
            raise ConnectionError(f"git ls-remote {repo} failed: {said}")
        found = identity_of(done.stdout, ref)
        if found is None:
            raise Refused(f"{repo} has no {f'ref {ref!r}' if ref else 'tags'}")
        return found

    return look


def artifact_look(env: Environment, base: Path) -> Look:
    """A look at an artifact URL: its SHA-256 (artifact-sha256, URL.sha256) or ETag, as the
    servers will read it (download.py); a file on this machine cannot be watched."""
    from pushdeploy.sources import download
    from pushdeploy.sources.artifact import ArtifactSource, is_url

    if not is_url(env.source.artifact or ""):
        raise UsageError(
            f"watch: artifact {env.source.artifact} is a file on this machine: there is nothing to watch",
            "watch an artifact URL or a git repo; deploy a local build with 'pushdeploy ENV'",
        )
    url = ArtifactSource(env, base).where(env.source.ref)

    def look() -> str:
        try:
            return download.identity(url, env.source.artifact_sha256 or "", LOOK_TIMEOUT)
        except download.Failure as failure:
            raise ConnectionError(f"cannot read the artifact's identity: {failure}") from None

    return look


def of(env: Environment, base: Path) -> tuple[Look, str]:
    """The look at ``env``'s source, and the source in words (for the watcher's first line)."""
    if env.source.artifact:
        return artifact_look(env, base), f"artifact {env.source.artifact}"
    return git_look(env), f"{env.source.repo} {env.source.ref or '(the newest tag)'}"
