"""``pushdeploy init``: the starter deploy.conf, what goes into it, and writing it without loss.

``init [ENV] [--host H] [--path P] [--repo URL] [--ref REF] [--user U] [--port N] [--key FILE]``
(its arguments are declared in commands.TABLE; ``pushdeploy ENV init`` names the section too)
writes a minimal config: one section (default ``production``) with ``host``, ``repo``, ``path``
and ``ref``; every optional key as a commented-out line. ``repo`` defaults to the local checkout's
``origin`` (without any password or token in its URL) and ``ref`` to its current branch, or, with
no branch to take (outside a checkout, a detached HEAD), to the default branch ``repo`` itself names:
without a ``ref`` a deploy takes the newest tag, which a young repository does not have. ``user``,
``port`` and ``key`` stay with ~/.ssh/config unless given.

A required key that was neither given nor found is written commented out, so that loading the file
fails with "required key is missing" (exit 3) rather than deploying anywhere a placeholder points.
An existing file is never replaced without ``--force``; the new one is renamed into place whole.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pushdeploy.config import deployconf as config
from pushdeploy.config.hosts import check_user, parse_hosts
from pushdeploy.config.refs import ref_problem
from pushdeploy.config.secrets import url_secrets
from pushdeploy.config.values import identity_file, one_line, parse_port, remote_path
from pushdeploy.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation

DEFAULT_ENV = "production"
GIT_TIMEOUT = 10  # seconds for one git command, the question to ``repo`` included
_SECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The optional keys, as commented-out lines: what a first deploy may want next.
OPTIONAL = """\
# user = deploy                 login user (default: ~/.ssh/config, then your own)
# port = 22                     (default: ~/.ssh/config, then 22)
# key = ~/.ssh/id_ed25519       (default: ~/.ssh/config and your agent)
# forward-agent = yes           let the server fetch a private repo with your agent's key
# build = npm ci --omit=dev     commands run in the new release before it goes live
# pre-deploy = ./bin/notice     hook run before anything changes
# post-deploy = ./bin/migrate   hook run in the new release once it is live
# restart = touch               touch tmp/restart.txt in the release (default), or a command
# test = ./bin/smoke-test       check after the restart; failure switches back
# health = http://127.0.0.1:3000/health
# shared = logs/ .env           paths under path/shared linked into every release
# keep = 5
"""


@dataclass(frozen=True)
class Starter:
    """What ``init`` writes: the section's name and the values it knows (None: not known)."""

    env: str
    host: str | None
    repo: str | None
    path: str | None
    ref: str | None
    user: str | None = None
    port: str | None = None
    key: str | None = None

    @property
    def missing(self) -> list[str]:
        return [k for k in ("host", "repo", "path") if getattr(self, k) is None]


_CHECKS: dict[str, Callable[[str], object]] = {
    "host": parse_hosts,
    "repo": one_line,
    "path": remote_path,
    "ref": one_line,
    "user": check_user,
    "port": parse_port,
    "key": identity_file,
}


def starter(
    opts: argparse.Namespace, base: Path, warn: Callable[[str], None], env: str | None = None
) -> Starter:
    """The starter config ``init``'s arguments (``opts``, commands.TABLE) ask for, run in
    ``base``; every given value checked. ``env``: the ENV given before ``init``, if any."""
    name = opts.env or env or DEFAULT_ENV
    if not _SECTION.match(name) or name == config.DEFAULTS_SECTION:
        raise UsageError(f"init: {name!r} cannot name a section (letters, digits, . _ -)")
    given = {key: getattr(opts, key) for key in _CHECKS if key != "host"}
    given["host"] = " ".join(opts.host) if opts.host else None
    for key, value in given.items():
        if value is None:
            continue
        try:
            _CHECKS[key](value)
        except ValueError as exc:
            raise UsageError(f"init --{key}: {exc}") from None
    if given["repo"] is None:
        given["repo"] = origin_url(base, warn)
    if given["ref"] is None:
        given["ref"] = git_output(base, "symbolic-ref", "--short", "-q", "HEAD")
    if given["ref"] is None and given["repo"] is not None:
        given["ref"] = default_branch(base, given["repo"])
        if given["ref"] is not None:
            warn(f"ref = {given['ref']}: repo's default branch (no branch is checked out here)")
    return Starter(env=name, **given)


def git_text(base: Path, *args: str) -> str | None:
    """What ``git ARGS`` run in ``base`` prints, or None when it fails or takes longer than
    GIT_TIMEOUT. It runs in a session of its own, without a terminal and with git's prompts off,
    so an ssh passphrase or a password it would ask for fails it instead of waiting; on the
    timeout its whole process group (ssh included) is killed."""
    quiet = {"GIT_TERMINAL_PROMPT": "0", "SSH_ASKPASS_REQUIRE": "never"}
    try:
        child = subprocess.Popen(
            ["git", "-C", str(base), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            env={**os.environ, **quiet},
        )
    except OSError:
        return None
    with child:
        try:
            out, _ = child.communicate(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            return None
    return None if child.returncode else out


def git_output(base: Path, *args: str) -> str | None:
    """One line of ``git ARGS`` run in ``base``, or None when git, the checkout or the answer is
    missing (init works outside a checkout too)."""
    out = (git_text(base, *args) or "").strip()
    if not out or "\n" in out:
        return None
    try:
        return one_line(out)
    except ValueError:
        return None


def default_branch(base: Path, repo: str) -> str | None:
    """The branch ``repo``'s HEAD names (``git ls-remote --symref``), if it answers within
    GIT_TIMEOUT and the name passes the ref rule (it is the remote's word)."""
    out = git_text(base, "ls-remote", "--symref", "--", repo, "HEAD") or ""
    for line in out.splitlines():
        target, _, name = line.partition("\t")
        if target.startswith("ref: refs/heads/") and name == "HEAD":
            branch = target.removeprefix("ref: refs/heads/")
            return None if ref_problem(branch) else branch
    return None


def origin_url(base: Path, warn: Callable[[str], None]) -> str | None:
    """The checkout's ``origin`` URL, never with a password or token in it (the file is meant
    to be committed): such a URL is written without its user part, and said so."""
    url = git_output(base, "remote", "get-url", "origin")
    if url is None:
        return None
    if url_secrets(url):
        url = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", url)
        warn(f"origin's URL holds a password or token; wrote repo without it: {url}")
    return url


def render(s: Starter) -> str:
    """The text of the starter config (a required key not known is a commented-out line)."""

    def line(key: str, value: str | None, example: str) -> str:
        if value is None:
            return f"# {key} = {example}   <- required: set it, then remove the '# '"
        return f"{key} = {value}"

    known = [f"{key} = {value}" for key, value in (("user", s.user), ("port", s.port)) if value]
    known += [f"key = {s.key}"] if s.key else []
    lines = [
        "# deploy.conf for pushdeploy, written by `pushdeploy init`. Every key is documented in",
        "#   pushdeploy --example-config",
        "# `user`, `port` and `key` come from ~/.ssh/config (then your login name, 22 and your ssh",
        "# agent) unless set here. First deploy:",
        f"#   pushdeploy {s.env} doctor && pushdeploy {s.env} setup && pushdeploy {s.env}",
        "",
        f"[{s.env}]",
        line("host", s.host, "deploy@app1.example.com"),
        line("repo", s.repo, "git@github.com:you/app.git"),
        line("path", s.path, "/var/www/app"),
        f"ref = {s.ref}" if s.ref else "# ref = main                    (default: the newest tag)",
        *known,
        OPTIONAL.rstrip("\n"),
        "",
    ]
    if known:  # the commented-out lines of keys that were given would only confuse
        given = {k.split(" ", 1)[0] for k in known}
        lines = [ln for ln in lines if not any(ln.startswith(f"# {k} = ") for k in given)]
    return "\n".join(lines)


def check(text: str, s: Starter, source: str) -> None:
    """A complete starter must load as written, to the values given (a bug otherwise)."""
    if s.missing:
        return
    ini = config.parse(text, source)
    env = config.build_environment(s.env, source, config.effective(ini, s.env), environ={})
    written = (" ".join(h.spec for h in env.hosts), env.source.repo, env.path, env.source.ref)
    hosts = " ".join(h.spec for h in parse_hosts(s.host or ""))
    wanted = (hosts, s.repo, remote_path(s.path or "/"), s.ref)
    if written != wanted:  # pragma: no cover - a rendering bug
        raise AssertionError(f"starter config reads back as {written}, not {wanted}")


def write(target: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``target`` whole (a temporary file renamed into place); an existing file
    stays unless ``force``."""
    if (target.exists() or target.is_symlink()) and not force:
        raise ConfigError(
            f"{target} exists already; not replaced",
            "pass --force to replace it, or -c FILE to write another file",
        )
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(f"cannot write {target}: no directory {folder}")
    try:
        fd, temporary = tempfile.mkstemp(prefix=".deploy.conf.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o644)
            if force:
                os.replace(temporary, target)
            else:  # a file that appeared meanwhile is not replaced either
                os.link(temporary, target)
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)
    except FileExistsError:
        raise ConfigError(f"{target} exists already; not replaced", "pass --force") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None


def run_init(inv: Invocation) -> int:
    """``pushdeploy init``: write the starter config to ``-c FILE`` and say what comes next."""
    console, target, base, force = inv.console, inv.config_path, inv.base, inv.opts.force
    if not force and (target.exists() or target.is_symlink()):
        write(target, "", force=False)  # says why, before any look at the checkout
    s = starter(inv.opts, base, console.warn, inv.args.env)
    text = render(s)
    check(text, s, str(target))
    write(target, text, force=force)
    shown = target.name if target.parent == base else str(target)
    command = "pushdeploy" if shown == "deploy.conf" else f"pushdeploy -c {shlex.quote(shown)}"
    console.result(f"wrote {shown} with [{s.env}]")
    if s.missing:
        console.warn(
            f"set {', '.join(s.missing)} in {shown} (or run init again with"
            f" {' '.join('--' + k + ' ...' for k in s.missing)} --force): it does not load until then"
        )
    else:
        console.result(f"next: {command} {s.env} doctor, then setup, then deploy")
    return 0
