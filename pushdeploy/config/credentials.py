"""The repo-token of a private git repository over HTTPS: where it is read, and how git gets it.

Pure (no I/O). ``repo-token = $NAME`` (or ``${NAME}``) names a variable of the LOCAL environment,
or, when it is not set there, of the secrets-file; ``token`` returns its value. The token itself
is never written in deploy.conf: any other value is refused without being echoed.

On the server the token reaches git through ``git_auth ARGS...`` (sources/credentials.sh), which
runs ``git ARGS...`` with a credential helper for that one command. The script's header (see
``header``) sets, NOT exported: ``REPO_TOKEN``, ``REPO_TOKEN_SCOPE`` (``https://host[:port]`` of
``repo``), and what the helper needs: its text ``HELPER`` and the names it reads. The script
travels on stdin, so none is ever in argv. ``git_auth`` hands the token to git in the environment
variable ``PUSHDEPLOY_REPO_TOKEN`` of that one git process; the ``-c credential.helper=...`` text
holds only that name, so ``ps`` shows no token, ``git -c`` (unlike ``git clone -c``) writes nothing
into the mirror's config, and no file is written. The helper answers only ``get``, and only for
``protocol://host`` equal to the scope: git re-asks the helpers after a redirect, and without that
check a repository that redirects to another host would be handed the token (a test shows it). It
prints ``username=x-access-token`` (GitHub's; GitLab and Gitea take any user with a token as
password) unless git passes in a user from the repo URL, which is then kept. watch/looks.py gives
the same helper to git on this machine.

Decisions on the settings around the helper:

* ``-c credential.helper=`` (empty) comes first: it empties the helper list of every config file,
  ``credential.<url>.helper`` ones included, so a ``store`` or ``cache`` helper of the server
  user's ~/.gitconfig never saves the token, and no desktop helper is asked.
* ``GIT_TERMINAL_PROMPT=0`` and ``GIT_ASKPASS=false``: git never prompts. ``GIT_ASKPASS`` wins
  over ``core.askPass`` and ``SSH_ASKPASS``, and ``false`` fails at once, so a wrong token or a
  host out of scope ends in git's own error ("Authentication failed", "terminal prompts
  disabled") instead of a hang; the caller prints it. stdin is /dev/null: the script itself
  arrives on stdin and no git command may read it.
* ``GIT_TRACE_REDACT=1``: a ``GIT_CURL_VERBOSE``/``GIT_TRACE_CURL`` left in the server's
  environment still prints ``Authorization: Basic <redacted>``.
* ``credential.useHttpPath`` is left alone: it only decides whether git passes ``path=`` to the
  helpers, which ours ignores (the token is for the host, as the scope is).
* ``GIT_CONFIG_NOSYSTEM`` is not set: /etc/gitconfig may hold what this server needs to reach the
  repository (``http.proxy``, ``http.sslCAInfo`` for an in-house CA), and its credential helpers
  are emptied like any other.

The token is in the environment of that git process and its children (git-remote-https, the
helper), readable in /proc only by the same user and root, who can read the script's memory
anyway. ``scope`` refuses plain ``http://`` except on loopback, so the token never crosses a
network in clear text, and a repo URL with a password in it (git would send that instead).
"""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Mapping

from pushdeploy.config.values import variable_reference
from pushdeploy.errors import ConfigError

KEY = "repo-token"
USERNAME = "x-access-token"  # GitHub's user for a token; GitLab and Gitea accept any user
ENV_TOKEN = "PUSHDEPLOY_REPO_TOKEN"  # the helper's environment variable (git's process only)
ENV_SCOPE = "PUSHDEPLOY_REPO_SCOPE"
LOOPBACK = {"localhost", "127.0.0.1", "::1"}

_HINT = (
    f"write '{KEY} = $NAME' and set NAME in your environment (export NAME=...) or in secrets-file;"
    " the token itself never goes in deploy.conf"
)


def token(value: str, environ: Mapping[str, str], secrets: Mapping[str, str]) -> str:
    """The token ``value`` (``$NAME`` or ``${NAME}``) names: from ``environ``, else ``secrets``.

    Raises ``ConfigError`` for a value that names no variable, a name set in neither, an empty
    token, or one git's credential protocol cannot carry (a line break, a control character).
    No message contains the value or the token: they name the variable.
    """
    try:
        name = variable_reference(value)
    except ValueError:
        raise ConfigError(
            f"{KEY}: expected $NAME, the name of an environment variable", _HINT
        ) from None
    found = environ.get(name)
    if found is None:
        found = secrets.get(name)
    if found is None:
        raise ConfigError(f"{KEY}: ${name} is not set in your environment or secrets-file", _HINT)
    if not found:
        raise ConfigError(f"{KEY}: ${name} is empty", _HINT)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in found):
        raise ConfigError(
            f"{KEY}: ${name} holds a line break or control character",
            "set the token alone, without a trailing newline",
        )
    return found


def scope(repo: str) -> str:
    """``protocol://host[:port]`` of ``repo``, as git names it to credential helpers.

    Raises ``ConfigError`` unless ``repo`` is an ``https://`` URL (or ``http://`` on loopback) with
    no password in it.
    """
    parts = urllib.parse.urlsplit(repo)
    protocol = parts.scheme.lower()
    if protocol not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"{KEY} needs an https:// repo", "use the repository's https:// clone URL as repo"
        )
    if protocol == "http" and parts.hostname not in LOOPBACK:
        raise ConfigError(
            f"{KEY} with an http:// repo would send the token in clear text",
            "use the repository's https:// clone URL as repo",
        )
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        raise ConfigError(
            f"{KEY} with a password in repo: git would send that password instead",
            "remove the password from repo (a user name may stay)",
        )
    return f"{protocol}://{host}"


def header(token: str, repo: str) -> str:
    """The script-header lines ``git_auth`` reads (not exported); no lines without a token.

    They hold the token: the script they go in must travel on stdin, and be masked when shown.
    """
    if not token:
        return ""
    values = {"REPO_TOKEN": token, "REPO_TOKEN_SCOPE": scope(repo), "REPO_TOKEN_HELPER": HELPER}
    values |= {"REPO_TOKEN_ENV": ENV_TOKEN, "REPO_TOKEN_SCOPE_ENV": ENV_SCOPE}
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


# git runs a "!..." helper with sh (dash on Debian), appending the action: POSIX sh only. The loop
# ends at EOF: git closes the pipe. It reaches the servers as a header value (``header``).
HELPER = (
    '!f() { test "$1" = get || exit 0; user= protocol= host=;'
    " while IFS= read -r line; do case $line in"
    " username=*) user=1;; protocol=*) protocol=${line#protocol=};; host=*) host=${line#host=};;"
    " esac; done;"
    f' test -n "${ENV_SCOPE}" && test "$protocol://$host" = "${ENV_SCOPE}" || exit 0;'
    f' test -n "$user" || echo username={USERNAME};'
    f' printf "password=%s\\n" "${ENV_TOKEN}"; }}; f'
)
