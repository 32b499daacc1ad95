"""The one exception tree of pushdeploy, and the exit status each error maps to.

Every failure a user can cause or meet is one of these; ``cli.main`` is the only place that turns
them into a printed line (``pushdeploy: error: ...`` plus ``hint: ...``) and an exit status::

    PushdeployError                      (1, never raised itself)
    ├── UsageError                       2  bad command line
    ├── ConfigError                      3  deploy.conf is missing, unreadable or invalid
    ├── ConnectionError                  4  cannot reach or log in to a host
    │   └── HostKeyError                 4  unknown or changed host key
    ├── LockHeld                         5  another deploy holds the lock
    ├── DeployFailed                     6  a step failed; the live release was not changed
    │   └── DeployReverted               7  went live, failed its test, switched back
    ├── Refused                          8  refused before touching anything (dirty tree,
    │                                       bad ref, revert past history, ...)
    ├── Drift                            9  status found hosts that disagree or need a look
    ├── Split                           10  a fleet failed and a host could not be put back
    ├── RemoteCommandFailed              the remote command's own status (exec/run, console)
    └── Interrupted                    130  Ctrl-C or SIGTERM; says what state each host is in

    OutputClosed                         0  our stdout was closed (``| head``): stop quietly

Anything else that escapes is a bug: exit 1 with a traceback under ``--debug``.

Hints are written once, with a literal ``pushdeploy ENV``; ``fit_hint`` (called by ``cli.run`` as
it prints the error) puts in the command line the user really typed and drops what does not fit
the command that failed, so no ``raise`` has to know how the user started pushdeploy.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


class ExitStatus(enum.IntEnum):
    """Documented exit statuses (README "Exit statuses")."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    CONNECTION = 4
    LOCKED = 5
    FAILED = 6
    REVERTED = 7
    REFUSED = 8
    DRIFT = 9  # status: the hosts disagree or something needs a look (docs/status)
    SPLIT = 10  # a fleet failed, and a host that went live could not be switched back
    INTERRUPTED = 130


# Each status in a few words, as `pushdeploy --help` lists them (README's table says more).
MEANINGS = {
    ExitStatus.OK: "ok",
    ExitStatus.ERROR: "internal error",
    ExitStatus.USAGE: "usage",
    ExitStatus.CONFIG: "config",
    ExitStatus.CONNECTION: "connection/host key",
    ExitStatus.LOCKED: "locked",
    ExitStatus.FAILED: "deploy failed (nothing changed)",
    ExitStatus.REVERTED: "failed after going live and switched back",
    ExitStatus.REFUSED: "refused before changing anything",
    ExitStatus.DRIFT: "status found drift",
    ExitStatus.SPLIT: "fleet split: a host could not be switched back",
    ExitStatus.INTERRUPTED: "interrupted",
}


def exit_statuses(width: int = 100) -> str:
    """The exit statuses as a paragraph for ``pushdeploy --help``, from ``MEANINGS``."""
    import textwrap

    listed = ", ".join(f"{int(status)} {meaning}" for status, meaning in MEANINGS.items())
    text = f"exit statuses: {listed}; exec and console pass on the command's own."
    return textwrap.fill(text, width, subsequent_indent="  ", break_on_hyphens=False)


class PushdeployError(Exception):
    """Base of every expected failure: a one-line message and a hint of what to do next."""

    status: int = ExitStatus.ERROR
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.details: list[str] = []  # last lines of remote output, shown above the error
        self.report: Any = None  # the command's report.DeployReport, when it reached hosts

    def __str__(self) -> str:
        return self.message


class Drift(PushdeployError):
    status = ExitStatus.DRIFT
    default_hint = "deploy (or revert) to bring every host to one release; unlock a stale lock"


class UsageError(PushdeployError):
    status = ExitStatus.USAGE
    default_hint = "run 'pushdeploy --help' for the commands and options"


class ConfigError(PushdeployError):
    status = ExitStatus.CONFIG
    default_hint = "fix deploy.conf (see deploy.conf.example for every key)"


class ConnectionError(PushdeployError):
    status = ExitStatus.CONNECTION
    default_hint = "check host, port, user and key in deploy.conf, then try 'ssh' by hand"


class HostKeyError(ConnectionError):
    pass


class LockHeld(PushdeployError):
    status = ExitStatus.LOCKED
    default_hint = "wait for it (--wait SECONDS), or run 'pushdeploy ENV unlock' if it is dead"


class DeployFailed(PushdeployError):
    status = ExitStatus.FAILED
    default_hint = "the live release was not changed; fix the cause and run the command again"


class DeployReverted(DeployFailed):
    status = ExitStatus.REVERTED
    default_hint = "the previous release is live again; fix the failing check and deploy again"


class Refused(PushdeployError):
    status = ExitStatus.REFUSED


class Split(PushdeployError):
    """A fleet's command failed, and a host that had gone live could not be switched back (a
    newer deploy is live there, or it could not be reached): the hosts serve different releases."""

    status = ExitStatus.SPLIT
    default_hint = (
        "run 'pushdeploy ENV status' to see each host's release, then deploy (or revert) again"
        " to bring them to one"
    )


class RemoteCommandFailed(PushdeployError):
    """A user's own remote command (``exec``, ``console``) ended non-zero: pass its status on.

    ``output`` says whether the command printed anything: the default hint points at that output
    only when there is some.
    """

    def __init__(
        self, message: str, status: int, hint: str | None = None, *, output: bool = True
    ) -> None:
        default = (
            "its own output, above, says why"
            if output
            else "it printed nothing; its exit status is passed on as pushdeploy's"
        )
        super().__init__(message, hint or default)
        self.status = status if 0 < status < 256 else ExitStatus.ERROR


class Interrupted(PushdeployError):
    """Ctrl-C (or SIGTERM) while scripts ran; ``details`` says where each host was left."""

    status = ExitStatus.INTERRUPTED
    default_hint = "check with 'pushdeploy ENV current' (or 'list'), then run the command again"


class OutputClosed(Exception):
    """Whoever read our stdout has gone (``pushdeploy ENV list | head -1``): not a failure.

    Not an ``OSError`` on purpose: a transport turns the OSErrors of its own pipes and sockets
    into ``ConnectionError``; this one must pass through it untouched to ``cli.run``.
    """


# Commands after whose failure "the live release was not changed" is news worth saying.
_CHANGES_LIVE = frozenset({"deploy", "revert"})


def invocation(env: str, options: Sequence[str] = ()) -> str:
    """How the user started pushdeploy for ``env``, as a hint should repeat it (shell-quoted)."""
    return shlex.join(["pushdeploy", *options, env])


def command_line(
    args: argparse.Namespace | None, commands: Collection[str], aliases: Mapping[str, str]
) -> tuple[str, str | None]:
    """From parsed arguments: the command word that ran (a ref counts as ``deploy``) and the
    ``invocation`` hints should show (None before ENV is known). ``-C``/``-c`` are kept:
    without them the repeated command would not find the same deploy.conf."""
    if args is None or not getattr(args, "env", None):
        return "", None
    word = args.words[0] if args.words else "deploy"
    command = aliases.get(word, word)
    options = ["-C", args.chdir] if args.chdir else []
    options += ["-c", args.config] if args.config != "deploy.conf" else []
    return (command if command in commands else "deploy"), invocation(args.env, options)


def fit_hint(error: PushdeployError, command: str, prefix: str | None) -> tuple[str, str]:
    """``error``'s message and hint as printed after ``command`` failed.

    ``prefix`` (``invocation(...)``) replaces every literal ``pushdeploy ENV``; None (no ENV
    was given) leaves it. The deploy-only reassurance of ``DeployFailed``'s default hint is
    dropped after any other command (``setup`` never changes a live release).
    """
    message, hint = error.message, error.hint
    if (
        type(error) is DeployFailed
        and hint == DeployFailed.default_hint
        and command not in _CHANGES_LIVE
    ):
        hint = "fix the cause and run the command again"
    if prefix is not None:
        message = message.replace("pushdeploy ENV ", prefix + " ")
        hint = hint.replace("pushdeploy ENV ", prefix + " ")
        hint = hint.replace("pushdeploy init ENV ", f"pushdeploy init {prefix.split()[-1]} ")
    return message, hint
