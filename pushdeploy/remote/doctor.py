"""The doctor's script: a read-only look at what a deploy will meet on one host (pure, no I/O).

The checks are the functions of doctor.sh, appended to the script as a library; this module picks
which of them run, with quoted arguments: the PATH the deploy's non-interactive shell and its hooks
see, bash, git (or what an artifact needs), the tools the hooks name (``tools``: the first word of
each command in their text, looked up with ``command -v`` in the hooks' environment), write access
to ``path`` (or to its nearest existing parent before setup), free disk there, whether ``repo``
answers ``git ls-remote`` from the server (and has a tag, which a deploy without ``ref`` takes),
whether setup was done, the lock, and the monitor when ``app`` is set. The script takes no lock and changes nothing; cli/doctor.py reads its markers.
"""

from __future__ import annotations

import re
import shlex
from importlib.resources import files

from pushdeploy.config import keys
from pushdeploy.config.environment import Environment
from pushdeploy.remote import restart, scripts, service
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.source import Source

LIBRARY = files("pushdeploy.remote").joinpath("doctor.sh").read_text(encoding="utf-8")
q = shlex.quote
# The keys whose text runs as commands (pre-/post-setup where the config knows them).
HOOKS = ("pre-setup", "post-setup", "pre-deploy", "build", "post-deploy", "test", "restart")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "|&", ";;"}
NEXT_IS_COMMAND = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
NOT_A_COMMAND = {"for", "case", "select", "function", "in", "fi", "done", "esac", "}", "[[", "]]"}
WRAPPERS = {"sudo", "env", "exec", "nohup", "command", "nice", "xargs", "timeout"}
_TOOL = re.compile(r"^[A-Za-z0-9_+.,:@%/-]{1,100}$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
CHECK_TIMEOUT = 30  # seconds for git ls-remote, and for the monitor's status command


def commands_named(text: str) -> list[str]:
    """The commands a hook's shell text runs: the first word of each simple command, and the
    word after a wrapper (``sudo systemctl`` names both). Relative paths (``./bin/x``, files of
    the release) and words built at run time (``$X``) cannot be checked before a deploy."""
    found: list[str] = []
    lexer = shlex.shlex(
        text.replace("\\\n", " ").replace("\n", " ; "), posix=True, punctuation_chars=True
    )
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: bash will say so; look at the plain words
        tokens = text.replace("\n", " ; ").split()
    expect = True  # the next word is in command position
    for token in tokens:
        if token in SEPARATORS:
            expect = True
        elif not expect or token in NEXT_IS_COMMAND or token.startswith("-"):
            continue
        elif _ASSIGNMENT.match(token):
            continue  # NAME=value before the command
        elif token in NOT_A_COMMAND:
            expect = False
        else:
            checkable = _TOOL.match(token) and ("/" not in token or token.startswith("/"))
            if checkable and token not in found:
                found.append(token)
            expect = token in WRAPPERS
    return found


def tools(env: Environment) -> dict[str, list[str]]:
    """Every command the hooks name, with the keys that name it, in the config's order."""
    named: dict[str, list[str]] = {}
    for key in HOOKS:  # the restart strategy says whether its text is a command
        text = restart.of(env).command if key == "restart" else keys.value_of(env, key)
        if not text:
            continue
        for tool in commands_named(text):
            named.setdefault(tool, []).append(key)
    return dict(list(named.items())[:50])


def script(env: Environment, run: scripts.Run, source: Source) -> str:
    """The doctor's script for one host: markers only, no lock, no change on the server."""
    git = source.kind == "git"
    named = tools(env)
    body = [
        "step doctor",
        "doctor_shell",
        "doctor_git" if git else "doctor_artifact",
        *(["doctor_tools " + " ".join(q(name) for name in named)] if named else []),
        "doctor_path",
        "doctor_agent",
        *([f"doctor_repo {CHECK_TIMEOUT}"] if git else []),
        "doctor_state",
        *(["doctor_health"] if env.restart.health else []),
    ]
    if env.monitor.app:
        zipapp = qpath(Layout(env.path).monitor_zipapp)
        status = service.monitor_command(env, "status", [])
        body.append(f"doctor_monitor {CHECK_TIMEOUT} {zipapp} {status}")
    return scripts.wrap(env, run, body, user=True, source=source, libraries=[LIBRARY])
