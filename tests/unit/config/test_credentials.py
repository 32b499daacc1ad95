"""The repo-token: read from a named variable only, and given to real git by ``git_auth`` alone.

``token`` and ``scope`` are checked with tables. ``git_auth`` (sources/credentials.sh) runs in a
real bash, with the script on stdin as on a server, against a real smart-HTTP git server on
127.0.0.1 (tests/support/githttp.py) that wants the token as a Basic-auth password. Each test has
a token of its own, so a leak cannot hide behind a coincidence; a ``git`` shim first on PATH logs
every git command line. Two controls run a weakened ``git_auth`` to show the checks can fail.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushdeploy.config import credentials
from pushdeploy.errors import ConfigError
from pushdeploy.sources.git import CREDENTIALS as SHELL
from tests.support.githttp import GitHTTPServer, serve
from tests.support.gitrepo import Origin

BOUND = 15  # seconds: a failing git_auth ends well within this (no prompt, no hang)


def unique() -> str:
    return "ghp_" + uuid.uuid4().hex


# --- token() and scope() -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "secrets", "expected"),
    [
        ("$GH_TOKEN", {"GH_TOKEN": "from-env"}, {}, "from-env"),
        ("${GH_TOKEN}", {"GH_TOKEN": "from-env"}, {}, "from-env"),
        (" $GH_TOKEN ", {"GH_TOKEN": "from-env"}, {}, "from-env"),
        ("$GH_TOKEN", {}, {"GH_TOKEN": "from-secrets"}, "from-secrets"),
        ("$GH_TOKEN", {"GH_TOKEN": "from-env"}, {"GH_TOKEN": "from-secrets"}, "from-env"),
        ("$_t0", {"_t0": "x"}, {}, "x"),
    ],
)  # fmt: skip
def test_the_token_comes_from_the_named_variable_then_the_secrets_file(
    value: str, environ: dict[str, str], secrets: dict[str, str], expected: str
) -> None:
    assert expected == credentials.token(value, environ, secrets)


@pytest.mark.parametrize(
    ("value", "environ", "message"),
    [
        ("{secret}", {}, "repo-token: expected $NAME, the name of an environment variable"),
        ("${secret}", {}, "repo-token: expected $NAME, the name of an environment variable"),
        ("$GH_TOKEN{secret}", {"GH_TOKEN": "x"}, "repo-token: expected $NAME, the name of an environment variable"),
        ("$", {}, "repo-token: expected $NAME, the name of an environment variable"),
        ("${GH_TOKEN", {}, "repo-token: expected $NAME, the name of an environment variable"),
        ("$1", {}, "repo-token: expected $NAME, the name of an environment variable"),
        ("$GH_TOKEN", {}, "repo-token: $GH_TOKEN is not set in your environment or secrets-file"),
        ("${GH_TOKEN}", {"GH_TOKEN": ""}, "repo-token: $GH_TOKEN is empty"),
        ("$GH_TOKEN", {"GH_TOKEN": "{secret}\n"}, "repo-token: $GH_TOKEN holds a line break or control character"),
    ],
)  # fmt: skip
def test_the_token_is_refused_in_words_that_never_contain_it(
    value: str, environ: dict[str, str], message: str
) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex  # a "-": no variable name can hold it
    value = value.replace("{secret}", secret)
    environ = {name: text.replace("{secret}", secret) for name, text in environ.items()}
    with pytest.raises(ConfigError) as info:
        credentials.token(value, environ, {})
    assert (message, False, False) == (
        info.value.message,
        secret in info.value.message,
        secret in info.value.hint,
    )


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("https://github.com/me/app.git", "https://github.com"),
        ("HTTPS://git.example.com:8443/app", "https://git.example.com:8443"),
        ("https://deploy@gitlab.example.com/app.git", "https://gitlab.example.com"),
        ("http://127.0.0.1:3000/app.git", "http://127.0.0.1:3000"),
        ("http://localhost/app.git", "http://localhost"),
    ],
)
def test_the_scope_is_the_protocol_and_host_git_names_to_helpers(repo: str, expected: str) -> None:
    assert expected == credentials.scope(repo)


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ("git@github.com:me/app.git", "repo-token needs an https:// repo"),
        ("ssh://git@github.com/me/app.git", "repo-token needs an https:// repo"),
        ("/srv/git/app.git", "repo-token needs an https:// repo"),
        ("http://git.example.com/app.git", "repo-token with an http:// repo would send the token in clear text"),
        ("https://me:pw@github.com/app.git", "repo-token with a password in repo: git would send that password instead"),
    ],
)  # fmt: skip
def test_the_scope_refuses_repos_the_token_cannot_safely_go_to(repo: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        credentials.scope(repo)
    assert message == info.value.message


def test_no_header_without_a_token() -> None:
    assert credentials.header("", "https://github.com/me/app.git") == ""


def test_the_header_sets_the_variables_quoted_and_not_exported() -> None:
    secret = unique() + " it's $(true)"
    script = credentials.header(secret, "https://github.com/me/app.git")
    script += (
        'printf "%s\\n%s\\n" "$REPO_TOKEN" "$REPO_TOKEN_SCOPE"; export -p | grep -c REPO_TOKEN\n'
    )
    done = subprocess.run(["bash"], input=script, capture_output=True, text=True, timeout=30)
    assert f"{secret}\nhttps://github.com\n0\n" == done.stdout


# --- git_auth against a real server ------------------------------------------------------------


class Site:
    """A bare repository ``app.git`` served over HTTP, its work tree, and a shim-logged ``git``."""

    def __init__(self, tmp_path: Path, server: GitHTTPServer, origin: Origin) -> None:
        self.tmp, self.server, self.origin = tmp_path, server, origin
        self.mirror = tmp_path / "mirror"
        self.shim_log = tmp_path / "git-command-lines"
        shim = tmp_path / "shim"
        shim.mkdir()
        real = shutil.which("git")
        (shim / "git").write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >>{shlex.quote(str(self.shim_log))}\n'
            f'exec {shlex.quote(str(real))} "$@"\n'
        )
        (shim / "git").chmod(0o755)
        self.path = f"{shim}{os.pathsep}{os.environ['PATH']}"

    def push(self, files: dict[str, str]) -> str:
        sha = self.origin.commit(files)
        self.origin.git("push", "-q", str(self.server.root / "app.git"), "main")
        return sha

    def git_auth(
        self,
        token: str,
        *commands: str,
        url: str | None = None,
        shell: str = SHELL,
        env: dict[str, str] | None = None,
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        """Run ``commands`` after ``shell`` and the header, as bash reads a script from stdin."""
        url = url or self.server.url("app.git")
        header = credentials.header(token, url) if token else "REPO_TOKEN=\n"
        script = f"set -u -o pipefail\n{shell}{header}URL={shlex.quote(url)}\n"
        script += "".join(f"{command}\n" for command in commands)
        started = time.monotonic()
        done = subprocess.run(
            ["bash"],
            input=script,
            capture_output=True,
            text=True,
            timeout=BOUND * 4,
            cwd=self.tmp,
            start_new_session=True,  # no controlling terminal: a prompt could not wait on it
            env={**os.environ, "PATH": self.path, **(env or {})},
        )
        return done, time.monotonic() - started

    def clone(
        self,
        token: str,
        url: str | None = None,
        shell: str = SHELL,
        env: dict[str, str] | None = None,
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        command = f'git_auth clone --mirror --quiet -- "$URL" {shlex.quote(str(self.mirror))}'
        return self.git_auth(token, command, url=url, shell=shell, env=env)


@pytest.fixture
def token() -> str:
    return unique()


@pytest.fixture
def site(tmp_path: Path, token: str) -> Iterator[Site]:
    root = tmp_path / "served"
    origin = Origin(tmp_path / "origin")
    origin.commit({"app.txt": "one\n"}, "first")
    subprocess.run(["git", "init", "-q", "--bare", str(root / "app.git")], check=True, timeout=30)
    with serve(root, token) as server:
        built = Site(tmp_path, server, origin)
        built.push({"app.txt": "two\n"})
        yield built


def mirror_head(site: Site) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(site.mirror), "rev-parse", "refs/heads/main"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout.strip()


def test_the_right_token_clones_a_mirror_and_fetches_into_it(site: Site, token: str) -> None:
    cloned, _ = site.clone(token)
    sha = site.push({"app.txt": "three\n"})
    fetched, _ = site.git_auth(
        token, f"git_auth --git-dir={shlex.quote(str(site.mirror))} fetch --prune --quiet origin"
    )
    users = {request.user for request in site.server.authorized()}
    assert (0, 0, sha, {"x-access-token"}) == (
        cloned.returncode, fetched.returncode, mirror_head(site), users
    )  # fmt: skip


def test_a_user_named_in_the_repo_url_is_kept(site: Site, token: str) -> None:
    done, _ = site.clone(token, url=site.server.url("app.git", user="deploy"))
    users = {request.user for request in site.server.authorized()}
    assert (0, {"deploy"}) == (done.returncode, users)


def askpass_trap(site: Site, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """An askpass program that leaves a mark, set every way git could find one."""
    mark = site.tmp / "asked"
    program = site.tmp / "askpass"
    program.write_text(f"#!/bin/sh\necho asked >>{shlex.quote(str(mark))}\necho guess\n")
    program.chmod(0o755)
    subprocess.run(["git", "config", "--global", "core.askPass", str(program)], check=True)
    env = {"SSH_ASKPASS": str(program), "SSH_ASKPASS_REQUIRE": "force"}
    monkeypatch.delenv("GIT_TERMINAL_PROMPT", raising=False)  # git_auth must set it itself
    return mark, env


def test_a_wrong_token_fails_fast_with_gits_error_and_no_prompt(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark, env = askpass_trap(site, monkeypatch)
    done, elapsed = site.clone(unique(), env=env)
    assert (
        done.returncode != 0,
        "Authentication failed" in done.stderr,
        mark.exists(),
        elapsed < BOUND,
    ) == (True, True, False, True), done.stderr


def test_an_empty_token_runs_plain_git_which_the_server_refuses(site: Site) -> None:
    done, _ = site.clone("")
    command_lines = site.shim_log.read_text().splitlines()
    sent = [request.authorization for request in site.server.requests]
    assert (True, [f"clone --mirror --quiet -- {site.server.url('app.git')} {site.mirror}"]) == (
        done.returncode != 0, command_lines
    )  # fmt: skip
    assert sent == [None]


def test_a_token_without_a_scope_is_refused_before_git_runs(site: Site, token: str) -> None:
    done, _ = site.git_auth("", f"REPO_TOKEN={token}", "git_auth ls-remote origin")
    assert (
        done.returncode, done.stderr, site.shim_log.exists()
    ) == (2, "git_auth: REPO_TOKEN is set but REPO_TOKEN_SCOPE is not\n", False)  # fmt: skip


@pytest.mark.parametrize("with_token", [True, False])
def test_git_auth_leaves_the_rest_of_the_script_on_stdin_alone(
    site: Site, token: str, with_token: bool
) -> None:
    """The script arrives on stdin: a git command that reads stdin must not swallow it."""
    done, _ = site.git_auth(
        token if with_token else "", "git_auth hash-object --stdin", "echo after"
    )
    empty_blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert done.stdout == f"{empty_blob}\nafter\n"


def redirected_clone(
    site: Site, token: str, shell: str = SHELL, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float, list[str | None]]:
    """Clone from a repo URL that redirects to ``site`` (another host:port for git's helpers);
    also the passwords ``site`` was sent."""
    with serve(site.tmp / "nothing", "unused", redirect_to=site.server.base) as redirector:
        done, elapsed = site.clone(token, url=redirector.url("app.git"), shell=shell, env=env)
    return done, elapsed, [request.password for request in site.server.requests]


def test_a_host_the_repo_redirects_to_is_not_given_the_token(
    site: Site, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark, env = askpass_trap(site, monkeypatch)
    done, elapsed, sent = redirected_clone(site, token, env=env)
    assert (
        done.returncode != 0, sent, mark.exists(), elapsed < BOUND
    ) == (True, [None], False, True)  # fmt: skip


def test_control_without_the_scope_check_the_redirect_target_gets_the_token(
    site: Site, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git asks the helpers again after a redirect: the scope check is what keeps the token."""
    check = 'test "$protocol://$host" = "$PUSHDEPLOY_REPO_SCOPE"'
    assert check in credentials.HELPER
    monkeypatch.setattr(credentials, "HELPER", credentials.HELPER.replace(check, "true"))
    _, _, sent = redirected_clone(site, token)
    assert token in sent


def leaks(token: str, user: str = credentials.USERNAME) -> list[bytes]:
    """The forms a token travels in: itself, and inside a Basic-auth header."""
    basic = base64.b64encode(f"{user}:{token}".encode())
    return [token.encode(), basic]


def files_holding(root: Path, token: str) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and any(form in path.read_bytes() for form in leaks(token))
    )


def store_everything(home: Path, site: Site) -> None:
    """A ~/.gitconfig that saves every credential git is given, also by a helper for the URL."""
    with (home / ".gitconfig").open("a") as gitconfig:
        gitconfig.write(f'[credential]\n\thelper = store\n[credential "{site.server.base}"]\n')
        gitconfig.write(f"\thelper = store --file {home / 'url-credentials'}\n")


def test_the_token_is_in_no_file_output_or_command_line(
    site: Site, token: str, hermetic_env: Path
) -> None:
    store_everything(hermetic_env, site)
    trace = {"GIT_TRACE": "1", "GIT_CURL_VERBOSE": "1", "GIT_TRACE_REDACT": "0"}
    cloned, _ = site.clone(token, env=trace)
    fetched, _ = site.git_auth(
        token, f"git_auth --git-dir={shlex.quote(str(site.mirror))} fetch origin", env=trace
    )
    outputs = [cloned.stdout, cloned.stderr, fetched.stdout, fetched.stderr]
    assert (
        cloned.returncode,
        fetched.returncode,
        "Authorization:" in cloned.stderr,
    ) == (0, 0, True)
    assert [f for f in leaks(token) if any(f in o.encode() for o in outputs)] == []
    assert files_holding(site.mirror, token) == []
    assert files_holding(hermetic_env, token) == []
    assert files_holding(site.shim_log.parent, token) == []  # git's command lines
    assert token not in SHELL


def test_control_without_the_reset_a_store_helper_saves_the_token(
    site: Site, token: str, hermetic_env: Path
) -> None:
    """The first, empty ``credential.helper=`` is what keeps ~/.git-credentials empty."""
    store_everything(hermetic_env, site)
    reset = "-c credential.helper= -c"
    assert reset in SHELL
    done, _ = site.clone(token, shell=SHELL.replace(reset, "-c"))
    assert (
        done.returncode, files_holding(hermetic_env, token)
    ) == (0, [".git-credentials", "url-credentials"])  # fmt: skip
