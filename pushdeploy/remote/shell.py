"""Commands run in the live release: ``exec``'s one line, and ``console``'s file and shell.

Unlike the deploy scripts (scripts.py) these are not wrapped: ``exec`` passes the client's piped
input on to its command, and ``console`` needs a terminal, so its command line must stay free of
the env values (they travel in a 0600 file the console sources and deletes).
"""

from __future__ import annotations

import shlex

from pushdeploy.config.environment import Environment
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath

q = shlex.quote


def in_current(env: Environment, command: str) -> str:
    """A command line that runs ``command`` (shell text) in ``current`` with the hook variables."""
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
    """Run ``argv`` joined as one shell command line (as ssh does), sent on stdin, not in argv.

    One line: the command's stdin is what the client sends after it (``exec``'s piped input),
    or nothing.
    """
    return "{ " + in_current(env, "exec bash -c " + q(" ".join(argv))) + "; }\n"


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
    return (
        f"{{ [ -d {qpath(layout.current)}/ ] ||"
        " { echo 'pushdeploy: no current release; deploy first' >&2; exit 127; }; "
        f"find {qpath(layout.state)} -maxdepth 1 -type f -name 'console-*' -mmin +10 -delete"
        " 2>/dev/null; "
        f"mkdir -p -- {qpath(layout.state)} && rm -f -- {path} &&"
        f" (umask 077 && printf '%s' {q(content)} >{path}) ||"
        " { echo 'pushdeploy: cannot write the console environment file' >&2; exit 1; }; "
        "} </dev/null\n"
    )


def console_command(env: Environment, token: str) -> str:
    """The interactive command line: source the file ``console_prepare`` wrote, start a shell.

    It holds a path and nothing secret (the file name is this run's random token).
    """
    return f'. {qpath(console_file(env, token))} && exec "${{SHELL:-bash}}" -i'
