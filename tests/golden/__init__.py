"""The golden scripts: the exact text of every remote script kind, for a few fixed configs.

Each section of ``deploy.conf`` here is a case; ``tests/golden/CASE/KIND.sh`` is the script of
that kind the builders make for it, committed, so that every change to generated bash is a
reviewable diff. tests/unit/remote/test_golden.py compares them exactly; ``python -m
tests.golden`` (``REGENERATE``) rewrites them and deletes stale ones.

The scripts are built as the commands build them: a deploy, and the rollback a failed fleet
deploy runs (every case gets one), with the source ``prepare``-d as ``pushdeploy ENV`` does
(``dry_run=True``: no I/O; a URL artifact needs none), every other script with a fresh source;
one host gets the plain deploy, a fleet the ``fleet=True`` one. The ``Run`` is fixed, as
lock.claim would make it for each command. Nothing of this machine reaches a script: the
config's own path is the only candidate, and ``render`` refuses a script that names the checkout.

Normalised, and only these: programs that travel inside a script but are not bash made by the
builders are replaced by a placeholder naming the file and the SHA-256 of the exact text that
was there (so an edit of them is still a one-line diff):

* ``UNPACK_PY``, ``TWINS_PY`` and ``DOWNLOAD_PY`` (an artifact deploy's header: the text of
  sources/unpack.py, twins.py and download.py, shell-quoted) become
  ``'<text of pushdeploy/sources/unpack.py, sha256 ...>'``;
* the base64 of the monitor zipapp in setup's heredoc (monitor/bundle.py, ~110 kB) becomes
  ``<base64 of monitor.pyz, sha256 ...>``; the digest setup compares with stays as generated.

A placeholder is a quoted word or heredoc text, so a golden script still parses (``bash -n``).
If a builder changes how it embeds them, the replacement no longer matches and the full text
shows up in the diff, which is the signal to update ``placeholders``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import shlex
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from pushdeploy import sources
from pushdeploy.cli import doctor
from pushdeploy.config import deployconf
from pushdeploy.config.environment import Environment
from pushdeploy.console import Console
from pushdeploy.engine.deploy import ROLLBACK_WAIT
from pushdeploy.monitor import bundle
from pushdeploy.remote import lock, scripts, service, status

DIR = Path(__file__).resolve().parent
CONFIG = DIR / "deploy.conf"
CHECKOUT = DIR.parent.parent
REGENERATE = ".venv/bin/python -m tests.golden"
# What `$NAME` in the configs expands from (instead of this process's environment).
ENVIRON = {"GOLDEN_REPO_TOKEN": "golden-token-0123456789"}
TOKEN = "0123456789abcdef0123456789abcdef"
WHO = "deploy@laptop"
STARTED = "2024-01-02T03:04:05Z"
STAMP = "20240102T030405Z"
# What a failed fleet deploy rolls back (release) to (previous): the engine reads them back.
RELEASE = "20240102T030405Z-0123456"
PREVIOUS = "20240101T000000Z-89abcde"
# The monitor's own commands, as `pushdeploy ENV monitor ...` runs them (cli/handlers.py).
MONITOR = {
    "monitor-status": ("status", []),
    "monitor-status-json": ("status", ["--json"]),
    "monitor-start": ("start", []),
    "monitor-stop": ("stop", []),
    "monitor-reload": ("reload", []),
    "monitor-logs": ("logs", ["--lines", "50"]),
}


def run(command: str, wait: int = 0) -> scripts.Run:
    """The fixed ``Run`` of ``command``, shaped as lock.claim and Session make it."""
    owner = f"{WHO} (pid 4242, since {STARTED}, running: {command})"
    return scripts.Run(TOKEN, owner, WHO, STAMP, wait, lock.STALE_AFTER)


def sections() -> list[str]:
    """The cases: every section of deploy.conf but [defaults], in the file's order."""
    return deployconf.sections(deployconf.parse(deployconf.read_text(CONFIG), CONFIG.name))


def environment(case: str) -> Environment:
    return deployconf.load(CONFIG, case, {}, environ=ENVIRON)


def builders(env: Environment) -> dict[str, Callable[[], str]]:
    """Script kind -> how to build it for ``env`` (a fleet's deploy is the fleet one)."""
    fresh = functools.partial(sources.of, env, DIR)

    def deploying() -> sources.Source:
        source = sources.of(env, DIR)
        quiet = Console(io.StringIO(), io.StringIO())
        source.prepare(quiet, DIR, env.source.ref, dry_run=True)
        return source

    fleet = len(env.hosts) > 1
    found: dict[str, Callable[[], str]] = {
        "fleet-deploy" if fleet else "deploy": lambda: scripts.deploy(
            env, run("deploy"), env.source.ref, fleet=fleet, source=deploying()
        ),
        "rollback": lambda: scripts.rollback(
            env, run("deploy", ROLLBACK_WAIT), RELEASE, PREVIOUS, deploying()
        ),
        "revert": lambda: scripts.revert(env, run("revert"), fresh()),
        "setup": lambda: scripts.setup(env, run("setup"), fresh()),
        "status": lambda: scripts.status(env, fresh()),
        "status-command": lambda: status.script(env, fresh()),
        "unlock": lambda: scripts.unlock(env, fresh()),
        "doctor": lambda: doctor.script(env, run("doctor")),
    }
    if env.monitor.app:
        for kind, (command, extra) in MONITOR.items():
            found[kind] = functools.partial(service.monitor_script, env, command, extra)
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def placeholders() -> dict[str, str]:
    """Exact embedded text -> the placeholder that stands for it (see the module docstring)."""
    found = {}
    for name in ("unpack.py", "twins.py", "download.py"):
        text = files("pushdeploy.sources").joinpath(name).read_text(encoding="utf-8")
        said = f"<text of pushdeploy/sources/{name}, sha256 {sha256(text.encode())}>"
        found[shlex.quote(text)] = shlex.quote(said)
    zipapp = bundle.build_zipapp()
    encoded = base64.encodebytes(zipapp).decode().rstrip("\n")
    found[encoded] = (
        f"<base64 of monitor.pyz (pushdeploy/monitor/bundle.py), sha256 {sha256(zipapp)}>"
    )
    return found


def normalise(text: str) -> str:
    for embedded, placeholder in placeholders().items():
        text = text.replace(embedded, placeholder)
    return text


def render() -> dict[str, str]:
    """Relative path (``CASE/KIND.sh``) -> the golden text of every case's every script kind."""
    found = {}
    for case in sections():
        for kind, build in builders(environment(case)).items():
            text = normalise(build())
            if str(CHECKOUT) in text:
                raise AssertionError(f"{case}/{kind}.sh names this checkout ({CHECKOUT})")
            found[f"{case}/{kind}.sh"] = text
    return found


def read(path: Path) -> str:
    """A golden file's exact text (no newline translation)."""
    with path.open(encoding="utf-8", newline="") as stream:
        return stream.read()


def on_disk() -> dict[str, Path]:
    """Relative path -> file, for every file in a case directory (stale ones included)."""
    return {
        path.relative_to(DIR).as_posix(): path
        for path in sorted(DIR.glob("*/**/*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
