"""Secrets stay secret: which names are secret, URL passwords, masking, dotenv, and every output.

Pure functions are checked with tables; the outputs (config, systemd, the scripts --dry-run
prints, the console) through the same code the command line runs, with a unique value each
time so that a leak cannot hide behind a coincidence. Scripts that must leave a file with the
right mode run with the local bash in ``tmp_path``.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from pushdeploy import sources
from pushdeploy.config import deployconf as config
from pushdeploy.config import secrets
from pushdeploy.config.environment import Environment
from pushdeploy.console import Console
from pushdeploy.remote import scripts, service
from pushdeploy.remote import shell as remote_shell
from tests.support.cli import run_cli

RUN = scripts.Run(token="t0k3n", owner="me@laptop", who="me@laptop", stamp="20240102T030405Z")


def unique() -> str:
    return "s3cr3t-" + uuid.uuid4().hex


def environment(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> Environment:
    conf = tmp_path / "deploy.conf"
    conf.write_text(f"[app]\nhost = local\npath = {tmp_path}/root\n{body}", encoding="utf-8")
    return config.load(conf, "app", environ=environ or {})


# --- names and URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True), ("passwd", True), ("SECRET_KEY_BASE", True), ("GITHUB_TOKEN", True),
        ("api_key", True), ("AWS_CREDENTIALS", True), ("PRIVATE_PEM", True), ("BASIC_AUTH", True),
        ("GITHUB_PAT", True), ("PAT", True), ("pat_for_ci", True), ("SECRET_ENABLED", True),
        ("PATH", False), ("PYTHONPATH", False), ("PATTERN", False), ("DISPATCH_MODE", False),
        ("NODE_ENV", False), ("PORT", False),
    ],
)  # fmt: skip
def test_secret_names_hold_a_secret_word_or_pat_as_a_word(name: str, secret: bool) -> None:
    assert secret == secrets.is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://u:pw@db/app", "postgres://u:***@db/app"),
        ("https://TOKEN@host/x.git", "https://***@host/x.git"),
        ("https://deploy:s3cret@git.example.com/app.git", "https://deploy:***@git.example.com/app.git"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mysql://u:p@ss@db/app", "mysql://u:***@db/app"),
        ("a http://x:1@h b https://t@g c", "a http://x:***@h b https://***@g c"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("ssh://git@host:22/app.git", "ssh://git@host:22/app.git"),
        ("postgres://app@db/app", "postgres://app@db/app"),
        ("https://github.com/a/b.git", "https://github.com/a/b.git"),
        ("mail me@example.com", "mail me@example.com"),
    ],
)  # fmt: skip
def test_urls_lose_their_passwords_and_https_tokens(text: str, expected: str) -> None:
    assert expected == secrets.redact_urls(text)


def test_url_secrets_are_what_redaction_hides() -> None:
    text = "postgres://u:pw1@db https://tok2@git ssh://git@h git@h:x"
    assert secrets.url_secrets(text) == ["pw1", "tok2"]


# --- $NAME expansion ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "pieces"),
    [
        ("$A", "1", ["1"]),
        ("${A}x", "1x", ["1"]),
        ("$A$B", "1two", ["1", "two"]),
        ("pa$$word", "pa$word", []),
        ("$$A", "$A", []),
        ("u:${B}@db", "u:two@db", ["two"]),
        ("$EMPTY", "", [""]),
        ("$(id) 5$ $1 a$-b $", "$(id) 5$ $1 a$-b $", []),
    ],
)
def test_expand_takes_values_from_the_local_environment(
    value: str, expected: str, pieces: list[str]
) -> None:
    assert (expected, pieces) == secrets.expand(value, {"A": "1", "B": "two", "EMPTY": ""})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$NOPE", "$NOPE is not set in your environment"),
        ("${NOPE}", "$NOPE is not set in your environment"),
        ("${A", "'${' must be followed by NAME} (write $$ for a literal $)"),
        ("${1}", "'${' must be followed by NAME} (write $$ for a literal $)"),
        ("${A:-x}", "'${' must be followed by NAME} (write $$ for a literal $)"),
    ],
)
def test_expand_refuses_unset_names_and_other_braces(value: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        secrets.expand(value, {"A": "1"})
    assert message == str(info.value)


# --- masking -----------------------------------------------------------------------------------


def test_the_masker_hides_known_values_of_six_characters_or_more() -> None:
    mask = secrets.Masker(["hunter22", "1", "yes", "a longer hunter22 value"])
    expected = "a=*** b=1 c=yes d=***"
    assert expected == mask("a=hunter22 b=1 c=yes d=a longer hunter22 value")


def test_the_masker_hides_each_line_of_a_multi_line_value_and_its_quoted_form() -> None:
    mask = secrets.Masker(["-----BEGIN KEY-----\nMIIEvQIBADAN\n-----END KEY-----", "it's s3cret"])
    assert mask("line MIIEvQIBADAN here") == "line *** here"
    assert mask("echo 'it'\"'\"'s s3cret'") == "echo ***"


def test_an_empty_masker_changes_nothing() -> None:
    assert not secrets.Masker()
    assert secrets.Masker()("x") == "x"


def test_the_console_masks_everything_it_prints_but_raw(tmp_path: Path) -> None:
    secret = unique()
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, verbosity=2)
    console.mask([secret])
    console.step("host", f"build {secret}")
    console.warn(f"warn {secret}")
    console.remote_output("host", f"output {secret}")
    console.error(f"error {secret}", f"hint {secret}", [f"detail {secret}"])
    console.result(f"result {secret}")
    console.table(["a"], [[secret]])
    console.debug(f"debug {secret}")
    assert secret not in out.getvalue() + err.getvalue()
    assert err.getvalue().count("***") == 7
    console.raw(f"exec output {secret}")  # exact, as ssh would pass it on
    assert out.getvalue().endswith(f"exec output {secret}\n")


# --- redacted environments and the values to mask ----------------------------------------------


def test_redacted_hides_secret_env_values_url_passwords_and_outside_values(tmp_path: Path) -> None:
    token, password, local = unique(), unique(), unique()
    env = environment(
        tmp_path,
        f"repo = https://{token}@git.example.com/app.git\n"
        f"env = DB_PASSWORD={password} DATABASE_URL=postgres://app:{password}@db/app"
        f" FROM_HERE=$LOCAL MODE=fast\n"
        f"build = curl -u x https://bot:{password}@files.example.com/a\n",
        {"LOCAL": local},
    )
    shown = secrets.redacted(env)
    assert shown.source.repo == "https://***@git.example.com/app.git"
    assert dict(shown.env) == {
        "DB_PASSWORD": "***",
        "DATABASE_URL": "postgres://app:***@db/app",
        "FROM_HERE": "***",
        "MODE": "fast",
    }
    assert shown.hooks.build == "curl -u x https://bot:***@files.example.com/a"
    every = [
        scripts.setup(shown, RUN, source=sources.of(shown)),
        scripts.deploy(shown, RUN, "main", source=sources.of(shown)),
    ]
    every.append(remote_shell.exec_script(shown, ["env"]))
    every.append(remote_shell.console_prepare(shown, RUN.token))
    for text in every:
        assert token not in text and password not in text and local not in text


def test_redacted_hides_the_repo_token_and_artifact_url_passwords(tmp_path: Path) -> None:
    token, password = unique(), unique()
    env = environment(
        tmp_path,
        "repo = https://git.example.com/app.git\nrepo-token = $GIT_TOKEN\n"
        f"artifact = https://ci:{password}@files.example.com/app.tar.gz\n",
        {"GIT_TOKEN": token},
    )
    shown = secrets.redacted(env)
    assert (
        shown.source.repo_token,
        shown.source.artifact,
    ) == ("***", "https://ci:***@files.example.com/app.tar.gz")
    text = scripts.setup(shown, RUN, source=sources.of(shown)) + scripts.deploy(
        shown, RUN, "main", source=sources.of(shown)
    )
    assert token not in text and password not in text
    assert {token, password} <= set(secrets.mask_values(env))


def test_mask_values_are_secret_values_outside_values_and_url_passwords(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        "repo = https://repotoken1@git.example.com/app.git\n"
        "env = API_TOKEN=token-value-2 URL=postgres://u:dbpassword3@db/x PLAIN=visible\n"
        "  FROM_HERE=$LOCAL\n",
        {"LOCAL": "local-value-4"},
    )
    values = set(secrets.mask_values(env))
    assert {"repotoken1", "token-value-2", "dbpassword3", "local-value-4"} <= values
    assert "visible" not in values


# --- dotenv ------------------------------------------------------------------------------------

DOTENV = """\
# a comment
export A=1
B = two words  # a comment
C='single $x # kept'

D="escapes: \\n \\" \\\\ \\$ \\q"
E="two
lines"
F=
G=a#b
  H=indented
"""


def test_dotenv_reads_assignments_exports_comments_and_quotes() -> None:
    assert secrets.parse_dotenv(DOTENV) == [
        ("A", "1"),
        ("B", "two words"),
        ("C", "single $x # kept"),
        ("D", 'escapes: \n " \\ $ \\q'),
        ("E", "two\nlines"),
        ("F", ""),
        ("G", "a#b"),
        ("H", "indented"),
    ]


def test_dotenv_reads_windows_line_ends() -> None:
    assert secrets.parse_dotenv("A=1\r\nB='x'\r\n") == [("A", "1"), ("B", "x")]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nnot an assignment s3cret\n", 2, "expected NAME=value or export NAME=value"),
        ("A=1\nB='s3cret\n", 2, "the value of B has no closing '"),
        ('A="s3cret', 1, 'the value of A has no closing "'),
        ("A='s3cret' more\n", 1, "unexpected text after the quoted value of A"),
        ("1A=s3cret\n", 1, "expected NAME=value or export NAME=value"),
        ("A=s3\0cret\n", 1, "contains a NUL byte"),
    ],
)
def test_dotenv_errors_name_the_line_never_the_value(text: str, line: int, message: str) -> None:
    with pytest.raises(secrets.DotenvError) as info:
        secrets.parse_dotenv(text)
    assert (line, message) == (info.value.line, str(info.value))


# --- the outputs: config, systemd, monitor.json, console --------------------------------------


def test_config_shows_references_and_hides_values(tmp_path: Path) -> None:
    secret = unique()
    (tmp_path / "deploy.conf").write_text(
        f"[app]\nhost = local\nrepo = https://bot:{secret}@git.example.com/r.git\npath = /srv\n"
        f"env = API_KEY={secret} DB=postgres://u:{secret}@db/x GITHUB_PAT={secret} PATH=/bin\n"
    )
    result = run_cli("-C", tmp_path, "app", "config")
    assert result.status == 0
    assert secret not in result.stdout + result.stderr
    assert "repo = https://bot:***@git.example.com/r.git\n" in result.stdout
    assert (
        "env = API_KEY=*** DB='postgres://u:***@db/x' GITHUB_PAT=*** PATH=/bin\n" in result.stdout
    )
    one = run_cli("-C", tmp_path, "app", "config", "env")
    assert "API_KEY=***" in one.stdout and secret not in one.stdout


def test_systemd_output_keeps_the_env_out_of_the_units(tmp_path: Path) -> None:
    secret = unique()
    (tmp_path / "deploy.conf").write_text(
        f"[app]\nhost = local\nrepo = /r\npath = /srv/app\napp = python3 app.py\n"
        f"listen = 127.0.0.1:8000\nenv = MODE=fast API_TOKEN={secret} OTHER=$LOCAL_X\n"
    )
    os.environ["LOCAL_X"] = secret + "-local"
    try:
        result = run_cli("-C", tmp_path, "app", "systemd", "--socket")
    finally:
        del os.environ["LOCAL_X"]
    assert result.status == 0, result.stderr
    assert secret not in result.stdout
    assert "EnvironmentFile=/srv/app/.pushdeploy/pushdeploy-app.env\n" in result.stdout
    assert 'API_TOKEN="***"\nMODE="fast"\nOTHER="***"\n' in result.stdout


def test_a_section_that_is_no_unit_name_is_a_config_error_for_systemd(tmp_path: Path) -> None:
    (tmp_path / "deploy.conf").write_text(
        "[my app]\nhost = local\nrepo = /r\npath = /srv/app\napp = a\nlisten = 127.0.0.1:1\n"
    )
    result = run_cli("-C", tmp_path, "my app", "systemd")
    assert (result.status, len(result.error_lines)) == (3, 1)
    assert "unit name" in result.error_lines[0]


def run_bash(text: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    prelude = 'fail() { echo "fail $*" >&2; exit 1; }\nset -u\numask 022\n'
    return subprocess.run(
        ["bash", "-s"], input=prelude + text, cwd=cwd, capture_output=True, text=True, timeout=30
    )


def test_monitor_json_is_written_with_mode_0600_even_over_a_wider_leftover(tmp_path: Path) -> None:
    secret = unique()
    env = environment(tmp_path, f"repo = /r\napp = a\nlisten = 127.0.0.1:1\nenv = K={secret}\n")
    state = tmp_path / "root" / ".pushdeploy"
    state.mkdir(parents=True)
    (state / "monitor.json.tmp").write_text("old")
    (state / "monitor.json.tmp").chmod(0o644)
    done = run_bash(service.LIBRARY + service.write_settings_step(env), tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((state / "monitor.json").stat().st_mode) == 0o600
    assert secret in (state / "monitor.json").read_text()


def test_the_systemd_env_file_is_written_with_mode_0600(tmp_path: Path) -> None:
    env = environment(tmp_path, "repo = /r\napp = a\nlisten = 127.0.0.1:1\nenv = K='a \"b\"'\n")
    env_file = service.environment_file(env)
    assert env_file is not None
    steps = service.install_unit_steps({}, env_file)
    done = run_bash(service.LIBRARY + steps[1], tmp_path)  # the env file's step, not systemctl
    assert done.returncode == 0, done.stderr
    path = Path(env_file[0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().endswith('K="a \\"b\\""\n')


def test_console_puts_only_a_path_on_the_command_line(tmp_path: Path) -> None:
    """The env goes to a 0600 file (sent on stdin); the shell sources it and it deletes itself."""
    secret = unique()
    env = environment(tmp_path, f"repo = /r\nenv = K='{secret} x' A=1\n")
    root = tmp_path / "root"
    (root / "releases" / "r1").mkdir(parents=True)
    (root / "releases" / "r1" / "REVISION").write_text("abc\n")
    (root / "current").symlink_to("releases/r1")
    command = remote_shell.console_command(env, RUN.token)
    assert secret not in command
    prepared = run_bash(remote_shell.console_prepare(env, RUN.token), tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    env_file = Path(remote_shell.console_file(env, RUN.token))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    shell = command.replace('exec "${SHELL:-bash}" -i', 'echo "$K|$A|$REVISION|$PWD"')
    opened = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=30)
    assert opened.stdout == f"{secret} x|1|abc|{root}/current\n", opened.stderr
    assert not env_file.exists()


def test_console_without_a_live_release_says_so(tmp_path: Path) -> None:
    env = environment(tmp_path, "repo = /r\nenv = K=v\n")
    done = run_bash(remote_shell.console_prepare(env, RUN.token), tmp_path)
    assert done.returncode == 127
    assert "no current release; deploy first" in done.stderr
