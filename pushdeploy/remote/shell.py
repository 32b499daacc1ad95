"""Commands run in the live release: ``exec``'s command, and ``console``'s file and shell.

Unlike the deploy scripts (scripts.py) these are not wrapped: ``exec`` passes the client's piped
input on to its command, and ``console`` needs a terminal, so its command line must stay free of
the env values (they travel in a 0600 file the console sources and deletes). What runs on stdin
is shell.sh and one call of it, in one ``{ ... }``; the console's file and command line are for
the login user's own shell (any POSIX shell), so they stay plain ``cd`` and ``export`` text.
"""

from __future__ import annotations

import shlex
from importlib.resources import files

from pushdeploy.config.environment import Environment
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath

LIBRARY = files("pushdeploy.remote").joinpath("shell.sh").read_text(encoding="utf-8")
q = shlex.quote


def unwrapped(call: str, redirect: str = "") -> str:
    """shell.sh and ``call`` in one group: bash reads it whole (a byte at a time from a pipe),
    so what the client sends after it is the input of what runs, unless ``redirect`` says."""
    return "\n".join(["{", LIBRARY.rstrip("\n"), call, f"}} {redirect}".rstrip(), ""])


def in_current(env: Environment, command: str) -> str:
    """A command line that runs ``command`` (shell text) in ``current`` with the hook variables:
    the console's file, sourced by the login user's shell."""
    layout = Layout(env.path)
    exports = " ".join(f"{name}={q(value)}" for name, value in env.env)
    return (
        f"cd {qpath(layout.current)}/ 2>/dev/null || "
        "{ echo 'pushdeploy: no current release; deploy first' >&2; exit 127; }; "
        f"export PUSHDEPLOY_ENV={q(env.name)} SHARED={qpath(layout.shared)} "
        f'RELEASE="$(pwd -P)" REVISION="$(cat REVISION 2>/dev/null)" {exports}; '
        f"{command}"
    )


def exec_script(env: Environment, argv: list[str]) -> str:
    """Run ``argv`` joined as one shell command line (as ssh does), sent on stdin, not in argv,
    in ``current`` with the hook variables (shell.sh ``exec_in_current``).

    No redirection: the command's stdin is what the client sends after the script (``exec``'s
    piped input), or nothing.
    """
    layout = Layout(env.path)
    exports = "".join(f" {name}={q(value)}" for name, value in env.env)
    return unwrapped(
        f"exec_in_current {qpath(layout.current)} {qpath(layout.shared)} {q(env.name)}"
        f" {q(' '.join(argv))}{exports}"
    )


def console_file(env: Environment, token: str) -> str:
    """Where ``console_prepare`` leaves the console's environment for ``console_command``."""
    return f"{Layout(env.path).state}/console-{token}"


def console_prepare(env: Environment, token: str) -> str:
    """Sent on stdin before ``console``: write its cd and exports to a 0600 file, run nothing.

    ``console`` needs its stdin for the terminal, so its command must travel on the command line,
    where every user of the server can read it (/proc/PID/cmdline); the env values must not. This
    script puts them in a file only the login user can read; the file deletes itself when the
    console sources it, and files older than 10 minutes (a client that died in between) go too.
    """
    layout = Layout(env.path)
    path = qpath(console_file(env, token))
    content = f"rm -f -- {path}\n{in_current(env, ':')}\n"
    places = f"{qpath(layout.current)} {qpath(layout.state)} {path}"
    return unwrapped(f"console_env {places} {q(content)}", "</dev/null")


def console_command(env: Environment, token: str) -> str:
    """The interactive command line: source the file ``console_prepare`` wrote, start a shell.

    It holds a path and nothing secret (the file name is this run's random token).
    """
    return f'. {qpath(console_file(env, token))} && exec "${{SHELL:-bash}}" -i'
